"""The unit of work: one step's transaction and what it hands on once that has committed.

A step (a voice webhook, a pass of the ticker, a push's outcome, a request of the console or
the API) opens one `UnitOfWork`; the calls service, the routing pass and line presence add
their effects to it as they go (`outbox`: metric facts, `calls.store.Pushed` requests to
Twilio), and `commit()` hands them to the app's `publish` hook only after the transaction has
committed. On rollback, or an error before the commit, they are dropped: what a rolled-back
step did is never published.

    async with services.unit() as uow:  # committed on leaving, rolled back on an error
        await service.apply(uow.session, ...)

A step that must answer only once its changes are kept (a voice webhook: never an answer
describing changes that were lost) calls `await uow.commit()` itself before answering; the
block then has nothing left to commit.

Stores reach the unit of work of the session they were handed (`of`), so that they need no
other argument: a session opened outside a unit of work (a command, a test) gets one of its
own on first use, which publishes nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

Publish = Callable[[list[object]], None]
KEY = "hotline_uow"  # the session's unit of work, in `session.info`


class UnitOfWork:
    """A session, its one transaction, and the effects to publish once it commits."""

    __slots__ = ("_done", "_publish", "effects", "session")

    def __init__(self, session: AsyncSession, publish: Publish | None = None) -> None:
        self.session = session
        self.effects: list[object] = []  # published after the commit, dropped on rollback
        self._publish = publish
        self._done = False
        session.info[KEY] = self

    async def __aenter__(self) -> UnitOfWork:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None and not self._done:
                await self.commit()
        finally:
            self.effects.clear()  # an error before or in the commit: nothing is published
            await self.session.close()  # rolls back what was not committed

    async def commit(self) -> None:
        """Commit, then publish what the step left (on an AUTOCOMMIT session, whose
        statements committed themselves, only the publishing is left)."""
        await self.session.commit()
        self._done = True
        effects, self.effects = self.effects, []
        if effects and self._publish is not None:
            self._publish(effects)

    async def rollback(self) -> None:
        """Roll back and drop the effects: nothing of this step is published."""
        self.effects.clear()
        await self.session.rollback()
        self._done = True


class Units(async_sessionmaker[AsyncSession]):
    """The sessions of one pool, whose transactions are units of work that hand their
    effects to `publish` (what `hotline.services.Services` holds).

    `unit()` opens one; `begin()`, as SQLAlchemy's factory spells it, yields its session and
    commits on leaving (tests and tools write `async with sessions.begin() as session`).
    Calling the factory gives a bare session, for reads: what it wrote would be published
    by nothing."""

    def __init__(self, engine: AsyncEngine, publish: Publish | None) -> None:
        super().__init__(engine, expire_on_commit=False)
        self.publish = publish

    def unit(self) -> UnitOfWork:
        return UnitOfWork(self(), self.publish)

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncSession]:  # type: ignore[override]
        async with self.unit() as uow:
            yield uow.session


def of(session: AsyncSession) -> UnitOfWork:
    """The unit of work this session belongs to (one that publishes nothing, for a session
    opened without one)."""
    unit: UnitOfWork | None = session.info.get(KEY)
    return unit if unit is not None else UnitOfWork(session)


def outbox(session: AsyncSession) -> list[object]:
    """Effects to publish once this session's transaction commits (dropped on rollback)."""
    return of(session).effects
