"""The hold's segment length through HTTP: long where a freed line is pushed to the caller,
longer when a process is overloaded, never an error."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
from sqlalchemy import update

from hotline.app import create_app
from hotline.config import HotlineConfig
from hotline.lines.models import Line
from hotline.settings import Settings
from hotline.testing.secrets import TEST_TOKEN
from hotline.testing.twilio_api import TwilioApi, twilio_api
from tests.conftest import Clock, Twilio, make_settings, new_sid, occupy_all_lines


@pytest.mark.usefixtures("busy")
async def test_an_overloaded_process_plays_longer_hold_segments(twilio: Twilio, app, sid) -> None:
    settings = app.state.settings
    normal = await twilio.call("/voice/wait?o=gender&n=1", sid)
    assert normal.find("Gather/Pause").get("length") == str(settings.hold_segment_seconds)
    # As if three times the comfortable number of other polls were being answered now.
    app.state.hold_load.in_flight = 3 * settings.hold_busy_polls
    try:
        busy = await twilio.call("/voice/wait?o=gender&n=2", sid)
    finally:
        app.state.hold_load.in_flight = 0
    assert int(busy.find("Gather/Pause").get("length")) > settings.hold_segment_seconds
    assert busy[-1].tag == "Redirect"  # still a hold, not an error or a hang-up


ACCOUNT = "AC" + "3" * 32
TOKEN = "stand-in-token"


@pytest.fixture
def api() -> Iterator[TwilioApi]:
    with twilio_api(ACCOUNT, TOKEN) as stand_in:
        yield stand_in


@asynccontextmanager
async def serving(settings: Settings, cfg: HotlineConfig, clock: Clock, token: str):  # type: ignore[no-untyped-def]
    """The app with every line talking, and a Twilio signing with `token`."""
    quiet = cfg.model_copy(update={"hold": cfg.hold.model_copy(update={"music": None})})
    app = create_app(settings, quiet, clock=clock)
    async with app.router.lifespan_context(app):
        await occupy_all_lines(app)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield app, Twilio(c, token)


def pushed_settings(db_url: str, api: TwilioApi) -> Settings:
    return make_settings(
        db_url, TWILIO_ACCOUNT_SID=ACCOUNT, TWILIO_AUTH_TOKEN=TOKEN, twilio_api_base=api.base_url
    )


async def test_where_a_freed_line_is_pushed_the_hold_polls_six_times_less(
    db_url: str, cfg: HotlineConfig, clock: Clock, api: TwilioApi
) -> None:
    pushed, polled = pushed_settings(db_url, api), make_settings(db_url)
    for settings, token, seconds in ((pushed, TOKEN, "30"), (polled, TEST_TOKEN, "5")):
        async with serving(settings, cfg, clock, token) as (_, twilio):
            doc = await twilio.call("/voice/wait?o=gender&n=1", new_sid())
            assert doc.find("Gather/Pause").get("length") == seconds  # type: ignore[union-attr]


async def test_a_caller_between_two_long_segments_keeps_their_turn(
    db_url: str, cfg: HotlineConfig, clock: Clock, api: TwilioApi
) -> None:
    async with serving(pushed_settings(db_url, api), cfg, clock, TOKEN) as (app, twilio):
        sid = new_sid()
        await twilio.call("/voice/incoming", sid)
        await twilio.call("/voice/menu?m=period-5&t=1", sid, Digits="8")  # loneliness
        await twilio.call("/voice/wait?o=loneliness&n=1", sid)
        api.members[api.queue("hotline-loneliness")] = [sid]
        clock.advance(45)  # in the middle of their 30 s pause and what is said around it
        async with app.state.sessions.begin() as s:
            line = update(Line).where(Line.id == "inochi-01")
            await s.execute(line.values(call_id=None, status="ready"))
            await app.state.router.assign(s, clock())
        await app.state.pushes.drain()
        assert [(queue, who) for queue, who, _ in api.dequeued] == [("hotline-loneliness", sid)]
