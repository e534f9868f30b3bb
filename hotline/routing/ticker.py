"""The periodic assignment pass: tier delays that elapse and reservations that expire.

Safe with several instances: each pass locks what it changes with SKIP LOCKED.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI

log = logging.getLogger(__name__)


async def tick_once(app: FastAPI) -> int:
    async with app.state.sessions.begin() as session:
        return len(await app.state.router.assign(session, app.state.clock()))


async def _loop(app: FastAPI, every: float) -> None:
    while True:
        await asyncio.sleep(every)  # the service's own period, not a test's wait
        try:
            await tick_once(app)
        except Exception:  # a failed pass must not stop the next one
            log.exception("periodic assignment pass failed")


def start_ticker(app: FastAPI, every: float) -> asyncio.Task[None] | None:
    return asyncio.create_task(_loop(app, every)) if every > 0 else None
