# The contacts_api service: `docker compose up -d` builds and runs it (see compose.yaml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The service runs as an unprivileged user; the code stays owned by root, so it cannot be
# changed by the process that serves it. /app/data is the one writable place, for the SQLite
# file used when no DATABASE_URL is given.
RUN useradd --system --create-home --uid 10001 --user-group app \
    && mkdir -p /app/data \
    && chown app:app /app/data
WORKDIR /app
# serve.sh's settings: listen on every interface of the container, two workers whose
# metrics are added up in a folder the app user may write.
ENV DATABASE_URL=sqlite:////app/data/contacts.db \
    HOST=0.0.0.0 \
    PORT=8000 \
    WEB_CONCURRENCY=2 \
    FORWARDED_ALLOW_IPS=127.0.0.1 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/contacts-api-metrics

# Dependencies in their own layer: editing the code does not reinstall them.
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY alembic.ini serve.sh ./
COPY migrations/ migrations/
COPY contacts_api/ contacts_api/

USER app
EXPOSE 8000

# Slim images have no curl: ask the readiness endpoint with the standard library.
# urlopen raises on a 503, so the check fails while the database does not answer.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/ready', timeout=4)"]

# The production start (see serve.sh and the README): check the settings, migrate, then
# `exec uvicorn`, so that uvicorn gets the signals (docker stop).
CMD ["./serve.sh"]
