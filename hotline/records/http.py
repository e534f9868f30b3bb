"""What the records and cases routers share: the route class that keeps input out of errors,
the dependencies (acting principal, sealing box, configured lists, the linkage cases wired in
by `create_app`), and the documented errors."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from hotline.auth.deps import PrincipalDep
from hotline.config import Records
from hotline.deps import ConfigDep, SettingsDep
from hotline.records.audit import Actor
from hotline.records.crypto import Box, box_for
from hotline.records.linkage import Linkage
from hotline.records.service import RecordSaved
from hotline.services import services_of


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


def linkage_of(request: Request) -> Linkage:
    """The linkage cases `create_app` wired in (records do not import `hotline.cases`)."""
    linkage: Linkage = services_of(request.app).linkage
    return linkage


async def wired_linkage(request: Request) -> Linkage:
    return linkage_of(request)  # async: a plain def dependency would run in a thread


def saved_of(request: Request) -> RecordSaved:
    """The hook a saved record calls (`hotline.records.service.RecordSaved`)."""
    return services_of(request.app).record_saved


async def wired_saved(request: Request) -> RecordSaved:
    return saved_of(request)


ActorDep = Annotated[Actor, Depends(acting)]
BoxDep = Annotated[Box, Depends(sealing_box)]
ListsDep = Annotated[Records, Depends(record_lists)]
LinkageDep = Annotated[Linkage, Depends(wired_linkage)]
SavedDep = Annotated[RecordSaved, Depends(wired_saved)]

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
