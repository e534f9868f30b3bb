"""One snapshot, many watchers: a per-process hub for live pages (server-sent events).

Each browser that watches live calls subscribes here; it never queries the database itself.
While at least one subscriber is connected, one task per process loads the snapshot (one
query for every watcher together), at most once per `floor` seconds: at once after a poke
(a committed unit of work that may have changed what is shown), else every `interval`
seconds (the safety net for what no poke tells this process: another process's commit).
A snapshot equal to the last one is not handed on; a different one is offered to every
subscriber, which keeps only the newest (a slow browser skips snapshots, never queues them).
With nobody subscribed, the task ends and nothing is loaded.

Generic (any comparable snapshot) and free of the rooms it shows, so that any room may use
it; the console builds its own (hotline.console.live).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class Subscription(Generic[T]):
    """One watcher's mailbox: the newest snapshot not yet taken."""

    def __init__(self) -> None:
        self._box: asyncio.Queue[T] = asyncio.Queue(maxsize=1)

    def offer(self, snapshot: T) -> None:
        if self._box.full():
            self._box.get_nowait()  # the older one is stale: keep the newest only
        self._box.put_nowait(snapshot)

    async def next(self, timeout: float | None = None) -> T | None:
        """The next snapshot, or None when `timeout` seconds pass without one."""
        try:
            return await asyncio.wait_for(self._box.get(), timeout)
        except TimeoutError:
            return None


class Hub(Generic[T]):
    def __init__(
        self,
        load: Callable[[], Awaitable[T]],
        *,
        interval: float = 5.0,
        floor: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load, self._interval, self._floor, self._clock = load, interval, floor, clock
        self._subscribers: set[Subscription[T]] = set()
        self._poked = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last: T | None = None

    @property
    def watching(self) -> int:
        return len(self._subscribers)

    def poke(self) -> None:
        """Something may have changed: load again soon (never sooner than `floor`)."""
        if self._subscribers:
            self._poked.set()

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription[T]]:
        sub: Subscription[T] = Subscription()
        self._subscribers.add(sub)
        if self._last is not None:
            sub.offer(self._last)  # what the others see now, at once
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="live hub")
        else:
            self._poked.set()  # a newcomer wants a fresh look, within the floor
        try:
            yield sub
        finally:
            self._subscribers.discard(sub)
            if not self._subscribers:
                self._poked.set()  # the task wakes, sees nobody, and ends

    async def close(self) -> None:
        self._subscribers.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while self._subscribers:
            started = self._clock()
            self._poked.clear()
            await self._refresh()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poked.wait(), self._interval)
            rest = self._floor - (self._clock() - started)
            if rest > 0 and self._subscribers:
                await asyncio.sleep(rest)
        self._last = None  # nobody watches: the next watcher starts from a fresh load

    async def _refresh(self) -> None:
        try:
            snapshot = await self._load()
        except Exception as e:  # a database away: keep the last snapshot, try again later
            log.warning("live snapshot not loaded: %s", type(e).__name__)
            return
        if snapshot == self._last:
            return
        self._last = snapshot
        for sub in list(self._subscribers):
            sub.offer(snapshot)
