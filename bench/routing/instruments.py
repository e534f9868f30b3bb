"""How a pass is timed step by step without changing it, and the garbage collections
that fall inside the timed passes."""

from __future__ import annotations

import datetime as dt
import gc
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from unittest import mock

from hotline.config import HotlineConfig
from hotline.routing import engine, sweeps
from hotline.routing.store import Router

STEPS = ("expire", "free lines", "waiting calls", "engine", "updates")


class GcWatch:
    """Counts full (generation 2) garbage collections that start while `timing` is set."""

    def __init__(self) -> None:
        self.timing, self.full = False, 0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if self.timing and phase == "start" and info["generation"] == 2:
            self.full += 1

    @contextmanager
    def timed(self, counted: bool = True) -> Iterator[None]:
        self.timing = counted
        try:
            yield
        finally:
            self.timing = False

    @contextmanager
    def installed(self) -> Iterator[GcWatch]:
        gc.callbacks.append(self)
        try:
            yield self
        finally:
            gc.callbacks.remove(self)


class Patches:
    """Several `mock.patch` objects entered and left as one."""

    def __init__(self, *patches: Any) -> None:
        self.patches = patches

    def __enter__(self) -> None:
        for p in self.patches:
            p.start()

    def __exit__(self, *exc: object) -> None:
        for p in reversed(self.patches):
            p.stop()


class TimedRouter:
    """Router.assign with its steps timed, unchanged: a subclass made here, and the engine
    function wrapped while `patch` is active."""

    def __init__(self, cfg: HotlineConfig, **kw: int) -> None:
        self.current: dict[str, float] = {}  # step -> seconds, in the pass under way
        self.handed = 0  # waiting calls handed to the engine in the pass under way
        current = self.current

        def timed(name: str, method: Any) -> Any:
            async def run(*a: Any, **k: Any) -> Any:
                start = time.perf_counter()
                try:
                    return await method(*a, **k)
                finally:
                    current[name] = current.get(name, 0.0) + time.perf_counter() - start

            return run

        class Timed(Router):
            _free_lines = timed("free lines", Router._free_lines)
            _waiting = timed("waiting calls", Router._waiting)

        pure = engine.assign

        def timed_engine(
            calls: Sequence[engine.WaitingCall],
            lines: Sequence[engine.FreeLine],
            table: Mapping[str, engine.OptionRouting],
            now: dt.datetime,
        ) -> list[engine.Reservation]:
            start = time.perf_counter()
            try:
                return pure(calls, lines, table, now)
            finally:
                current["engine"] = current.get("engine", 0.0) + time.perf_counter() - start
                self.handed = len(calls)

        self.router = Timed(cfg, **kw)
        self.patch = Patches(
            mock.patch.object(engine, "assign", timed_engine),
            mock.patch.object(sweeps, "expire", timed("expire", sweeps.expire)),
        )

    def start(self) -> None:
        self.current.clear()
        self.handed = 0
