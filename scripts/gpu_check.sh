#!/usr/bin/env bash
# The first thing to run on a GPU machine (needs no network; a few minutes on an H100/H200, most of
# it torch.compile's one-off compilation):
#   bash scripts/gpu_check.sh [OUTPUT_DIR]
# Prints machine facts, then per case tokens/s, TPOT against its roofline limit, W and J/token from
# both NVML sources, and peak memory: first with the compiled decode path (configs/gpu-8b.yaml), then
# with the eager loop (configs/gpu-8b-eager.yaml; GPU_CHECK_EAGER=0 skips it), then both side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
OUT_DIR=${1:-results}
mkdir -p "$OUT_DIR"
"$PY" run_bench.py sysinfo
status=0
"$PY" run_bench.py gpu-check --config "${GPU_CHECK_CONFIG:-configs/gpu-8b.yaml}" --output-dir "$OUT_DIR" \
  | tee "$OUT_DIR/.gpu_check_compiled.log" || status=$?
if [ "${GPU_CHECK_EAGER:-1}" != 0 ]; then
  "$PY" run_bench.py gpu-check --config "${GPU_CHECK_EAGER_CONFIG:-configs/gpu-8b-eager.yaml}" --output-dir "$OUT_DIR" \
    | tee "$OUT_DIR/.gpu_check_eager.log" || status=$?
  runs=$(sed -n 's/^results: //p' "$OUT_DIR/.gpu_check_compiled.log" "$OUT_DIR/.gpu_check_eager.log")
  # shellcheck disable=SC2086
  [ -n "$runs" ] && "$PY" run_bench.py compare $runs --format table
fi
exit $status
