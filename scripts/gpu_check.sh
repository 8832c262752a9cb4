#!/usr/bin/env bash
# The first thing to run on a GPU machine (needs no network; about 2-3 minutes on an H100/H200):
#   bash scripts/gpu_check.sh [OUTPUT_DIR]
# Prints machine facts, then tokens/s, W and J/token from both NVML sources, and peak memory.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
OUT_DIR=${1:-results}
"$PY" run_bench.py sysinfo
"$PY" -m bench.measure.gpucheck --config "${GPU_CHECK_CONFIG:-configs/gpu-8b.yaml}" --output-dir "$OUT_DIR"
