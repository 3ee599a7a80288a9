"""ASGI middleware: a cap on request bodies and the safe response headers."""

from fastapi import HTTPException, status
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# OWASP's headers for a JSON API: no sniffing, no framing, no referrer, no caching of
# personal data, and a policy that lets a response load nothing at all.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}
# Swagger UI and ReDoc: pages with an inline start-up script and style, whose scripts,
# styles and images come from this server only (ReDoc also runs a worker from a blob).
DOCS_PATHS = ("/docs", "/redoc")
DOCS_HEADERS = SECURITY_HEADERS | {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; worker-src 'self' blob:; frame-ancestors 'none'"
    )
}


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        safe_headers = DOCS_HEADERS if scope["path"].startswith(DOCS_PATHS) else SECURITY_HEADERS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in safe_headers.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodySizeLimit:
    """Refuse request bodies over `max_bytes` with 413, whether sized or chunked; the
    requests named in `larger` (method and path) may send up to their own limit (an import:
    phone exports with photos run to megabytes), and so may those under a path in
    `larger_under` (a CardDAV PUT, so that a card just over its 1 MiB gets the 403 that
    CardDAV clients understand).

    Not Starlette's RequestBodyLimitMiddleware (FastAPI's `max_body_size`): it answers some
    413s in plain text, and the contract's errors are JSON with a `detail`.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        larger: dict[tuple[str, str], int] | None = None,
        larger_under: dict[tuple[str, str], int] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = larger or {}
        # The same by a path's beginning: (method, prefix) -> limit.
        self.larger_under = larger_under or {}

    def limit(self, method: str, path: str) -> int:
        limit = self.larger.get((method, path))
        if limit is not None:
            return limit
        for (method_, prefix), limit in self.larger_under.items():
            if method == method_ and path.startswith(prefix):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope["method"], scope["path"])
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self.too_large(limit)(scope, receive, send)
            return

        received = 0

        async def receive_within_limit() -> Message:
            # A chunked body has no length up front: count it as the app reads it.
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # FastAPI lets an HTTPException from reading the body through as it is.
                    raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, self.detail(limit))
            return message

        await self.app(scope, receive_within_limit, send)

    @staticmethod
    def detail(limit: int) -> str:
        return f"Request body is larger than {limit} bytes"

    def too_large(self, limit: int) -> JSONResponse:
        return JSONResponse({"detail": self.detail(limit)}, status.HTTP_413_CONTENT_TOO_LARGE)
