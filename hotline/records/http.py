"""Records' own HTTP dependency: the linkage cases `create_app` wired in (records do not
import `hotline.cases`). What records share with other routers is in `hotline.common.http`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from hotline.records.linkage import Linkage


def linkage_of(request: Request) -> Linkage:
    """The linkage cases `create_app` wired in (records do not import `hotline.cases`)."""
    linkage: Linkage = request.app.state.linkage
    return linkage


async def wired_linkage(request: Request) -> Linkage:
    return linkage_of(request)  # async: a plain def dependency would run in a thread


LinkageDep = Annotated[Linkage, Depends(wired_linkage)]
