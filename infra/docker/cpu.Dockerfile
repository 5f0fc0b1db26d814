# syntax=docker/dockerfile:1.7
# CPU image: the Prefect ECS workers, the SQS relay, and CPU flow runs (Phases 1, 3, 4 and the
# create-video parent) on Fargate. Build from the repository root (x86_64, as Fargate runs it):
#   docker build --platform linux/amd64 -f infra/docker/cpu.Dockerfile -t picaivid-cpu .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PICAIVID_CODE_DIR=/app \
    PICAIVID_DATA_DIR=/var/lib/picaivid \
    HF_HOME=/models/huggingface

# libgomp: OpenMP for torch and scikit-learn; libglib: OpenCV's headless wheel still links it.
# ffmpeg comes with imageio-ffmpeg, PostgreSQL client code with psycopg[binary].
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

# uid/gid 1000: the model cache's EFS access point writes as this user.
RUN groupadd --gid 1000 app \
    && useradd --uid 1000 --gid 1000 --create-home app \
    && mkdir -p /app /var/lib/picaivid /models \
    && chown app:app /app /var/lib/picaivid /models
WORKDIR /app

# Dependencies first, so a code change does not reinstall them. CPU-only torch and torchvision
# come from PyTorch's index (the +cpu builds satisfy the ==pins); the rest from PyPI.
COPY pyproject.toml README.md ./
RUN mkdir -p flows tasks db \
    && pip install --index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple . \
    && pip uninstall -y picaivid

# The code, editable: Prefect runs flows from /app (PICAIVID_CODE_DIR) and `picaivid` is on PATH.
COPY --chown=app:app . .
RUN pip install --no-deps -e .

USER app
CMD ["picaivid", "--help"]
