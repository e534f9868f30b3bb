"""A per-client limit on login attempts, in this process's memory.

Fixed windows on the app's clock (tests move it instead of sleeping). Each instance counts
its own clients: with N instances a client gets at most N times the limit, which still
bounds a flood; the per-account lock-out (accounts.Lockout) counts across instances.
"""

from __future__ import annotations

import datetime as dt

MAX_CLIENTS = 10_000  # past this many tracked clients, old windows are dropped first


class RateLimiter:
    def __init__(self, per_window: int, *, window_seconds: int) -> None:
        self.limit, self.window = per_window, window_seconds
        self._hits: dict[str, tuple[int, int]] = {}  # client -> (window number, hits)

    def allow(self, client: str, now: dt.datetime) -> bool:
        """Count one attempt by `client`; False when it is over the limit of this window."""
        window = int(now.timestamp()) // self.window
        seen, hits = self._hits.get(client, (window, 0))
        hits = hits + 1 if seen == window else 1
        self._hits[client] = (window, hits)
        if len(self._hits) > MAX_CLIENTS:
            self._forget(window)
        return hits <= self.limit

    def _forget(self, window: int) -> None:
        self._hits = {c: v for c, v in self._hits.items() if v[0] == window}
