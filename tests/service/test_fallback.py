"""Twilio's fallback URL and its whisper: served with no database at all."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from hotline.app import create_app
from hotline.config import HotlineConfig
from tests.conftest import CALLER, PUBLIC, Twilio, make_settings, new_sid, says

# Nothing listens there: any query would fail. The lifespan (which connects) never runs.
NO_DATABASE = "postgresql+asyncpg://nobody@127.0.0.1:9/none"


@pytest.fixture
async def twilio(cfg: HotlineConfig) -> AsyncIterator[Twilio]:
    app = create_app(make_settings(NO_DATABASE), cfg)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield Twilio(c)


def sisc(cfg: HotlineConfig) -> list[str]:
    return [line.target for line in cfg.org(cfg.backup_org).lines]


async def test_the_backup_lines_ring_one_after_another_with_a_whisper(twilio, cfg) -> None:
    sid = new_sid()
    menu = await twilio.call("/voice/fallback", sid, ErrorCode="11200")
    doc = await twilio.call(menu.find("Gather").get("action"), sid, Digits="8")
    rung = []
    while (dial := doc.find("Dial")) is not None:
        (line,) = list(dial)
        assert line.get("url") == f"{PUBLIC}/voice/fallback-whisper"
        assert dial.get("callerId") == cfg.caller_id_for(None)
        rung.append(line.text)
        # Nobody pressed 1 (voicemail): the whisper hung up, Twilio still says completed.
        doc = await twilio.call(
            dial.get("action"), sid, DialCallStatus="completed", DialBridged="false"
        )
    assert rung == sisc(cfg)
    # No clock we trust without the database: only a line open round the clock is named.
    assert "0120-279-338" in "".join(says(doc)) and doc[-1].tag == "Hangup"


@pytest.mark.parametrize("bridged", ["true", None])
async def test_a_conversation_is_not_followed_by_the_next_line(twilio, bridged) -> None:
    extra = {"DialBridged": bridged} if bridged else {}
    url = "/voice/fallback?step=after-dial&i=0"
    doc = await twilio.call(url, new_sid(), DialCallStatus="completed", **extra)
    assert len(doc) == 0  # the call ends with the conversation


async def test_the_counsellor_takes_a_fallback_call_by_pressing_1(twilio) -> None:
    leg = new_sid()
    whisper = await twilio.call("/voice/fallback-whisper", leg)
    assert "1を押して" in "".join(says(whisper)) and whisper[-1].tag == "Hangup"
    accept = whisper.find("Gather").get("action")
    assert len(await twilio.call(accept, leg, Digits="1")) == 0  # empty: Twilio bridges
    refused = await twilio.call(accept, leg, Digits="2")
    assert refused[-1].tag == "Hangup"


async def test_the_callers_number_is_never_in_the_fallback_twiml(twilio) -> None:
    sid, bodies = new_sid(), []
    for path, extra in [
        ("/voice/fallback", {}),
        ("/voice/fallback?step=chosen", {"Digits": "8"}),
        ("/voice/fallback?step=after-dial&i=0", {"DialCallStatus": "no-answer"}),
        ("/voice/fallback-whisper", {}),
    ]:
        resp = await twilio.post(path, CallSid=sid, From=CALLER, To="+815055559999", **extra)
        assert resp.status_code == 200
        bodies.append(resp.text)
    assert not [b for b in bodies if CALLER in b or CALLER[1:] in b]


async def test_an_unsigned_fallback_request_is_refused(twilio) -> None:
    resp = await twilio.client.post("/voice/fallback", data={"CallSid": new_sid()})
    assert resp.status_code == 403
