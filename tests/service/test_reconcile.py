"""Reconciliation: no line is held by a call that has ended, even when its end was never heard.

Twilio's REST API is the local stand-in (`hotline.testing.twilio_api`), reached through the
service's own adapter (twilio's Client) by its base URL: the production code path.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import select

from hotline.app import create_app
from hotline.calls.models import Call
from hotline.common.audit import Actor, AuditEntry
from hotline.ivr.upkeep import reconcile_once
from hotline.lines.models import Line
from hotline.routing import operator
from hotline.services import services_of
from hotline.testing.twilio_api import TwilioApi, twilio_api
from tests.conftest import Clock, make_settings, talking_on

ACCOUNT = "AC" + "1" * 32
HOUR = 3600


@pytest.fixture
def api() -> Iterator[TwilioApi]:
    with twilio_api(ACCOUNT, "stand-in-token") as stand_in:
        yield stand_in


@pytest.fixture
async def app(db_url: str, cfg, clock: Clock, api: TwilioApi) -> AsyncIterator[object]:  # type: ignore[no-untyped-def]
    settings = make_settings(
        db_url,
        TWILIO_ACCOUNT_SID=ACCOUNT,
        TWILIO_AUTH_TOKEN="stand-in-token",
        twilio_api_base=api.base_url,
        reconcile_after_seconds=HOUR,
        max_talk_seconds=4 * HOUR,
    )
    application = create_app(settings, cfg, clock=clock)
    async with application.router.lifespan_context(application):
        yield application


async def _state(app, sid: str) -> tuple[str, str | None]:  # type: ignore[no-untyped-def]
    async with app.state.sessions() as s:
        call = (await s.execute(select(Call).where(Call.call_sid == sid))).scalar_one()
        return call.state, call.line_id


async def _holder(app, line_id: str) -> int | None:  # type: ignore[no-untyped-def]
    async with app.state.sessions() as s:
        line = await s.get(Line, line_id)
        assert line is not None
        return line.call_id


async def test_a_call_twilio_says_is_over_is_ended_and_its_line_freed(app, api, clock) -> None:
    sid = await talking_on(app, "inochi-01")  # its dial result and status callback were lost
    api.statuses[sid] = "completed"
    clock.advance(HOUR - 60)
    assert await reconcile_once(services_of(app)) == 0  # too recent to ask about
    clock.advance(120)
    assert await reconcile_once(services_of(app)) == 1
    assert await _state(app, sid) == ("completed", None)
    assert await _holder(app, "inochi-01") is None
    assert any(sid in path for path in api.requests)  # asked Twilio, with our account
    assert await reconcile_once(services_of(app)) == 0  # ended once


async def test_a_long_conversation_twilio_confirms_is_left_alone(app, api, clock) -> None:
    sid = await talking_on(app, "inochi-01")
    api.statuses[sid] = "in-progress"
    clock.advance(5 * HOUR)  # past the maximum length, but Twilio says it goes on
    assert await reconcile_once(services_of(app)) == 0
    assert await _state(app, sid) == ("connected", "inochi-01")


async def test_without_twilio_the_maximum_conversation_length_frees_the_line(
    app, api, clock
) -> None:
    sid = await talking_on(app, "inochi-01")
    api.down = True
    clock.advance(2 * HOUR)
    assert await reconcile_once(services_of(app)) == 0  # no answer, but within the maximum: kept
    clock.advance(2 * HOUR + 60)
    assert await reconcile_once(services_of(app)) == 1
    assert await _state(app, sid) == ("completed", None)
    assert await _holder(app, "inochi-01") is None


async def test_an_operator_frees_a_line_and_it_is_audited(app, clock) -> None:
    sid = await talking_on(app, "inochi-01")
    now = clock()
    async with app.state.sessions.begin() as s:
        ended = await operator.free_line(
            s, app.state.router, line_id="inochi-01", who=Actor.console(), now=now
        )
    assert ended == sid
    assert await _state(app, sid) == ("completed", None)
    assert await _holder(app, "inochi-01") is None
    async with app.state.sessions() as s:
        entries = (await s.execute(select(AuditEntry))).scalars().all()
    assert [(e.action, e.entity_id) for e in entries] == [("line.free", "inochi-01")]


async def test_an_operator_ends_a_call_in_its_true_state(app, clock) -> None:
    from tests.conftest import new_sid

    sid = new_sid()
    async with app.state.sessions.begin() as s:
        from hotline.testing.rows import call_row

        s.add(Call(**call_row(clock(), call_sid=sid, state="menu")))
    async with app.state.sessions.begin() as s:
        state = await operator.end_call(
            s, app.state.router, call_sid=sid, who=Actor.console(), now=clock() + dt.timedelta(1)
        )
    assert state == "abandoned"  # it never reached a counsellor: not a completed call


async def test_a_stale_hold_is_released_and_the_line_is_ready_again(app, clock) -> None:
    """A line still marked with a call that ended elsewhere: freed, and offered again."""
    from sqlalchemy import update

    sid = await talking_on(app, "inochi-01")
    async with app.state.sessions.begin() as s:
        await s.execute(update(Call).where(Call.call_sid == sid).values(state="abandoned"))
        await s.execute(update(Line).where(Line.id == "inochi-01").values(status="reserved"))
    async with app.state.sessions.begin() as s:
        ended = await operator.free_line(
            s, app.state.router, line_id="inochi-01", who=Actor.console(), now=clock()
        )
    assert ended is None  # no call of ours was still open on it
    async with app.state.sessions() as s:
        line = await s.get(Line, "inochi-01")
        assert line is not None
        assert (line.call_id, line.status) == (None, "ready")


async def test_a_conversation_is_asked_about_before_a_long_queue_of_older_callers(
    app, api, clock
) -> None:
    """A queue of callers longer than a round's batch, all older than the conversation: the
    conversation (which only reconciliation can free) is still asked about in the first round."""
    from hotline.ivr.upkeep import BATCH
    from hotline.testing.rows import call_row

    async with app.state.sessions.begin() as s:
        for _ in range(BATCH + 1):
            s.add(Call(**call_row(clock(), state="waiting", last_seen_at=clock())))
    clock.advance(60)
    sid = await talking_on(app, "inochi-01")
    api.statuses[sid] = "completed"
    clock.advance(HOUR + 60)
    assert await reconcile_once(services_of(app)) == 1
    assert await _state(app, sid) == ("completed", None)


async def test_a_line_held_past_the_talk_bound_is_exported_until_it_is_freed(
    app, api, clock
) -> None:
    """Without an answer from Twilio: the gauge the alert watches shows the held line past
    the bound, and drops to 0 once reconciliation ends the conversation."""
    import httpx

    from tests.service.test_metrics import scrape, value

    await talking_on(app, "inochi-01")
    api.down = True
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        gauge = "hotline_lines_held_past_talk_bound"
        assert value(await scrape(c), gauge, org="inochi") == 0
        clock.advance(4 * HOUR + 60)
        assert value(await scrape(c), gauge, org="inochi") == 1
        assert await reconcile_once(services_of(app)) == 1
        assert value(await scrape(c), gauge, org="inochi") == 0


async def test_by_default_a_lost_end_frees_its_line_within_minutes(
    db_url: str, cfg, clock: Clock, api: TwilioApi
) -> None:
    settings = make_settings(
        db_url, TWILIO_ACCOUNT_SID=ACCOUNT, TWILIO_AUTH_TOKEN="stand-in-token",
        twilio_api_base=api.base_url,
    )  # fmt: skip
    application = create_app(settings, cfg, clock=clock)
    async with application.router.lifespan_context(application):
        sid = await talking_on(application, "inochi-01")
        api.statuses[sid] = "completed"
        clock.advance(4 * 60)  # a round runs every minute: the line is free within 4 minutes
        assert await reconcile_once(services_of(application)) == 1
        assert await _holder(application, "inochi-01") is None
