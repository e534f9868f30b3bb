"""Load shedding on the hold: more polls in flight than a process answers comfortably make
the next hold segments longer, in proportion, up to a cap."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import httpx
from starlette.types import Receive, Scope, Send

from hotline.config import HotlineConfig
from hotline.ivr.hold_load import HoldLoad, HoldLoadCounter
from hotline.ivr.twiml import Renderer, Urls
from hotline.voice.flow import Hold


def pause_of(render: Renderer) -> int:
    doc = ET.fromstring(render.hold(Hold("loneliness", None, segment=1, ahead=None)).to_xml())
    pause = doc.find("Gather/Pause")
    assert pause is not None
    return int(pause.get("length", "0"))


def test_segments_lengthen_with_the_polls_in_flight_up_to_the_cap(cfg: HotlineConfig) -> None:
    load = HoldLoad(base_seconds=5, busy_polls=100, max_seconds=30)
    render = Renderer(cfg, Urls("https://h.example"), 5, load)
    lengths = {}
    for in_flight in (0, 100, 101, 250, 10_000):
        load.in_flight = in_flight
        lengths[in_flight] = pause_of(render)
    assert lengths == {0: 5, 100: 5, 101: 10, 250: 15, 10_000: 30}


def test_without_a_counter_segments_keep_their_length(cfg: HotlineConfig) -> None:
    assert pause_of(Renderer(cfg, Urls("https://h.example"), 7)) == 7


async def test_the_counter_counts_hold_polls_only_while_they_are_answered() -> None:
    load = HoldLoad(base_seconds=5, busy_polls=10, max_seconds=60)
    during: dict[str, int] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        during[scope["path"]] = load.in_flight
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    transport = httpx.ASGITransport(app=HoldLoadCounter(app, load))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        await client.post("/voice/wait?o=loneliness&n=1")
        await client.post("/voice/incoming")
    assert during == {"/voice/wait": 1, "/voice/incoming": 0}
    assert load.in_flight == 0
