#!/usr/bin/env bash
# The first thing to run on an Ascend NPU server (Atlas 800 / 910B, 910C); needs no network.
#   bash scripts/npu_check.sh [OUTPUT_DIR]
# Needs CANN sourced (`source /usr/local/Ascend/ascend-toolkit/set_env.sh`) and torch_npu installed.
# Prints machine facts (NPUs, driver, firmware, sensors), then tokens/s, W and J/token from sampled
# NPU power (npu-smi-sampled or dcmi-sampled), and peak memory: the same table as the GPU check.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
OUT_DIR=${1:-results}
"$PY" run_bench.py sysinfo
mkdir -p "$OUT_DIR" && "$PY" run_bench.py sysinfo --format json > "$OUT_DIR/npu_sysinfo.json" || true
"$PY" run_bench.py gpu-check --title "NPU check" --config "${NPU_CHECK_CONFIG:-configs/npu-8b.yaml}" --output-dir "$OUT_DIR"
