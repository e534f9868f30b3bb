"""The unit of work publishes a step's effects only once its transaction has committed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from hotline.uow import Units, outbox


@pytest.fixture
async def engine() -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine("sqlite+aiosqlite:///:memory:")
    yield engine
    await engine.dispose()


async def test_effects_are_published_after_the_commit_and_only_then(engine: AsyncEngine) -> None:
    published: list[list[object]] = []
    units = Units(engine, published.append)
    async with units.unit() as uow:
        await uow.session.execute(text("SELECT 1"))
        outbox(uow.session).append("fact")
        assert published == []  # not before the commit
        await uow.commit()
        assert published == [["fact"]]
    async with units.begin() as session:  # committed on leaving the block
        outbox(session).append("another")
    assert published == [["fact"], ["another"]]


async def test_a_rolled_back_step_publishes_nothing(engine: AsyncEngine) -> None:
    published: list[list[object]] = []
    units = Units(engine, published.append)
    with pytest.raises(RuntimeError):
        async with units.unit() as uow:
            outbox(uow.session).append("lost")
            raise RuntimeError("the step failed")
    async with units.unit() as uow:
        outbox(uow.session).append("refused")
        await uow.rollback()
    assert published == []


async def test_a_session_outside_a_unit_of_work_publishes_nothing(engine: AsyncEngine) -> None:
    published: list[list[object]] = []
    units = Units(engine, published.append)
    async with units() as session:  # a bare session, for reads
        outbox(session).append("nowhere")
        await session.commit()
    assert published == []
