"""Twilio in Japan: every REST request (and so every call we place: the callback's two legs)
goes to the configured processing region and edge, Japan's by default
(api.tokyo.jp1.twilio.com); caller IDs of calls to Japanese numbers are Japanese numbers,
never a verified caller ID.

The stand-in is reached through the service's own adapter: the client builds each URL for its
region and edge, and its transport sends it to 127.0.0.1 with the intended host in `Host`,
which the stand-in records for every request (`TwilioApi.hosts`). On SQLite and PostgreSQL.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from hotline.config import ConfigError, parse
from hotline.ivr.rest import TwilioRest
from hotline.ivr.upkeep import reconcile_once
from hotline.services import services_of
from hotline.settings import Settings, SettingsError
from hotline.testing.twilio_api import twilio_api
from tests.conftest import new_sid
from tests.service import test_callback as base
from tests.service.test_callback import ACCOUNT, TOKEN, accepted, booked, free_line, holding

api, app, twilio, busy_lines = base.api, base.app, base.twilio, base.busy_lines
REFUSED = (SettingsError, ValidationError)
TOKYO_JP1 = "api.tokyo.jp1.twilio.com"
RAW = yaml.safe_load((Path(__file__).parents[2] / "config" / "menus.yaml").read_text("utf-8"))


async def test_every_rest_request_and_placed_leg_goes_to_the_tokyo_edge_of_jp1(
    app, api, twilio, busy_lines, clock
) -> None:
    assert (app.state.settings.twilio_region, app.state.settings.twilio_edge) == ("jp1", "tokyo")
    sid = await booked(twilio)
    await free_line(app)  # the counsellor's leg: POST Calls.json
    await accepted(twilio, app, api, "CA" + "c" * 32)  # the caller's leg: POST Calls.json
    assert len(api.created) == 2
    holder = new_sid()
    await holding(twilio, holder, caller="+819033334444")
    api.members[api.queue("hotline-loneliness")] = [holder]
    clock.advance(app.state.settings.reconcile_after_seconds + 60)
    await reconcile_once(services_of(app))  # GET Calls/{sid}.json of open calls
    assert any(r.startswith("GET") for r in api.requests) and sid
    assert len(api.hosts) == len(api.requests) >= 3
    assert set(api.hosts) == {TOKYO_JP1}, api.hosts


async def test_another_region_and_edge_reach_every_request() -> None:
    with twilio_api(ACCOUNT, TOKEN) as stand_in:
        rest = TwilioRest(ACCOUNT, TOKEN, base_url=stand_in.base_url, region="ie1", edge="dublin")
        call = await rest.create_call(
            to="+819011112222", from_="+815055559999", url="https://h/u", status_callback="s"
        )
        await rest.call_status(call.sid)
        await rest.update_call(call.sid, status="canceled")
        await rest.aclose()
    assert stand_in.hosts == ["api.dublin.ie1.twilio.com"] * 3


def test_an_api_key_is_the_regional_credential_when_set() -> None:
    rest = TwilioRest(ACCOUNT, TOKEN, region="jp1", edge="tokyo", api_key="SK1", api_secret="s")
    assert (rest.client.username, rest.client.account_sid) == ("SK1", ACCOUNT)
    assert (rest.client.region, rest.client.edge) == ("jp1", "tokyo")


def test_region_and_edge_default_to_japan_and_go_together(monkeypatch) -> None:
    settings = Settings(env="test")
    assert (settings.twilio_region, settings.twilio_edge) == ("jp1", "tokyo")
    monkeypatch.setenv("HOTLINE_TWILIO_EDGE", "")
    with pytest.raises(REFUSED, match="HOTLINE_TWILIO_REGION and HOTLINE_TWILIO_EDGE"):
        Settings(env="test")
    monkeypatch.setenv("HOTLINE_TWILIO_REGION", "")
    assert Settings(env="test").twilio_region == ""  # both empty: Twilio's US default


def _refused(change: Any) -> str:
    data = copy.deepcopy(RAW)
    change(data)
    with pytest.raises(ConfigError) as e:
        parse(data)
    return str(e.value)


def test_the_config_refuses_a_verified_caller_id_for_japanese_destinations() -> None:
    parse(copy.deepcopy(RAW))  # the shipped file: Twilio Japanese numbers only
    hotline = RAW["caller_id"]
    error = _refused(lambda d: d.update(verified_caller_ids=[hotline]))
    assert "callback.number: +815055559999 is a verified caller ID (verified_caller_ids)" in error

    def pstn_line(d: dict) -> None:  # a line on a Japanese number shows the hotline's caller ID
        d["organisations"][0]["lines"][0]["target"] = "+81312340000"
        d["verified_caller_ids"] = [hotline]

    assert "\n  caller_id: +815055559999 is a verified caller ID" in _refused(pstn_line)

    def org_verified(d: dict) -> None:
        org = next(o for o in d["organisations"] if o["id"] == "inochi")
        org["caller_id"] = "+81312345678"
        org["lines"][0]["target"] = "+81312340000"  # a Japanese number: a domestic call
        d["verified_caller_ids"] = ["+81312345678"]

    assert "organisations.inochi.caller_id: +81312345678 is a verified" in _refused(org_verified)


def test_the_config_refuses_a_foreign_caller_id_for_a_callback() -> None:
    error = _refused(lambda d: d["callback"].update(number="+12025550123"))
    assert "callback.number: calls to Japanese numbers must show a Japanese number" in error
