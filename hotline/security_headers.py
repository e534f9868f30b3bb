"""Response headers that keep what the service shows out of caches, frames and guessers.

Every answer: `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`, `Referrer-Policy:
no-referrer`. Every answer except recordings and the console's static files:
`Cache-Control: no-store` (a summary or a case must not stay in a browser's or a proxy's
cache). Console pages and the API: a Content-Security-Policy allowing only this origin, no
inline script, no framing. The interactive API docs (not served in production) load
Swagger's files from a CDN, so they keep their own policy.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
ALWAYS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}
CACHEABLE = ("/audio/", "/console/static/", "/voice/ringback.wav")
OWN_POLICY = ("/docs", "/redoc")


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in ALWAYS.items():
                    headers.setdefault(name, value)
                if not path.startswith(CACHEABLE):
                    headers["cache-control"] = "no-store"
                if not path.startswith(OWN_POLICY):
                    headers.setdefault("content-security-policy", CSP)
            await send(message)

        await self.app(scope, receive, send_with_headers)
