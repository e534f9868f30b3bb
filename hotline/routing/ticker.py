"""The periodic assignment pass: tier delays that elapse and reservations that expire.

Safe with several instances: each pass locks what it changes with SKIP LOCKED.
"""

from __future__ import annotations

import asyncio
import logging

from hotline.services import Services

log = logging.getLogger(__name__)


async def tick_once(services: Services) -> int:
    async with services.unit() as uow:
        return len(await services.router.assign(uow.session, services.clock()))


async def _loop(services: Services, every: float) -> None:
    while True:
        await asyncio.sleep(every)  # the service's own period, not a test's wait
        try:
            await tick_once(services)
        except Exception:  # a failed pass must not stop the next one
            log.exception("periodic assignment pass failed")


def start_ticker(services: Services, every: float) -> asyncio.Task[None] | None:
    return asyncio.create_task(_loop(services, every)) if every > 0 else None
