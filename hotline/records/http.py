"""Records' own HTTP dependency: the linkage cases `create_app` wired in (records do not
import `hotline.cases`). What records share with other routers is in `hotline.common.http`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from hotline.common.hooks import RecordSaved
from hotline.records.emergency import Escalations
from hotline.records.linkage import Linkage
from hotline.services import services_of


def linkage_of(request: Request) -> Linkage:
    """The linkage cases `create_app` wired in (records do not import `hotline.cases`)."""
    linkage: Linkage = services_of(request.app).linkage
    return linkage


async def wired_linkage(request: Request) -> Linkage:
    return linkage_of(request)  # async: a plain def dependency would run in a thread


def saved_of(request: Request) -> RecordSaved:
    """The hook a saved record calls (`hotline.common.hooks.RecordSaved`)."""
    return services_of(request.app).record_saved


async def wired_saved(request: Request) -> RecordSaved:
    return saved_of(request)


async def wired_escalations(request: Request) -> Escalations:
    """A call's emergency escalations (the conference room's, wired by `create_app`)."""
    escalations: Escalations = services_of(request.app).escalations
    return escalations


EscalationsDep = Annotated[Escalations, Depends(wired_escalations)]
LinkageDep = Annotated[Linkage, Depends(wired_linkage)]
SavedDep = Annotated[RecordSaved, Depends(wired_saved)]
