"""Load shedding for the hold: past a number of hold polls in flight, longer hold segments.

Every holding caller polls the wait URL once per segment, so the polls offered per second
are callers / segment length. When one process has more polls in flight than it answers
comfortably (`busy_polls`), each answer plays a longer segment, in proportion to the excess,
up to `max_seconds`: the offered load falls back instead of piling up until Twilio times
out. A freed line is still taken at once: routing pushes the caller out of the hold (REST
dequeue), it does not wait for the next poll.
"""

from __future__ import annotations

import math

from starlette.types import ASGIApp, Receive, Scope, Send
from twilio.twiml.voice_response import Gather

WAIT_PATH = "/voice/wait"


class HoldLoad:
    """Hold polls in flight in this process, and the segment length they call for."""

    def __init__(self, *, base_seconds: int, busy_polls: int, max_seconds: int) -> None:
        self.base, self.busy, self.max = base_seconds, max(1, busy_polls), max_seconds
        self.in_flight = 0

    def segment_seconds(self) -> int:
        if self.in_flight <= self.busy:
            return self.base
        longer = self.base * math.ceil(self.in_flight / self.busy)
        return max(self.base, min(self.max, longer))


def hold_sound(
    gather: Gather, load: HoldLoad, until_due: int | None, music: str | None, music_seconds: int
) -> None:
    """A hold segment's music (`music`, a URL, `music_seconds` long) or pause, ending by the
    next announcement (`until_due` seconds; None: no bound). Twilio cannot cut a <Play>
    short, so the music plays only when it fits, looped as many times as fit (a short clip
    fills the time); a longer track is not played and the segment is a pause. Pauses are
    `load`'s length, never past the next announcement."""
    if music is not None and (until_due is None or music_seconds <= until_due):
        loops = 1 if until_due is None else until_due // music_seconds
        if loops > 1:  # never loop=0: Twilio repeats that forever
            gather.play(music, loop=loops)
        else:
            gather.play(music)
        return
    pause = load.segment_seconds()
    gather.pause(length=pause if until_due is None else max(1, min(pause, until_due)))


class HoldLoadCounter:
    """ASGI middleware: counts requests to the wait URL while they are being answered."""

    def __init__(self, app: ASGIApp, load: HoldLoad) -> None:
        self.app, self.load = app, load

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != WAIT_PATH:
            await self.app(scope, receive, send)
            return
        self.load.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.load.in_flight -= 1
