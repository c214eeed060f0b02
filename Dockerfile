# Image for the web and worker services. For CUDA probes, build llama-cpp-python with
# CMAKE_ARGS="-DGGML_CUDA=on" on a CUDA base image (see bench/README.md).
FROM python:3.12-slim
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY advisor ./advisor
RUN pip install --no-cache-dir ".[postgres]"
COPY . .
ENV PYTHONUNBUFFERED=1 STATIC_ROOT=/app/staticfiles
EXPOSE 8000
