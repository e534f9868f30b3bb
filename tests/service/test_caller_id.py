"""The caller's number stays with us: every forwarded leg shows the hotline's number."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from sqlalchemy import update

from hotline.lines.models import Line
from tests.conftest import CALLER, NUMBER_9999, Twilio, new_sid


async def test_a_forwarded_call_shows_the_hotline_number_and_never_the_callers(
    twilio: Twilio, app, sid: str
) -> None:
    async with app.state.sessions.begin() as s:
        await s.execute(update(Line).values(status="offline"))
        await s.execute(update(Line).where(Line.id == "inochi-01").values(status="ready"))
    bodies: list[str] = []

    async def step(url: str, call_sid: str = sid, **params: str):  # type: ignore[no-untyped-def]
        doc = await twilio.call(url, call_sid, **params)
        bodies.append(ET.tostring(doc, encoding="unicode"))
        return doc

    doc = await step("/voice/incoming")
    doc = await step(doc.find("Gather").get("action"), Digits="8")
    enqueue = doc.find("Enqueue")
    assert (await step(enqueue.get("waitUrl")))[0].tag == "Leave"
    dial_doc = await step(enqueue.get("action"), QueueResult="leave")
    dial = dial_doc.find("Dial")
    assert dial is not None and dial.get("callerId") == NUMBER_9999
    whisper = await step(dial[0].get("url"), new_sid())
    assert "1を押して" in "".join(s.text or "" for s in whisper.iter("Say"))
    assert not [b for b in bodies if CALLER in b or CALLER.lstrip("+") in b]
