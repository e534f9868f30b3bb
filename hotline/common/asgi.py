"""One HTTP request run through an ASGI app and timed: what the access log and the webhook
metrics both observe (the status the client saw, 500 when the app raised before answering,
and the seconds it took), without reading the request or the response's body."""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send


async def answered(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send, done: Callable[[int, float], None]
) -> None:
    """Run `app` on one HTTP request; then `done(status, seconds)`, even when it raised."""
    status = 500  # what the client sees if the app raises before answering
    start = time.perf_counter()

    async def sent(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        await send(message)

    try:
        await app(scope, receive, sent)
    finally:
        done(status, time.perf_counter() - start)
