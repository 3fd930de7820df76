# qwen_vl on a CUDA GPU. Install steps are the README's: a venv, then `pip install -e ".[dev]"`.
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv python3-dev git \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 1000 qwen
WORKDIR /app
COPY --chown=qwen:qwen . /app
USER qwen
RUN python3 -m venv .venv && . .venv/bin/activate && pip install --no-cache-dir -e ".[dev]"
ENV PATH=/app/.venv/bin:$PATH \
    HF_HOME=/models/hf \
    QWEN_VL_CACHE=/models/qwen_vl
VOLUME ["/models"]
CMD ["qwen-vl", "doctor"]
