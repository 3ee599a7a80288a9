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
ENV DATABASE_URL=sqlite:////app/data/contacts.db \
    WEB_CONCURRENCY=2 \
    FORWARDED_ALLOW_IPS=127.0.0.1

# Dependencies in their own layer: editing the code does not reinstall them.
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY alembic.ini ./
COPY migrations/ migrations/
COPY contacts_api/ contacts_api/

USER app
EXPOSE 8000

# Slim images have no curl: ask the readiness endpoint with the standard library.
# urlopen raises on a 503, so the check fails while the database does not answer.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/ready', timeout=4)"]

# Check the settings first: with several workers, uvicorn would restart a worker that exits on
# a missing SECRET_KEY forever instead of stopping. Then migrate, and replace the shell with
# uvicorn so that it gets the signals (docker stop).
# --proxy-headers takes the client's address from X-Forwarded-For, but only when the request
# comes from an address in FORWARDED_ALLOW_IPS (uvicorn reads that variable): set it to your
# reverse proxy's address, never to '*', or any client could pick the address that the rate
# limits count by.
CMD ["sh", "-c", "python -c 'from contacts_api.config import get_settings; get_settings()' && alembic upgrade head && exec uvicorn contacts_api.main:app --host 0.0.0.0 --port 8000 --workers ${WEB_CONCURRENCY} --proxy-headers"]
