#!/bin/sh
# How the service runs in production, and what the Docker image runs: check the settings,
# migrate, then uvicorn with WEB_CONCURRENCY worker processes behind a reverse proxy.
set -eu

# A worker that exits on a missing SECRET_KEY would be restarted forever by uvicorn's
# supervisor: check the settings once, up front, and stop with the reason.
python -c 'from contacts_api.config import get_settings; get_settings()'
alembic upgrade head

# Prometheus multiprocess mode: every worker writes its counts to this folder and /metrics
# adds them up. Counts from an earlier run would be added too, so start from an empty folder.
if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
    rm -rf "$PROMETHEUS_MULTIPROC_DIR"
    mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
fi

# --proxy-headers: the client's address comes from X-Forwarded-For, but only on requests from
# an address in FORWARDED_ALLOW_IPS (uvicorn reads that variable; default 127.0.0.1). Set it to
# your reverse proxy's address, never to '*' while clients can reach uvicorn directly: they
# could then pick the address that the rate limits count by.
exec uvicorn contacts_api.main:app \
    --host "${HOST:-127.0.0.1}" \
    --port "${PORT:-8000}" \
    --workers "${WEB_CONCURRENCY:-1}" \
    --proxy-headers
