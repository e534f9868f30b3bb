"""The hold announces by the caller's time in the queue, not by segment count.

Each poll is a signed `waitUrl` request as Twilio makes it: the URL the last segment's
`<Redirect>` named, with `QueueTime` (seconds in the queue). With pushes (the REST stand-in),
so that music may play. Whatever the music's length, the place in line, the callback offer
and the staffing check come every `hold.announce_every_seconds` (60) of QueueTime, and the
maximum wait's choice at the first poll at or after its minute.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import update

from hotline.app import create_app
from hotline.config import HotlineConfig
from hotline.lines.models import Line
from hotline.testing.twilio_api import TwilioApi, twilio_api
from tests.conftest import PUBLIC, Clock, Twilio, make_settings, new_sid, says, talking_on

ACCOUNT = "AC" + "3" * 32
TOKEN = "stand-in-token"
PLACE = "前に"  # 「現在、あなたの前に{ahead}人の方が…」
NEXT = "次はあなたの番です"
OFFER = "こちらからお電話"


@pytest.fixture
def api() -> Iterator[TwilioApi]:
    with twilio_api(ACCOUNT, TOKEN) as stand_in:
        yield stand_in


@pytest.fixture(params=[300, 20], ids=["long-track", "short-clip"])
def music_seconds(request: pytest.FixtureRequest) -> int:
    return int(request.param)


@pytest.fixture
async def app(  # type: ignore[no-untyped-def]
    db_url: str, cfg: HotlineConfig, clock: Clock, api: TwilioApi, music_seconds: int
) -> AsyncIterator[Any]:
    hold = cfg.hold.model_copy(update={"music_seconds": music_seconds})
    settings = make_settings(
        db_url, TWILIO_ACCOUNT_SID=ACCOUNT, TWILIO_AUTH_TOKEN=TOKEN, twilio_api_base=api.base_url
    )
    application = create_app(settings, cfg.model_copy(update={"hold": hold}), clock=clock)
    async with application.router.lifespan_context(application):
        await talking_on(application)  # every line busy: callers hold
        yield application


@pytest.fixture
def twilio(client) -> Twilio:  # type: ignore[no-untyped-def]
    return Twilio(client, TOKEN)


class Holder:
    """One holding caller, polling as Twilio does: each poll the last segment's Redirect."""

    def __init__(self, twilio: Twilio, key: str, option: str, caller: str) -> None:
        self.twilio, self.sid, self.caller = twilio, new_sid(), caller
        self.key, self.next = key, f"/voice/wait?o={option}&n=1"

    async def join(self) -> None:
        await self.twilio.call("/voice/incoming", self.sid, From=self.caller)
        await self.twilio.call("/voice/menu?m=period-5&t=1", self.sid, Digits=self.key)

    async def poll(self, queue_time: int) -> ET.Element:
        doc = await self.twilio.call(
            self.next, self.sid, From=self.caller, QueueTime=str(queue_time)
        )
        return self._follow(doc)

    async def press(self, doc: ET.Element, key: str) -> ET.Element:
        """A key in the document's Gather (Twilio posts no QueueTime to a Gather's action)."""
        action = (doc.find(".//Gather").get("action") or "").removeprefix(PUBLIC)
        return self._follow(await self.twilio.call(action, self.sid, From=self.caller, Digits=key))

    def _follow(self, doc: ET.Element) -> ET.Element:
        redirect = doc.find("Redirect")
        if redirect is not None and redirect.text:
            self.next = redirect.text.removeprefix(PUBLIC)
        return doc


def heard(doc: ET.Element, words: str) -> bool:
    return any(words in s for s in says(doc))


def sound_seconds(doc: ET.Element, music_seconds: int) -> int:
    """How long the segment's music or pause lasts."""
    play, pause = doc.find("Gather/Play"), doc.find("Gather/Pause")
    if play is not None:
        return music_seconds * int(play.get("loop") or 1)
    assert pause is not None
    return int(pause.get("length") or 1)


async def test_the_place_in_line_and_the_offer_come_every_minute_whatever_the_music(
    twilio: Twilio, music_seconds: int
) -> None:
    first = Holder(twilio, "8", "loneliness", "+819011112222")
    caller = Holder(twilio, "8", "loneliness", "+819033334444")
    await first.join()
    await caller.join()
    times = [0, 25, 50, 65, 95, 128, 150, 190]
    segments = [await caller.poll(t) for t in times]
    placed = [t for t, doc in zip(times, segments, strict=True) if heard(doc, PLACE)]
    offered = [t for t, doc in zip(times, segments, strict=True) if heard(doc, OFFER)]
    # Every 60 s of QueueTime: at 0, then 65 (60 after 0), then 128 (63 after 65), then 190.
    # The place in line (1 before them, unchanged) is said again every 180 s: 0, 190.
    assert offered == [0, 65, 128, 190]
    assert placed == [0, 190]
    for t, doc in zip(times, segments, strict=True):
        last = max(a for a in offered if a <= t)
        # No segment's sound runs past the next announcement: a long track is not played.
        assert t + sound_seconds(doc, music_seconds) <= last + 60
        assert (doc.find("Gather/Play") is not None) == (
            music_seconds == 20 and t + 20 <= last + 60
        )


async def test_a_place_that_moves_is_said_at_the_next_announcement_and_the_lines_checked(
    twilio: Twilio, app: Any
) -> None:
    first = Holder(twilio, "8", "loneliness", "+819011112222")
    caller = Holder(twilio, "8", "loneliness", "+819033334444")
    await first.join()
    await caller.join()
    assert heard(await caller.poll(0), "1人")
    await twilio.post("/voice/status", CallSid=first.sid, CallStatus="completed")  # hung up
    assert not heard(await caller.poll(30), PLACE)  # between announcements: nothing said
    assert heard(await caller.poll(61), NEXT)  # the next: it moved, so said
    # The staffing check comes with it: every line goes off duty; the poll between
    # announcements does not look, the next one does and the caller hears the closed words.
    async with app.state.sessions.begin() as s:
        await s.execute(update(Line).values(status="offline", call_id=None))
    between = await caller.poll(90)
    assert between.find("Gather") is not None and between.find("Hangup") is None
    due = await caller.poll(122)
    assert heard(due, "おつなぎできません") and due.find("Hangup") is not None


async def test_the_maximum_wait_choice_comes_at_the_first_poll_at_or_after_its_minute(
    twilio: Twilio, music_seconds: int
) -> None:
    caller = Holder(twilio, "4", "gender", "+819033334444")  # gender: 600 s
    await caller.join()
    t, polls, choices = 0, [], []
    while t <= 700:
        doc = await caller.poll(t)
        polls.append(t)
        if "step=choice" in (doc.find("Gather").get("action") or ""):
            choices.append(t)
        t += sound_seconds(doc, music_seconds) + 3  # and what is said, a few seconds
    first_after = min(p for p in polls if p >= 600)
    assert choices == [first_after]  # once, at the first poll at or after 600 s
    assert first_after <= 603  # the segment before it ended at its minute, not a track late


async def test_a_caller_who_declines_the_callback_is_not_offered_it_again_at_once(
    twilio: Twilio,
) -> None:
    caller = Holder(twilio, "8", "loneliness", "+819033334444")
    await caller.join()
    first = await caller.poll(0)
    assert heard(first, OFFER)
    terms = await caller.press(first, "1")  # the callback key: what it means, then confirm
    kept = await caller.press(terms, "9")  # not confirmed: back to the hold, place kept
    assert kept.find("Hangup") is None and "k=1" in caller.next
    assert not heard(await caller.poll(20), OFFER)  # not again at once
    assert not heard(await caller.poll(50), OFFER)
    assert heard(await caller.poll(80), OFFER)  # a minute after the key was answered
