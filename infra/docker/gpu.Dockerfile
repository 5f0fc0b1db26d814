# syntax=docker/dockerfile:1.7
# GPU image: render-clip flow runs (LTX-2 on CUDA) on the Spot GPU instances, and the dev GPU
# instance. Build from the repository root:
#   docker build --platform linux/amd64 -f infra/docker/gpu.Dockerfile -t picaivid-gpu .
# The host brings the NVIDIA driver (ECS GPU-optimized AMI); torch's CUDA wheels bring cuBLAS and
# cuDNN, so the base only needs the CUDA runtime. Pick another base with --build-arg CUDA_IMAGE=...
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-runtime-ubuntu22.04
FROM ${CUDA_IMAGE}

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH \
    PICAIVID_CODE_DIR=/app \
    PICAIVID_DATA_DIR=/var/lib/picaivid \
    HF_HOME=/models/huggingface

# Python 3.11 (the project's tested version) from deadsnakes; Ubuntu 22.04 ships 3.10.
RUN apt-get update \
    && apt-get install -y --no-install-recommends software-properties-common gpg-agent \
    && add-apt-repository -y ppa:deadsnakes/ppa \
    && apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv libgomp1 libglib2.0-0 \
    && apt-get purge -y software-properties-common gpg-agent \
    && apt-get autoremove -y \
    && rm -rf /var/lib/apt/lists/* \
    && python3.11 -m venv /opt/venv

# uid/gid 1000: the model cache's EFS access point writes as this user.
RUN groupadd --gid 1000 app \
    && useradd --uid 1000 --gid 1000 --create-home app \
    && mkdir -p /app /var/lib/picaivid /models \
    && chown app:app /app /var/lib/picaivid /models
WORKDIR /app

# Dependencies first, so a code change does not reinstall them; torch from PyPI is the CUDA build.
COPY pyproject.toml README.md ./
RUN mkdir -p flows tasks db \
    && pip install . \
    && pip uninstall -y picaivid

COPY --chown=app:app . .
RUN pip install --no-deps -e .

USER app
CMD ["picaivid", "--help"]
