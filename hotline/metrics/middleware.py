"""ASGI middleware: webhook latency and responses by route template.

Labels are route templates (`/voice/incoming`), never raw paths or query strings, so a
request cannot open a new series. Plain ASGI (not BaseHTTPMiddleware): cheaper per request.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
        status = 500  # what the client sees if the app raises before answering
        start = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self._observe(scope, status, time.perf_counter() - start)

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        try:
            route = getattr(scope.get("route"), "path", None)  # set by the router on a match
            if route is None or not route.startswith(WEBHOOKS):
                return
            self.metrics.webhook.labels(route).observe(seconds)
            self.metrics.responses.labels(route, str(status)).inc()
        except Exception:  # metrics never block a call
            log.exception("webhook metrics failed")
