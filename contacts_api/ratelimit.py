"""Rate limits of the auth endpoints, counted by the `limits` library.

The counters live in the process, or in Redis when REDIS_URL is set, so that every worker and
replica of the service counts against the same limit.
"""

import asyncio
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import HTTPException, Request, status
from limits import RateLimitItem, RateLimitItemPerHour, RateLimitItemPerMinute
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string

from contacts_api.config import get_settings

settings = get_settings()

# A Redis that accepts connections but does not answer (overloaded, a half-open network)
# held every limited request for 40 s and more (measured), and with per-command timeouts of
# 1 s still 5 s, the client's connecting and retrying included. A limit check gets 2 s in
# all; past that it is a 503, as for a Redis that is down.
REDIS_TIMEOUTS = {"connect_timeout": 1.0, "stream_timeout": 1.0}
STORAGE_DEADLINE_SECONDS = 2.0

storage: Any = (
    storage_from_string(f"async+{settings.REDIS_URL}", wrap_exceptions=True, **REDIS_TIMEOUTS)
    if settings.REDIS_URL
    else storage_from_string("async+memory://", wrap_exceptions=True)
)
limiter = MovingWindowRateLimiter(storage)

TOKEN_REQUESTS = RateLimitItemPerMinute(settings.TOKEN_REQUESTS_PER_MINUTE, namespace="token")
LOGIN_ATTEMPTS = RateLimitItemPerMinute(settings.LOGIN_ATTEMPTS_PER_MINUTE, namespace="login")
SIGNUPS = RateLimitItemPerHour(settings.SIGNUPS_PER_HOUR, namespace="signup")
# Messages that forgot-password and verify-email/request may cause for one address, counted
# for unknown addresses too, so that a 429 tells nothing about who is registered.
EMAILS = RateLimitItemPerHour(settings.EMAILS_PER_HOUR, namespace="emails")
# forgot-password and reset-password together, per client address.
RECOVERY_REQUESTS = RateLimitItemPerHour(60, namespace="recovery")


async def enforce(limit: RateLimitItem, key: str) -> None:
    """Count one request against `limit` for `key`; over the limit is a 429."""
    async with storage_deadline():
        if await limiter.hit(limit, key):
            return
        window = await limiter.get_window_stats(limit, key)
    raise too_many(window.reset_time)


async def refuse_when_over(limit: RateLimitItem, key: str) -> None:
    """A 429 if `key` has used up `limit` already; counts nothing (see `count`)."""
    async with storage_deadline():
        if await limiter.test(limit, key):
            return
        window = await limiter.get_window_stats(limit, key)
    raise too_many(window.reset_time)


async def count(limit: RateLimitItem, key: str) -> None:
    """Count one request against `limit` for `key`, answering nothing: for limits that count
    only failures (CardDAV's wrong passwords), checked by `refuse_when_over` first."""
    async with storage_deadline():
        await limiter.hit(limit, key)


@asynccontextmanager
async def storage_deadline() -> AsyncIterator[None]:
    try:
        async with asyncio.timeout(STORAGE_DEADLINE_SECONDS):
            yield
    except (StorageError, TimeoutError):
        # Without its counters the service cannot tell abuse from use: it refuses for now
        # rather than letting password guessing through unlimited.
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "The rate limiter is unavailable; try again shortly",
            headers={"Retry-After": "5"},
        ) from None


def too_many(reset_time: float) -> HTTPException:
    retry_after = max(1, math.ceil(reset_time - time.time()))
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        "Too many requests; try again later",
        headers={"Retry-After": str(retry_after)},
    )


def client_address(request: Request) -> str:
    # Behind a reverse proxy this is the client's address when uvicorn runs with
    # --proxy-headers and trusts the proxy (--forwarded-allow-ips).
    return request.client.host if request.client else "unknown"


async def limit_token_requests(request: Request) -> None:
    await enforce(TOKEN_REQUESTS, client_address(request))


async def limit_signups(request: Request) -> None:
    await enforce(SIGNUPS, client_address(request))


async def limit_recovery_requests(request: Request) -> None:
    await enforce(RECOVERY_REQUESTS, client_address(request))
