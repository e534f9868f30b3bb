"""ASGI middleware: webhook latency and responses by route template.

Labels are route templates (`/voice/incoming`), never raw paths or query strings, so a
request cannot open a new series. Plain ASGI (not BaseHTTPMiddleware): cheaper per request.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Receive, Scope, Send

from hotline.common.asgi import answered
from hotline.metrics.prom import Metrics

log = logging.getLogger(__name__)
WEBHOOKS = "/voice/"


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await answered(
            self.app, scope, receive, send, lambda status, s: self._observe(scope, status, s)
        )

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        try:
            route = getattr(scope.get("route"), "path", None)  # set by the router on a match
            if route is None or not route.startswith(WEBHOOKS):
                return
            self.metrics.webhook.labels(route).observe(seconds)
            self.metrics.responses.labels(route, str(status)).inc()
        except Exception:  # metrics never block a call
            log.exception("webhook metrics failed")
