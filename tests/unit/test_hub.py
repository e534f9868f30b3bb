"""The live hub: one load serves every watcher; nothing is loaded while nobody watches; an
unchanged snapshot is not sent again; a slow watcher keeps only the newest. Driven by pokes,
never by waiting for the clock (the interval is an hour, the floor nothing)."""

from __future__ import annotations

import asyncio

from hotline.common.hub import Hub

WAIT = 10.0  # a bound on a hang, never a measure


class Source:
    """The database, as the hub sees it: a value, and how often it was read."""

    def __init__(self) -> None:
        self.value = 0
        self.reads = 0
        self.fail = False

    async def load(self) -> int:
        self.reads += 1
        if self.fail:
            raise ConnectionError("the database is away")
        return self.value


def hub_of(source: Source) -> Hub[int]:
    return Hub(source.load, interval=3600, floor=0)


async def test_nothing_is_loaded_while_nobody_watches() -> None:
    source = Source()
    hub = hub_of(source)
    hub.poke()
    await asyncio.sleep(0)
    assert source.reads == 0 and hub.watching == 0


async def test_one_load_serves_every_watcher() -> None:
    source = Source()
    hub = hub_of(source)
    async with hub.subscribe() as a, hub.subscribe() as b:
        assert await a.next(WAIT) == 0
        assert await b.next(WAIT) == 0
        reads = source.reads
        source.value = 1
        hub.poke()
        assert await a.next(WAIT) == 1
        assert await b.next(WAIT) == 1
        assert source.reads == reads + 1  # one read for both
    await hub.close()


async def test_an_unchanged_snapshot_is_not_sent_again() -> None:
    source = Source()
    hub = hub_of(source)
    async with hub.subscribe() as sub:
        assert await sub.next(WAIT) == 0
        reads = source.reads
        hub.poke()
        while source.reads == reads:  # the poked load happens
            await asyncio.sleep(0)
        assert await sub.next(0) is None
    await hub.close()


async def test_a_slow_watcher_keeps_only_the_newest() -> None:
    source = Source()
    hub = hub_of(source)
    async with hub.subscribe() as slow:
        assert await slow.next(WAIT) == 0
        for value in (1, 2, 3):
            source.value = value
            reads = source.reads
            hub.poke()
            while source.reads == reads:
                await asyncio.sleep(0)
        assert await slow.next(WAIT) == 3
        assert await slow.next(0) is None
    await hub.close()


async def test_a_failed_load_keeps_the_last_snapshot_and_tries_again() -> None:
    source = Source()
    hub = hub_of(source)
    async with hub.subscribe() as sub:
        assert await sub.next(WAIT) == 0
        source.fail = True
        reads = source.reads
        hub.poke()
        while source.reads == reads:
            await asyncio.sleep(0)
        source.fail, source.value = False, 5
        hub.poke()
        assert await sub.next(WAIT) == 5
    await hub.close()


async def test_the_hub_stops_loading_when_the_last_watcher_leaves() -> None:
    source = Source()
    hub = hub_of(source)
    async with hub.subscribe() as sub:
        assert await sub.next(WAIT) == 0
    task = hub._task
    assert task is not None
    await asyncio.wait_for(task, WAIT)  # it ends by itself
    reads = source.reads
    hub.poke()
    await asyncio.sleep(0)
    assert source.reads == reads
    async with hub.subscribe() as again:  # a newcomer starts it again, from a fresh load
        assert await again.next(WAIT) == 0
    await hub.close()
