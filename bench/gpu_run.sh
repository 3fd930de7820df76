#!/usr/bin/env bash
# The one device call of issue #6: install the carried wheels, then bench/gpu_check.py; everything lands in $OUT.
#   run(command="bash bench/gpu_run.sh", carry=[".whl"], timeout_s=600)   (wheels: bash bench/fetch_wheels.sh)
set -o pipefail
OUT=${OUT:-/tmp/gpu_check_out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
{ python3 -V; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; } 2>&1 | tee "$OUT/machine.txt"
python3 bench/gpu_check.py --out "$OUT" "$@" 2>&1 | tee "$OUT/gpu_check.log"
