"""FastAPI dependencies shared by the routers: the unit-of-work session, config and clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.config import HotlineConfig
from hotline.settings import Settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: commit when the handler succeeds, else roll back at once.

    The console and the API take their connections from a pool of their own, so that no
    amount of console traffic makes a caller's webhook wait (the voice routes open their
    sessions themselves, from the voice pool: `hotline.ivr.webhooks.voice`).

    (Written out rather than delegating to another generator: an error thrown in here must
    reach the rollback now, not when the garbage collector closes an inner generator.)
    """
    async with request.app.state.console_sessions() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


async def get_config(request: Request) -> HotlineConfig:
    return request.app.state.cfg


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_now(request: Request) -> dt.datetime:
    return request.app.state.clock()


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
