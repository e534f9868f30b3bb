"""The service's log: where lines go, in which format, and one access line per request.

`configure(level, fmt)` sets the root logger once per process (`hotline serve` and each of
its workers): `text` (default) prints `LEVEL logger: message`, `json` one JSON object per line
(`HOTLINE_LOG_FORMAT=json`, for a log collector in production). uvicorn's own loggers
propagate to it (`hotline serve` passes `log_config=None`), so its start-up lines share the
format.

What is never logged: a phone number, a token, a form body or a query string. uvicorn's access
log is off (its lines carry the query string); `AccessLog` writes ours instead: method, the
route's template (`/console/records/{record_id}`, never the raw path), status and time. The
`twilio` library's request dumps (every REST request at INFO, with its query parameters and
headers) stay off at every level: its own warnings still show.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from hotline.common.asgi import answered

FORMATS = ("text", "json")
TEXT = "%(levelname)s %(name)s: %(message)s"
UNMATCHED = "(no route)"  # a path no route knows: it may be anything a stranger typed
access = logging.getLogger("hotline.access")
_FIELDS = ("method", "path", "status", "ms")  # an access line's fields, as JSON keys too


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the access
    line's fields when it is one, and the traceback of an exception as `exc`."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in _FIELDS:
            if field in record.__dict__:
                line[field] = record.__dict__[field]
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure(level: str = "INFO", fmt: str = "text") -> None:
    """The root logger writes `level` and above to stderr in `fmt` (`text` or `json`)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    # The twilio library dumps every REST request at INFO (query parameters, headers): noise
    # in any demo, and a list's query can carry a number. Its warnings still show.
    logging.getLogger("twilio").setLevel(logging.WARNING)
    # alembic says which SQL dialect it found each time the schema's revision is read (each
    # /readyz): nothing an operator acts on. Its "Running upgrade" lines stay.
    logging.getLogger("alembic.runtime.migration").addFilter(_no_alembic_context)
    # uvicorn's access lines carry the query string; `AccessLog` writes ours.
    logging.getLogger("uvicorn.access").disabled = True


def _no_alembic_context(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(("Context impl", "Will assume"))


class AccessLog:
    """One INFO line per HTTP request, when it is answered: `POST /voice/wait 200 12 ms`.

    The path is the matched route's template, so no identifier, number or token in a path
    reaches the log, and the query string and body are never read. Plain ASGI, outermost (see
    `HotlineApp.build_middleware_stack`), so a 500 is logged like any answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        def done(status: int, seconds: float) -> None:
            ms = round(seconds * 1000)
            path = template(scope)
            fields = {"method": scope["method"], "path": path, "status": status, "ms": ms}
            access.info("%s %s %s %s ms", scope["method"], path, status, ms, extra=fields)

        await answered(self.app, scope, receive, send, done)


def template(scope: Scope) -> str:
    """The route template the router matched (set on the scope), under any mount; a file of
    a mounted directory (`/console/static/…`) is its mount's path and an ellipsis."""
    route = getattr(scope.get("route"), "path", None)
    root = str(scope.get("root_path", ""))
    if isinstance(route, str):
        return root + route
    if root and scope.get("endpoint") is not None:  # a Mount matched: the directory's path
        return root + "/…"
    return UNMATCHED
