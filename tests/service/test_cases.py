"""Linkage cases over HTTP: coordinators work them across organisations; nobody else does."""

from __future__ import annotations

from sqlalchemy import select

from hotline.auth.models import Role
from hotline.cases.models import LinkageAction, LinkageCase
from hotline.common.audit import AuditEntry
from tests.service.test_records import SECRET, audit_actions, count, make_key, taken_call, write

NOTE = "本人の同意を得て市の窓口へ XJ-5150"


async def open_case(client, app, org: str = "inochi", **changes) -> dict:  # type: ignore[no-untyped-def]
    """A record that needs linkage, written by `org`; returns the record."""
    headers = await make_key(app, org)
    resp = await write(client, headers, await taken_call(app, org), linkage_needed=True, **changes)
    assert resp.status_code == 201, resp.text
    return resp.json()


async def test_a_coordinator_lists_cases_across_organisations_and_filters_them(client, app) -> None:
    mine = await open_case(client, app, "inochi")
    theirs = await open_case(client, app, "jaico", seriousness="緊急")
    me = await make_key(app, "sisc", Role.COORDINATOR)
    resp = await client.get("/api/cases", headers=me)
    assert resp.status_code == 200
    listed = resp.json()
    assert {c["id"] for c in listed} == {mine["case_id"], theirs["case_id"]}
    assert all("notes" not in c and c["status_label"] == "未着手" for c in listed)
    only = (await client.get("/api/cases?org=jaico", headers=me)).json()
    assert [(c["id"], c["seriousness"], c["period_id"]) for c in only] == [
        (theirs["case_id"], "緊急", "period_5")
    ]
    await client.patch(f"/api/cases/{mine['case_id']}", json={"status": "linked"}, headers=me)
    linked = (await client.get("/api/cases?status=linked", headers=me)).json()
    assert [c["id"] for c in linked] == [mine["case_id"]]
    assert (await client.get("/api/cases?period=period_1", headers=me)).json() == []


async def test_a_coordinator_records_the_destination_actions_and_notes(client, app) -> None:
    case_id = (await open_case(client, app))["case_id"]
    me = await make_key(app, "sisc", Role.COORDINATOR)
    resp = await client.patch(
        f"/api/cases/{case_id}",
        json={
            "status": "in_progress",
            "destination_type": "福祉事務所",
            "destination_name": "川崎市福祉事務所",
            "notes": NOTE,
        },
        headers=me,
    )
    assert resp.status_code == 200, resp.text
    for kind, day in (("連絡", "2023-12-26"), ("面談", "2023-12-28"), ("同行支援", "2024-01-05")):
        resp = await client.post(
            f"/api/cases/{case_id}/actions",
            json={"kind": kind, "on_date": day, "note": f"{kind}済み"},
            headers=me,
        )
        assert resp.status_code == 201, resp.text
    case = (await client.get(f"/api/cases/{case_id}", headers=me)).json()
    assert (case["status"], case["status_label"], case["destination_name"], case["notes"]) == (
        "in_progress",
        "対応中",
        "川崎市福祉事務所",
        NOTE,
    )
    assert [(a["kind"], a["on_date"], a["note"]) for a in case["actions"]] == [
        ("連絡", "2023-12-26", "連絡済み"),
        ("面談", "2023-12-28", "面談済み"),
        ("同行支援", "2024-01-05", "同行支援済み"),
    ]
    actions = await audit_actions(app)
    assert actions.count("case.action") == 3 and actions[-1] == "case.read"
    assert "case.update" in actions


async def test_a_coordinator_reads_the_record_behind_a_case_but_no_other(client, app) -> None:
    behind = await open_case(client, app, "jaico")
    plain = (
        await write(client, await make_key(app, "jaico"), await taken_call(app, "jaico"))
    ).json()
    me = await make_key(app, "sisc", Role.COORDINATOR)
    resp = await client.get(f"/api/records/{behind['id']}", headers=me)
    assert resp.status_code == 200 and resp.json()["summary"] == SECRET
    resp = await client.get(f"/api/records/{plain['id']}", headers=me)
    assert resp.status_code == 403 and SECRET not in resp.text
    resp = await client.patch(f"/api/records/{behind['id']}", json={"summary": "x"}, headers=me)
    assert resp.status_code == 403


async def test_only_coordinators_work_cases(client, app) -> None:
    case_id = (await open_case(client, app))["case_id"]
    for role in (Role.COUNSELLOR, Role.OPERATOR, Role.ADMIN):
        headers = await make_key(app, "inochi", role)
        assert (await client.get("/api/cases", headers=headers)).status_code == 403
        assert (await client.get(f"/api/cases/{case_id}", headers=headers)).status_code == 403
        resp = await client.patch(f"/api/cases/{case_id}", json={"notes": "x"}, headers=headers)
        assert resp.status_code == 403
        resp = await client.post(
            f"/api/cases/{case_id}/actions",
            json={"kind": "連絡", "on_date": "2023-12-26"},
            headers=headers,
        )
        assert resp.status_code == 403
    assert (await client.get("/api/cases")).status_code == 401


async def test_the_counsellor_sees_the_status_of_their_records_case(client, app) -> None:
    record = await open_case(client, app)
    me = await make_key(app, "sisc", Role.COORDINATOR)
    await client.patch(f"/api/cases/{record['case_id']}", json={"status": "linked"}, headers=me)
    counsellor = await make_key(app, "inochi")
    resp = await client.get(f"/api/records/{record['id']}", headers=counsellor)
    assert resp.json()["case_status"] == "linked"


async def test_bad_case_input_is_refused_and_changes_nothing(client, app) -> None:
    case_id = (await open_case(client, app))["case_id"]
    me = await make_key(app, "sisc", Role.COORDINATOR)
    url = f"/api/cases/{case_id}"
    resp = await client.patch(url, json={"status": "done", "notes": NOTE}, headers=me)
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"] == ["body", "status"]
    assert "in_progress" in resp.json()["detail"][0]["msg"]
    resp = await client.patch(url, json={"destination_type": "占い師"}, headers=me)
    assert resp.status_code == 422 and "福祉事務所" in resp.text
    resp = await client.patch(url, json={"notes": "長" * 4001}, headers=me)
    assert resp.status_code == 422 and "長長" not in resp.text
    resp = await client.post(
        f"{url}/actions", json={"kind": "電報", "on_date": "2023-12-26"}, headers=me
    )
    assert resp.status_code == 422 and "同行支援" in resp.text
    resp = await client.post(f"{url}/actions", json={"kind": "連絡", "on_date": "昨日"}, headers=me)
    assert resp.status_code == 422
    assert (await client.get("/api/cases?status=done", headers=me)).status_code == 422
    assert (await client.get("/api/cases/999999", headers=me)).status_code == 404
    resp = await client.post(
        "/api/cases/999999/actions", json={"kind": "連絡", "on_date": "2023-12-26"}, headers=me
    )
    assert resp.status_code == 404
    async with app.state.sessions() as s:
        case = (await s.execute(select(LinkageCase))).scalar_one()
    assert (case.status, case.notes_enc) == ("open", None)
    assert await count(app, LinkageAction) == 0
    async with app.state.sessions() as s:
        updates = (
            await s.execute(select(AuditEntry).where(AuditEntry.action == "case.update"))
        ).all()
    assert updates == []


async def test_serious_cases_count_the_cases_worked_on_as_the_seed_does(client, app) -> None:
    """つなぎに関して調整した深刻な相談対応: a case counts once a coordinator worked on it (an
    action logged, or a status past 未着手 other than 終了), not when a record opens it."""
    me = await make_key(app, "sisc", Role.COORDINATOR)

    async def serious() -> int:
        resp = await client.get("/api/reports/periods/period_5", headers=me)
        assert resp.status_code == 200, resp.text
        return int(resp.json()["serious_cases"])

    untouched, acted, moved, closed = [(await open_case(client, app))["case_id"] for _ in range(4)]
    assert await serious() == 0  # four cases opened, none worked on yet
    resp = await client.post(
        f"/api/cases/{acted}/actions", json={"kind": "連絡", "on_date": "2023-12-26"}, headers=me
    )
    assert resp.status_code == 201, resp.text
    await client.patch(f"/api/cases/{moved}", json={"status": "unreachable"}, headers=me)
    await client.patch(f"/api/cases/{closed}", json={"status": "closed"}, headers=me)
    assert await serious() == 2  # the contacted case and the one tried and not reached
    await client.patch(f"/api/cases/{untouched}", json={"status": "linked"}, headers=me)
    assert await serious() == 3
