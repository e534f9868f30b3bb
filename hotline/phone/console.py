"""The console's side of the terminal phone: the service's JSON API under `/api`
(docs/conference.md), asked with an API key as a counsellor's or a supervisor's console
asks it. A key is sent in `Authorization: Bearer` and never printed: the phone names a key
by its id at most.

Where the keys come from is the caller's choice (`Keys`): the one in HOTLINE_API_KEY, or,
for a development service, keys made for the call in its database and revoked after it
(`hotline.cli`, which may touch the database; this module only speaks HTTP).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

POLL_EVERY = 0.2
WAIT_AT_MOST = 30.0  # seconds for the service to show a connected call on its live list


class Keys(Protocol):
    async def key(self, org_id: str, role: str) -> tuple[str, str]:
        """An API key of that organisation and role, and how to name it on screen (never
        the key itself)."""
        ...

    async def close(self) -> None:
        """Done with the keys (keys made for the call are revoked)."""
        ...


class NoKey(Exception):
    """No key can be had: the message says what to do."""


@dataclass(frozen=True)
class GivenKey:
    """The key in HOTLINE_API_KEY, for every organisation and role asked for: the service
    says whether it may."""

    secret: str

    async def key(self, org_id: str, role: str) -> tuple[str, str]:
        return self.secret, "the key in HOTLINE_API_KEY"

    async def close(self) -> None:
        return None


@dataclass
class MadeKeys:
    """Keys made for the call in a development service's database (`make(org, role)`: its id
    and the key), one per organisation and role, revoked by `close`: the database is the one
    HOTLINE_DATABASE_URL names, as for `hotline keys create`, so the phone must share the
    service's settings."""

    make: Callable[[str, str], Awaitable[tuple[int, str]]]
    revoke: Callable[[list[int]], Awaitable[None]]
    made: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)

    async def key(self, org_id: str, role: str) -> tuple[str, str]:
        if (org_id, role) not in self.made:
            try:
                self.made[org_id, role] = await self.make(org_id, role)
            except Exception as e:  # the database's own errors, which the phone does not import
                raise NoKey(
                    f"no API key could be made in HOTLINE_DATABASE_URL's database "
                    f"({type(e).__name__}): run the phone with the service's settings, or set "
                    f"HOTLINE_API_KEY to a key of role {role} of {org_id} (hotline keys create)"
                ) from None
        key_id, secret = self.made[org_id, role]
        return secret, f"API key {key_id}, made for this call, revoked after it"

    async def close(self) -> None:
        if self.made:
            await self.revoke([key_id for key_id, _ in self.made.values()])
            self.made.clear()


class Refused(Exception):
    """The service refused an action: its status and what it said."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(f"{status}: {said(detail)}")
        self.status, self.detail = status, detail

    @property
    def context(self) -> dict[str, Any]:
        return self.detail if isinstance(self.detail, dict) else {}


def said(detail: Any) -> str:
    """A refusal's words: FastAPI's `detail`, a string, an object with `message`, or a list
    of field errors."""
    if isinstance(detail, str):
        return detail
    if isinstance(detail, dict):
        return str(detail.get("message") or detail.get("error") or detail)
    if isinstance(detail, list):
        return "; ".join(f"{'.'.join(map(str, e.get('loc', [])))}: {e.get('msg')}" for e in detail)
    return str(detail)


class ConsoleApi:
    """One console (a key) talking to the service's JSON API."""

    def __init__(
        self, client: httpx.AsyncClient, base: str, secret: str, who: str, org_id: str
    ) -> None:
        self.client, self.base, self.who, self.org_id = client, base.rstrip("/"), who, org_id
        self._headers = {"Authorization": f"Bearer {secret}"}

    async def ask(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        resp = await self.client.request(
            method, f"{self.base}/api{path}", json=body, headers=self._headers
        )
        try:
            answer = resp.json() if resp.content else None
        except ValueError:
            answer = resp.text
        if resp.status_code >= 400:
            detail = answer.get("detail") if isinstance(answer, dict) else answer
            raise Refused(resp.status_code, detail)
        return answer

    async def call_on(self, line_id: str, wait: float = WAIT_AT_MOST) -> dict[str, Any]:
        """The live call on that line, as `GET /api/live` lists it, once it is there."""
        give_up = time.monotonic() + wait
        while True:
            for call in await self.ask("GET", "/live"):
                if call.get("line_id") == line_id:
                    return dict(call)
            if time.monotonic() > give_up:
                raise Refused(404, f"no live call on line {line_id} in GET /api/live")
            await asyncio.sleep(POLL_EVERY)  # a poll interval, not a wait for anything timed

    async def card(self, call_id: int) -> dict[str, Any]:
        return dict(await self.ask("GET", f"/calls/{call_id}/conference"))
