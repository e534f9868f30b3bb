"""What the records, cases and options routers share: the route class that keeps input out of
errors, the dependencies (acting principal, sealing box, configured lists), and the
documented errors. The linkage cases wired in by `create_app` are records' own
(`hotline.records.http`)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from hotline.auth.deps import PrincipalDep
from hotline.common.audit import Actor
from hotline.common.crypto import Box, box_for
from hotline.common.text import Stored
from hotline.config import Records
from hotline.deps import ConfigDep, SettingsDep


class NoEchoRoute(APIRoute):
    """FastAPI's 422 repeats the rejected input; here that could be a caller's story (an
    oversized summary). Re-raise the same errors without their input, so that the session
    dependency still rolls back and the app's own handler still answers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def no_echo(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as e:
                errors = [{k: v for k, v in err.items() if k != "input"} for err in e.errors()]
                raise RequestValidationError(errors) from None

        return no_echo


async def acting(request: Request, who: PrincipalDep) -> Actor:
    return Actor.of(who, request.client.host if request.client else None)


async def sealing_box(settings: SettingsDep) -> Box:
    return box_for(settings)


async def record_lists(cfg: ConfigDep) -> Records:
    return cfg.records


ActorDep = Annotated[Actor, Depends(acting)]
BoxDep = Annotated[Box, Depends(sealing_box)]
ListsDep = Annotated[Records, Depends(record_lists)]
# An id of a word in a path (a line, an option, a period, a CallSid): bounded, and text both
# databases can store (`hotline.common.text`), else a 422 before any statement.
PathWord = Annotated[str, Path(max_length=64), Stored]
# An optional word in a query (a filter), likewise.
QueryWord = Annotated[str | None, Query(max_length=64), Stored]

# A route's `responses=` documentation, as FastAPI types it.
ResponsesDoc = dict[int | str, dict[str, Any]]

E401: ResponsesDoc = {401: {"description": "missing, unknown or revoked API key"}}
E403: ResponsesDoc = {403: {"description": "wrong role, or another organisation's call or record"}}
E404: ResponsesDoc = {404: {"description": "unknown call, record or case"}}
E409: ResponsesDoc = {
    409: {"description": "the call already has a record of this organisation: its id"}
}
E422: ResponsesDoc = {
    422: {
        "description": "a value outside the configured lists (the field and allowed values "
        "are named), text too long, or a malformed body"
    }
}
E500: ResponsesDoc = {
    500: {"description": "stored text cannot be decrypted with HOTLINE_RECORDS_KEYS"}
}


def errors(*codes: ResponsesDoc) -> ResponsesDoc:
    merged: ResponsesDoc = {}
    for code in codes:
        merged.update(code)
    return merged
