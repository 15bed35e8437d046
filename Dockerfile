# shield: credential-stuffing defense reverse proxy.
#   docker build -t shield .
#   docker run --read-only --tmpfs /tmp -p 8000:8000 -e SHIELD_UPSTREAM=http://app:8080 \
#     -e SHIELD_SECRET_FILE=/run/secrets/shield -v "$PWD/secret:/run/secrets/shield:ro" \
#     -v /var/lib/GeoIP:/var/lib/shield/geoip:ro shield
# Config (/etc/shield/shield.yaml) and rules (/etc/shield/rules, the pack installed with the package)
# are in the image; mount your own over either. No GeoIP data is: mount GeoLite2/GeoIP2 files at
# /var/lib/shield/geoip.

# Build stage: a virtualenv at the same path as in the final image, from the lock.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# gcc: mypyc compiles the hot modules to C (setup.py); this stage only, the final image has no compiler.
# Unpinned: the version is the base image's Debian release's (pinning it breaks on every point release).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install --yes --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/shield
# The dependency layer: only the lock is copied first, so a source change reuses this layer.
# Every pin carries its hashes (--require-hashes); the build backend (setuptools, wheel) is locked too.
COPY requirements/runtime.txt /tmp/runtime.txt
RUN /opt/shield/bin/pip install --no-cache-dir --require-hashes --no-deps -r /tmp/runtime.txt
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY shield ./shield
# Bytecode and the mypyc extensions are compiled here, at build time: the final image never writes a
# .pyc. The build tools (mypy and what only it needs) leave with pip: the extensions import none of them.
RUN /opt/shield/bin/pip install --no-cache-dir --no-deps --no-build-isolation . \
    && /opt/shield/bin/pip uninstall --yes setuptools wheel mypy mypy-extensions librt pathspec ast-serialize pip

# Final stage: the virtualenv, the rules and the config; no compiler, no pip, no source tree.
FROM python:3.11-slim
# PYTHONDONTWRITEBYTECODE: the root filesystem is read-only. TMPDIR is the only writable place it
# needs (mount a tmpfs/emptyDir there): it holds the per-run Prometheus multiprocess folder.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TMPDIR=/tmp \
    PATH=/opt/shield/bin:$PATH
RUN groupadd --system --gid 10001 shield \
    && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin shield
COPY --from=build /opt/shield /opt/shield
# The rule pack is package data: /etc/shield/rules is the very copy the wheel installed, kept at a
# path of its own so a ConfigMap or a bind mount can replace it without touching the package.
COPY --from=build /opt/shield/lib/python3.11/site-packages/shield/rules/bundled /etc/shield/rules
COPY deploy/docker/shield.yaml /etc/shield/shield.yaml

USER 10001:10001
WORKDIR /etc/shield
EXPOSE 8000 9000

HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9000/healthz', timeout=2)"]

CMD ["shield", "run", "--config", "/etc/shield/shield.yaml"]
