# shield: credential-stuffing defense reverse proxy.
#   docker build -t shield .
#   docker run -p 8000:8000 -e SHIELD_UPSTREAM=http://app:8080 -e SHIELD_SECRET_FILE=/run/secrets/shield shield
# Config, rules and GeoIP data live in /etc/shield; mount your own over any of them.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The same install as the README: pip install . from the source tree.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY shield ./shield
RUN pip install --no-cache-dir . \
    && groupadd --system --gid 10001 shield \
    && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin shield

COPY rules /etc/shield/rules
COPY geoip /etc/shield/geoip
COPY shield.example.yaml /etc/shield/shield.yaml

# Inside a container the proxy and admin listeners face the container network.
ENV SHIELD_LISTEN=0.0.0.0:8000 \
    SHIELD_ADMIN_LISTEN=0.0.0.0:9000

USER 10001:10001
WORKDIR /etc/shield
EXPOSE 8000 9000

HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9000/healthz', timeout=2)"]

CMD ["shield", "run", "--config", "/etc/shield/shield.yaml"]
