"""Server-sent events (`text/event-stream`) of the console's live pages.

A browser's `EventSource` subscribes to the process's hub of live calls
(`Services.live`, a `hotline.common.hub.Hub`): it is sent the page's live part, rendered
for that watcher (their organisation's calls, their CSRF token), whenever what they see has
changed, and nothing else (a comment now and then keeps proxies from closing the stream).
The browser queries nothing: one load of the snapshot per second at most serves every
watcher of the process.

A stream ends after `STREAM_SECONDS` and the browser opens the next one by itself (`retry`),
with its session checked again: a signed-out or disabled account stops receiving, and a
stopping server is not held up for long by the streams open on it.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable, Sequence

from fastapi import Request
from fastapi.responses import StreamingResponse

from hotline.console.live import LiveCall, of_org
from hotline.services import services_of

STREAM_SECONDS = 120.0
PING_SECONDS = 15.0
RETRY_MS = 2000


def version(calls: Sequence[LiveCall]) -> str:
    """A short digest of what a watcher sees: the page carries the one it was drawn from,
    so that its stream does not draw the same again (and undo a choice being made)."""
    return hashlib.sha256(repr(tuple(calls)).encode()).hexdigest()[:16]


def event(name: str, data: str) -> str:
    """One event: its name and its data, line by line (an event's data cannot hold a bare
    line break)."""
    lines = data.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return f"event: {name}\n" + "".join(f"data: {line}\n" for line in lines) + "\n"


async def _events(
    request: Request, org_id: str | None, render: Callable[[list[LiveCall]], str], name: str
) -> AsyncIterator[str]:
    hub = services_of(request.app).live
    loop = asyncio.get_running_loop()
    until = loop.time() + STREAM_SECONDS
    shown: list[LiveCall] | None = None
    drawn = request.query_params.get("v")  # the version the page was drawn from
    yield f"retry: {RETRY_MS}\n\n"
    async with hub.subscribe() as sub:
        while (left := until - loop.time()) > 0:
            snapshot = await sub.next(min(PING_SECONDS, left))
            if snapshot is None:
                yield ": still here\n\n"
                continue
            mine = of_org(snapshot, org_id)
            if shown is None and drawn is not None and version(mine) == drawn:
                shown = mine  # the page shows it already
            if mine != shown:
                shown = mine
                yield event(name, render(mine))


def stream(
    request: Request, org_id: str | None, render: Callable[[list[LiveCall]], str], name: str
) -> StreamingResponse:
    """The live part of a page, for one watcher (`org_id` None: every organisation's)."""
    return StreamingResponse(
        _events(request, org_id, render, name),
        media_type="text/event-stream",
        headers={"X-Accel-Buffering": "no"},  # a proxy (nginx) must not hold events back
    )
