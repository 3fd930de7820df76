#!/usr/bin/env bash
# Download into .whl/ the wheels that bench/gpu_check.py needs beyond the GPU image (Python 3.12, torch, transformers,
# accelerate, pillow, psutil, pyyaml, requests, prometheus-client are there). About 45 MB; .whl/ is ignored by git.
set -e
PY=${PY:-3.12}
cd "$(dirname "$0")/.."
rm -rf .whl; mkdir .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PY" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .whl pydantic==2.14.4 pydantic_core==2.50.5 pydantic-settings==2.16.3 python-dotenv==1.2.4 annotated-types==0.8.0 \
  typing-inspection==0.4.5 json_repair==0.64.6 fastcore==2.2.41 opentelemetry-api==1.45.2 qwen-vl-utils==0.0.14 bitsandbytes==0.50.2
ls .whl; du -sh .whl
