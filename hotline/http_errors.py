"""The one place where the domain's refusals (`hotline.errors`) become HTTP answers.

Bodies keep FastAPI's shape, `{"detail": ...}`, as clients already read it: a string for a
plain message, FastAPI's list of errors for `Invalid`, an object when the refusal names values
(the existing record of a `Conflict`, the known periods of an unknown one).

FastAPI's own 422 (a request its schema refuses) keeps its list of errors, without the
rejected input in any of them: it may be what a caller confided, and a value that cannot be
text (an unpaired surrogate) could not even be written back in the answer (a 500).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from hotline.errors import (
    Conflict,
    Forbidden,
    HotlineError,
    Invalid,
    Misconfigured,
    NotFound,
    NotInstalled,
    Unauthorized,
    Upstream,
)

STATUS: dict[type[HotlineError], int] = {
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    Invalid: 422,
    Upstream: 502,
    Misconfigured: 500,
    NotInstalled: 501,
}


def status_of(exc: HotlineError) -> int:
    """The status of the nearest class in the hierarchy that has one (500 for the base)."""
    return next((STATUS[c] for c in type(exc).__mro__ if c in STATUS), 500)


def detail_of(exc: HotlineError) -> Any:
    if isinstance(exc, Invalid):
        return exc.errors()
    if not exc.context:
        return exc.message
    # The two object bodies the API has always given: 404 says "error", 409 "message".
    key = "error" if isinstance(exc, NotFound) else "message"
    return {key: exc.message, **exc.context}


def install(app: FastAPI) -> None:
    @app.exception_handler(HotlineError)
    async def _refused(request: Request, exc: HotlineError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
        return JSONResponse({"detail": detail_of(exc)}, status_of(exc), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _malformed(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{k: v for k, v in err.items() if k != "input"} for err in exc.errors()]
        return JSONResponse({"detail": jsonable_encoder(errors)}, 422)
