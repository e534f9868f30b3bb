"""What the records service refuses, each with its HTTP status.

The errors are HTTPExceptions because the app has no per-room exception handler; raised from
a service, they pass through the session dependency, which rolls the whole request back, so a
refused request leaves nothing half-written. No message carries a summary, a note or a caller.

    NotFound (404)   unknown call, record or case
    Forbidden (403)  wrong role, another organisation's call or record, no consent
    Conflict (409)   a second record for the same call and organisation (names the first)
    Invalid (422)    a value outside config's lists (names the field and the allowed values)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from fastapi import HTTPException


class NotFound(HTTPException):
    def __init__(self, what: str) -> None:
        super().__init__(404, f"unknown {what}")


class Forbidden(HTTPException):
    def __init__(self, why: str) -> None:
        super().__init__(403, why)


class Conflict(HTTPException):
    def __init__(self, message: str, **ids: int) -> None:
        super().__init__(409, {"message": message, **ids})


class Invalid(HTTPException):
    """Same shape as FastAPI's own 422, so that clients read one format. The rejected value is
    not echoed: it is input, and input may be what a caller said."""

    def __init__(self, field: str, msg: str, *, where: str = "body", **ctx: object) -> None:
        error = {"type": "value_error", "loc": [where, field], "msg": f"{field}: {msg}"}
        super().__init__(422, [{**error, "ctx": ctx} if ctx else error])


def not_allowed(field: str, allowed: Sequence[str], *, where: str = "body") -> Invalid:
    values = ", ".join(allowed)
    return Invalid(
        field, f"not one of the allowed values ({values})", where=where, allowed=list(allowed)
    )


def check_one(field: str, value: str | None, allowed: Sequence[str]) -> None:
    if value is not None and value not in allowed:
        raise not_allowed(field, allowed)


def check_many(field: str, values: Iterable[str], allowed: Sequence[str]) -> None:
    if any(v not in allowed for v in values):
        raise not_allowed(field, allowed)
