# qwen_vl on a CUDA GPU: `qwen-vl serve` (API + app) as a non-root user, models in a volume.
# A production image: the package with its runtime extras (the app and tracing), none of the development tools.
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive PYTHONUNBUFFERED=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv python3-dev git curl fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 1000 qwen \
    && mkdir -p /app /models /logs \
    && chown qwen:qwen /app /models /logs
WORKDIR /app
COPY --chown=qwen:qwen . /app
USER 1000
RUN python3 -m venv .venv \
    && .venv/bin/pip install --no-cache-dir ".[app,tracing]"

ENV PATH=/app/.venv/bin:$PATH \
    HF_HOME=/models/hf \
    QWEN_VL_CACHE=/models/qwen_vl \
    GRADIO_SERVER_NAME=0.0.0.0 \
    GRADIO_SERVER_PORT=7860 \
    LOG_FORMAT=json
VOLUME ["/models", "/logs"]
EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["curl", "-fsS", "http://127.0.0.1:7860/healthz"]
CMD ["qwen-vl", "serve"]
