#!/usr/bin/env bash
# The GPU check in one command, on a machine with a CUDA GPU: install the wheels in .whl/ (from bench/fetch_wheels.sh,
# for a machine without a package index), print the machine, run bench/gpu_check.py; logs and JSON land in $OUT.
#   bash bench/fetch_wheels.sh && OUT=/tmp/gpu_check bash bench/gpu_run.sh
set -o pipefail
OUT=${OUT:-/tmp/gpu_check_out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
{ python3 -V; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; } 2>&1 | tee "$OUT/machine.txt"
python3 bench/gpu_check.py --out "$OUT" "$@" 2>&1 | tee "$OUT/gpu_check.log"
