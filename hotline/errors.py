"""What the service refuses, as one hierarchy of domain exceptions.

Services, stores and dependencies raise these, never fastapi's HTTPException: they say what
went wrong, and `hotline.http_errors` alone turns them into HTTP (status and JSON body).
Raised inside a request, they pass through the session dependency first, which rolls the whole
request back, so a refused request leaves nothing half-written. No message carries a summary,
a note, a caller or other input (input may be what a caller said).

    HotlineError             base; `message` is safe to show, `context` adds named values
    ├── Unauthorized  (401)  no credentials, or unknown or revoked ones
    ├── Forbidden     (403)  wrong role, another organisation's call, record or line, no consent
    ├── NotFound      (404)  unknown call, record, case, line or period
    ├── Conflict      (409)  it exists already: `context` names the existing id
    ├── Invalid       (422)  a value outside the allowed ones: the field and the allowed values
    ├── Upstream      (502)  Twilio did not do what was asked: what was kept is said
    ├── Misconfigured (500)  the service's own settings cannot do this (e.g. records keys)
    └── NotInstalled  (501)  an optional part this installation lacks (the charts extra)

The statuses are listed here for the reader; the mapping lives in `hotline.http_errors`.
The voice webhooks are the exception to all of this: whatever fails there, Twilio gets
fallback TwiML with 200 (see `hotline.ivr.webhooks`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


class HotlineError(Exception):
    """A refusal of the domain: a safe message and, optionally, named values to go with it."""

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = context


class Unauthorized(HotlineError):
    """The request carries no credentials the service knows."""


class Forbidden(HotlineError):
    """The one asking may not do this."""


class NotFound(HotlineError):
    """No such thing."""


class Conflict(HotlineError):
    """It exists already; `context` names the existing one (e.g. `record_id`)."""


class Upstream(HotlineError):
    """A request to Twilio (a conference's command) failed after the change was committed:
    the message says what the service undid or kept, `context` names the party."""


class Misconfigured(HotlineError):
    """The service's settings do not allow this; the message names the setting."""


class NotInstalled(HotlineError):
    """This installation lacks an optional part (an extra); the message says how to add it."""


class Invalid(HotlineError):
    """A value the service does not accept. The rejected value is never kept: it is input."""

    def __init__(self, field: str, msg: str, *, where: str = "body", **context: Any) -> None:
        super().__init__(f"{field}: {msg}", **context)
        self.field, self.where = field, where

    def errors(self) -> list[dict[str, Any]]:
        """In the shape of pydantic's `ValidationError.errors()` (and FastAPI's 422), so that
        clients and the console's forms read one format."""
        error: dict[str, Any] = {
            "type": "value_error",
            "loc": [self.where, self.field],
            "msg": self.message,
        }
        return [{**error, "ctx": self.context} if self.context else error]


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
