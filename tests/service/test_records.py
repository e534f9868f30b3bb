"""Consultation records over HTTP: counsellors write and read their organisation's records,
nobody else's; bad input gets clear errors and leaves nothing behind. Also the helpers the
other records test files use."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from sqlalchemy import func, select

from hotline.auth import store as keys
from hotline.auth.models import ApiKey, Role
from hotline.calls.models import Call
from hotline.calls.store import caller_hash
from hotline.cases.models import LinkageCase
from hotline.common.audit import AuditEntry
from hotline.config import TOKYO
from hotline.records.models import ConsultationRecord
from tests.conftest import Clock, new_sid

SECRET = "ひみつの話 XJ-7731: 誰にも言えなかった"  # a marker to look for where it must not be
FORM: dict[str, Any] = {
    "age_group": "40代",
    "gender": "女性",
    "categories": ["孤独・孤立", "暮らし・お金"],
    "support": ["気持ちの整理"],
    "seriousness": "中程度",
    "linkage_needed": False,
    "summary": SECRET,
}


async def make_key(app, org: str, role: Role = Role.COUNSELLOR) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Authorization headers of a new key."""
    async with app.state.sessions.begin() as s:
        _, key = await keys.create(s, org_id=org, role=role, name="test", now=app.state.clock())
    return {"Authorization": f"Bearer {key}"}


async def taken_call(  # type: ignore[no-untyped-def]
    app,
    org: str | None = "inochi",
    *,
    caller: str | None = "+819011112222",
    period: str = "period_5",
    option: str = "loneliness",
    waited: int = 90,
    ago: int = 0,
) -> str:
    """A call that `org`'s counsellor took (None: a call nobody took); returns its CallSid."""
    sid = new_sid()
    connected = app.state.clock() - dt.timedelta(seconds=ago)
    async with app.state.sessions.begin() as s:
        s.add(
            Call(
                call_sid=sid,
                entry="9999",
                period_id=period,
                caller_hash=caller_hash(b"test", caller),
                menu_id="period-5",
                option_id=option,
                state="completed" if org else "abandoned",
                priority=0,
                status_seq=-1,
                org_id=org,
                created_at=connected - dt.timedelta(seconds=waited + 20),
                waiting_since=connected - dt.timedelta(seconds=waited),
                connected_at=connected if org else None,
                ended_at=connected + dt.timedelta(minutes=20) if org else None,
            )
        )
    return sid


async def write(  # type: ignore[no-untyped-def]
    client: httpx.AsyncClient, headers: dict[str, str], sid: str, **changes: Any
) -> httpx.Response:
    return await client.post(
        "/api/records", json={**FORM, "call_sid": sid, **changes}, headers=headers
    )


async def count(app, model: type) -> int:  # type: ignore[no-untyped-def]
    async with app.state.sessions() as s:
        return (await s.execute(select(func.count()).select_from(model))).scalar_one()


async def audit_actions(app) -> list[str]:  # type: ignore[no-untyped-def]
    async with app.state.sessions() as s:
        return list((await s.execute(select(AuditEntry.action).order_by(AuditEntry.id))).scalars())


# --- writing and reading ------------------------------------------------------


async def test_a_counsellor_writes_the_record_of_a_call_and_reads_it_back(client, app) -> None:
    me = await make_key(app, "inochi")
    sid = await taken_call(app)
    resp = await write(client, me, sid, consent_history=True)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["call_sid"] == sid and body["org_id"] == "inochi"
    assert (body["summary"], body["categories"], body["case_id"]) == (
        SECRET,
        FORM["categories"],
        None,
    )
    again = await client.get(f"/api/records/{body['id']}", headers=me)
    assert again.status_code == 200
    assert again.json() == body
    assert await audit_actions(app) == ["record.create", "record.read"]


async def test_gender_and_summary_are_optional(client, app) -> None:
    me = await make_key(app, "inochi")
    form = {k: v for k, v in FORM.items() if k not in ("gender", "summary", "support")}
    resp = await client.post(
        "/api/records", json={**form, "call_sid": await taken_call(app)}, headers=me
    )
    assert resp.status_code == 201, resp.text
    assert (resp.json()["gender"], resp.json()["summary"], resp.json()["support"]) == (
        None,
        None,
        [],
    )


async def test_a_record_that_needs_linkage_opens_a_case(client, app) -> None:
    me = await make_key(app, "inochi")
    resp = await write(client, me, await taken_call(app), linkage_needed=True, seriousness="高い")
    assert resp.status_code == 201
    assert resp.json()["case_status"] == "open"
    async with app.state.sessions() as s:
        case = (await s.execute(select(LinkageCase))).scalar_one()
    assert (case.id, case.record_id) == (resp.json()["case_id"], resp.json()["id"])


async def test_an_edit_changes_only_the_fields_given_and_is_audited(client, app) -> None:
    me = await make_key(app, "inochi")
    record = (await write(client, me, await taken_call(app))).json()
    resp = await client.patch(
        f"/api/records/{record['id']}",
        json={"seriousness": "緊急", "summary": "書き直した要約", "linkage_needed": True},
        headers=me,
    )
    assert resp.status_code == 200, resp.text
    changed = resp.json()
    assert (changed["seriousness"], changed["summary"], changed["age_group"]) == (
        "緊急",
        "書き直した要約",
        "40代",
    )
    assert changed["case_status"] == "open"  # linkage asked for later opens the case then
    async with app.state.sessions() as s:
        entry = (
            await s.execute(select(AuditEntry).where(AuditEntry.action == "record.update"))
        ).scalar_one()
    assert entry.detail == {"fields": ["linkage_needed", "seriousness", "summary"]}
    assert "書き直した" not in repr(entry.detail)


async def test_the_calls_list_shows_which_connected_calls_still_need_a_record(
    client, app, clock: Clock
) -> None:
    me = await make_key(app, "inochi")
    done, todo = await taken_call(app, ago=600, waited=45), await taken_call(app, ago=60)
    await taken_call(app, "jaico")  # another organisation's call
    await taken_call(app, None)  # a call nobody took
    await taken_call(app, ago=4 * 86400)  # too long ago for the default window
    record_id = (await write(client, me, done)).json()["id"]
    calls = (await client.get("/api/calls", headers=me)).json()
    assert [c["call_sid"] for c in calls] == [todo, done]
    assert calls[1] == {
        "call_sid": done,
        "connected_at": (clock() - dt.timedelta(seconds=600)).isoformat().replace("+00:00", "Z"),
        "option_id": "loneliness",
        "language": None,
        "waited_seconds": 45,
        "record_id": record_id,
    }
    open_ = (await client.get("/api/calls?without_record=true", headers=me)).json()
    assert [c["call_sid"] for c in open_] == [todo]
    week = (await client.get("/api/calls?hours=168", headers=me)).json()
    assert len(week) == 3


# --- who may do what -----------------------------------------------------------


async def test_a_counsellor_cannot_write_for_a_call_their_organisation_did_not_take(
    client, app
) -> None:
    me = await make_key(app, "inochi")
    resp = await write(client, me, await taken_call(app, "jaico"))
    assert resp.status_code == 403 and "not taken by your organisation" in resp.text
    assert (await write(client, me, await taken_call(app, None))).status_code == 403
    assert await count(app, ConsultationRecord) == 0


async def test_a_counsellor_cannot_read_or_change_another_organisations_record(client, app) -> None:
    theirs = await make_key(app, "jaico")
    record_id = (await write(client, theirs, await taken_call(app, "jaico"))).json()["id"]
    me = await make_key(app, "inochi")
    resp = await client.get(f"/api/records/{record_id}", headers=me)
    assert resp.status_code == 403 and SECRET not in resp.text
    resp = await client.patch(f"/api/records/{record_id}", json={"summary": "x"}, headers=me)
    assert resp.status_code == 403
    assert "record.read" not in await audit_actions(app)


async def test_operators_admins_and_coordinators_do_not_write_records(client, app) -> None:
    sid = await taken_call(app)
    for role in (Role.OPERATOR, Role.ADMIN, Role.COORDINATOR):
        resp = await write(client, await make_key(app, "inochi", role), sid)
        assert resp.status_code == 403, role
    assert await count(app, ConsultationRecord) == 0


async def test_operators_and_admins_never_read_a_records_free_text(client, app) -> None:
    me = await make_key(app, "inochi")
    record_id = (await write(client, me, await taken_call(app))).json()["id"]
    for role in (Role.OPERATOR, Role.ADMIN):
        resp = await client.get(
            f"/api/records/{record_id}", headers=await make_key(app, "inochi", role)
        )
        assert resp.status_code == 403 and SECRET not in resp.text


async def test_only_counsellors_list_their_calls(client, app) -> None:
    for role in (Role.OPERATOR, Role.ADMIN, Role.COORDINATOR):
        resp = await client.get("/api/calls", headers=await make_key(app, "inochi", role))
        assert resp.status_code == 403


async def test_a_missing_unknown_or_revoked_key_is_refused(client, app) -> None:
    sid = await taken_call(app)
    assert (await write(client, {}, sid)).status_code == 401
    assert (await write(client, {"Authorization": "Bearer hk_nonsense"}, sid)).status_code == 401
    me = await make_key(app, "inochi")
    async with app.state.sessions.begin() as s:
        row = (await s.execute(select(ApiKey))).scalar_one()
        await keys.revoke(s, row.id, app.state.clock())
    assert (await write(client, me, sid)).status_code == 401
    assert (await client.get("/api/records/1", headers=me)).status_code == 401


# --- bad input ------------------------------------------------------------------


async def test_an_unknown_call_or_record_is_404(client, app) -> None:
    me = await make_key(app, "inochi")
    assert (await write(client, me, new_sid())).status_code == 404
    assert (await client.get("/api/records/999999", headers=me)).status_code == 404
    resp = await client.patch("/api/records/999999", json={"seriousness": "低い"}, headers=me)
    assert resp.status_code == 404


async def test_a_second_record_for_the_same_call_is_409_naming_the_first(client, app) -> None:
    me, colleague = await make_key(app, "inochi"), await make_key(app, "inochi")
    sid = await taken_call(app)
    first = (await write(client, me, sid)).json()["id"]
    resp = await write(client, colleague, sid, linkage_needed=True)
    assert resp.status_code == 409
    assert resp.json()["detail"]["record_id"] == first
    assert (await count(app, ConsultationRecord), await count(app, LinkageCase)) == (1, 0)


async def test_a_value_outside_the_lists_is_422_naming_the_field_and_the_allowed_values(
    client, app
) -> None:
    me = await make_key(app, "inochi")
    sid = await taken_call(app)
    for field, value in [
        ("age_group", "25歳"),
        ("gender", "X"),
        ("categories", ["孤独・孤立", "宇宙"]),
        ("support", ["占い"]),
        ("seriousness", "最悪"),
    ]:
        resp = await write(client, me, sid, **{field: value})
        assert resp.status_code == 422, field
        error = resp.json()["detail"][0]
        assert error["loc"] == ["body", field]
        lists = {"age_group": "age_groups", "gender": "genders"}
        allowed = getattr(app.state.cfg.records, lists.get(field, field))
        assert error["ctx"]["allowed"] == list(allowed)
        assert all(a in error["msg"] for a in allowed)
    resp = await write(client, me, sid, categories=[])
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["body", "categories"]
    assert await count(app, ConsultationRecord) == 0


async def test_an_edit_may_not_clear_a_required_field_or_use_an_unknown_value(client, app) -> None:
    me = await make_key(app, "inochi")
    record_id = (await write(client, me, await taken_call(app))).json()["id"]
    for body in ({"age_group": None}, {"seriousness": "最悪"}, {"call_sid": new_sid()}):
        resp = await client.patch(f"/api/records/{record_id}", json=body, headers=me)
        assert resp.status_code == 422, body
    resp = await client.patch(f"/api/records/{record_id}", json={"age_group": None}, headers=me)
    assert resp.json()["detail"][0]["msg"] == "age_group: may not be null"
    assert (await client.get(f"/api/records/{record_id}", headers=me)).json()["age_group"] == "40代"


async def test_oversized_text_is_422_and_never_echoed(client, app) -> None:
    me = await make_key(app, "inochi")
    long = "長い話" * 1400  # 4,200 characters: over the 4,000 allowed
    resp = await write(client, me, await taken_call(app), summary=long)
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"] == ["body", "summary"]
    assert "長い話" not in resp.text and "input" not in resp.json()["detail"][0]
    assert await count(app, ConsultationRecord) == 0


async def test_a_huge_body_is_refused_before_it_is_read(client, app) -> None:
    me = await make_key(app, "inochi")
    resp = await write(client, me, await taken_call(app), summary="x" * 200_000)
    assert resp.status_code == 413


async def test_a_failure_after_the_record_was_flushed_leaves_nothing(
    client, app, monkeypatch
) -> None:
    """The case is opened after the record is flushed; if that fails, neither remains."""
    from hotline.cases import service

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(service, "open_for", broken)
    me = await make_key(app, "inochi")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        resp = await write(c, me, await taken_call(app), linkage_needed=True)
    assert resp.status_code == 500 and SECRET not in resp.text
    assert (await count(app, ConsultationRecord), await count(app, LinkageCase)) == (0, 0)
    assert await count(app, AuditEntry) == 0


# --- a consenting caller's history ---------------------------------------------------


async def test_with_consent_a_counsellor_sees_earlier_records_of_their_own_organisation(
    client, app, clock: Clock
) -> None:
    me, them = await make_key(app, "inochi"), await make_key(app, "jaico")
    first = await taken_call(app, ago=3 * 86400)
    await write(client, me, first)
    await write(client, them, await taken_call(app, "jaico", ago=2 * 86400))  # not counted
    await write(client, me, await taken_call(app, caller="+819099998888", ago=86400))  # not them
    now = await taken_call(app)
    await write(client, me, now, consent_history=True)
    resp = await client.get(f"/api/calls/{now}/history", headers=me)
    assert resp.status_code == 200, resp.text
    day = (clock() - dt.timedelta(days=3, seconds=110)).astimezone(TOKYO).date()
    assert resp.json() == {"earlier_records": 1, "dates": [day.isoformat()], "caller_known": True}
    assert caller_hash(b"test", "+819011112222") not in resp.text
    assert (await audit_actions(app))[-1] == "history.read"


async def test_without_consent_there_is_no_history(client, app) -> None:
    me = await make_key(app, "inochi")
    await write(client, me, await taken_call(app, ago=86400))
    sid = await taken_call(app)
    resp = await client.get(f"/api/calls/{sid}/history", headers=me)
    assert resp.status_code == 404  # no record of this call yet
    await write(client, me, sid)  # consent_history defaults to false
    resp = await client.get(f"/api/calls/{sid}/history", headers=me)
    assert resp.status_code == 403 and "consent" in resp.text


async def test_history_is_only_for_the_organisation_that_took_the_call(client, app) -> None:
    me = await make_key(app, "inochi")
    sid = await taken_call(app)
    await write(client, me, sid, consent_history=True)
    resp = await client.get(f"/api/calls/{sid}/history", headers=await make_key(app, "jaico"))
    assert resp.status_code == 403
    coordinator = await make_key(app, "inochi", Role.COORDINATOR)
    assert (await client.get(f"/api/calls/{sid}/history", headers=coordinator)).status_code == 403
    assert (await client.get(f"/api/calls/{new_sid()}/history", headers=me)).status_code == 404


async def test_a_withheld_number_has_no_history_to_show(client, app) -> None:
    me = await make_key(app, "inochi")
    await write(client, me, await taken_call(app, caller=None, ago=86400))
    sid = await taken_call(app, caller=None)
    await write(client, me, sid, consent_history=True)
    resp = await client.get(f"/api/calls/{sid}/history", headers=me)
    assert resp.json() == {"earlier_records": 0, "dates": [], "caller_known": False}


async def test_the_form_lists_come_from_config(client, app) -> None:
    resp = await client.get("/api/records/form", headers=await make_key(app, "inochi"))
    assert resp.status_code == 200
    assert resp.json()["categories"] == list(app.state.cfg.records.categories)
    assert resp.json()["case_statuses"]["in_progress"] == "対応中"


async def test_two_counsellors_racing_to_write_one_call_get_one_record_and_one_409(
    client, app
) -> None:
    import asyncio

    a, b = await make_key(app, "inochi"), await make_key(app, "inochi")
    sid = await taken_call(app)
    results = await asyncio.gather(write(client, a, sid), write(client, b, sid))
    assert sorted(r.status_code for r in results) == [201, 409]
    created = next(r for r in results if r.status_code == 201).json()["id"]
    assert next(r for r in results if r.status_code == 409).json()["detail"]["record_id"] == created
    assert await count(app, ConsultationRecord) == 1
