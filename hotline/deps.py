"""FastAPI dependencies shared by the routers: the app's services, the unit-of-work session,
config and clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.config import HotlineConfig
from hotline.services import Services, services_of
from hotline.settings import Settings


async def get_services(request: Request) -> Services:
    """What the composition root built (`hotline.app.create_app`)."""
    return services_of(request.app)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: commit when the handler succeeds, else roll back at once;
    what it did is published only once committed (`hotline.uow`).

    The console and the API take their connections from a pool of their own, so that no
    amount of console traffic makes a caller's webhook wait (the voice routes open their
    units of work themselves, from the voice pool: `hotline.ivr.webhooks.voice`).

    (Written out rather than delegating to another generator: an error thrown in here must
    reach the rollback now, not when the garbage collector closes an inner generator.)
    """
    async with services_of(request.app).console_unit() as uow:
        try:
            yield uow.session
            await uow.commit()
        except BaseException:
            await uow.rollback()
            raise


async def get_config(request: Request) -> HotlineConfig:
    return services_of(request.app).cfg


async def get_settings(request: Request) -> Settings:
    return services_of(request.app).settings


async def get_now(request: Request) -> dt.datetime:
    return services_of(request.app).clock()


ServicesDep = Annotated[Services, Depends(get_services)]
# scope="function": the commit happens before the response is sent, so a client is never
# told of a change that then failed to commit.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
ConfigDep = Annotated[HotlineConfig, Depends(get_config)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
NowDep = Annotated[dt.datetime, Depends(get_now)]
# A row id in a path: within the Integer primary keys of both databases, so that a huge
# number is a 422, not an overflow in the driver (a 500).
MAX_ROW_ID = 2**31 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
