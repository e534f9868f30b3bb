"""Period exports: pseudonymous rows and coarsened counts, for operators, over HTTP and the CLI."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

from sqlalchemy import select

from hotline.auth.models import Role
from hotline.calls.store import caller_hash
from hotline.common.audit import AuditEntry
from tests.conftest import ROOT
from tests.service.test_records import SECRET, make_key, taken_call, write

EXPORT = "/api/records/export?period=period_5"


async def some_records(client, app) -> list[str]:  # type: ignore[no-untyped-def]
    """Seven records in 第5期 (one repeat caller, one withheld number), one outside it."""
    me, them = await make_key(app, "inochi"), await make_key(app, "jaico")
    sids = []
    for i in range(6):
        sid = await taken_call(app, caller=f"+8190000000{i % 5}", ago=3600 * i)
        sids.append(sid)
        await write(client, me, sid, linkage_needed=i == 0)
    sid = await taken_call(app, "jaico", caller=None)
    await write(client, them, sid, age_group="20代", gender=None, categories=["その他"])
    sids.append(sid)
    await write(client, me, await taken_call(app, period="period_1"))
    return sids


async def test_an_operator_exports_a_period_as_csv_without_free_text_or_caller(client, app) -> None:
    sids = await some_records(client, app)
    resp = await client.get(EXPORT, headers=await make_key(app, "sisc", Role.OPERATOR))
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/csv")
    assert "records-period_5-records.csv" in resp.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert len(rows) == 7
    assert list(rows[0]) == [
        "period",
        "option",
        "entry",
        "org",
        "date",
        "age_group",
        "gender",
        "categories",
        "support",
        "seriousness",
        "linkage_needed",
    ]
    assert rows[0] == {
        "period": "period_5",
        "option": "loneliness",
        "entry": "9999",
        "org": "inochi",
        "date": "2023-12-25",
        "age_group": "40代",
        "gender": "女性",
        "categories": "孤独・孤立|暮らし・お金",
        "support": "気持ちの整理",
        "seriousness": "中程度",
        "linkage_needed": "1",
    }
    assert rows[-1]["org"] == "jaico" and rows[-1]["gender"] == ""
    _nothing_personal(resp.text, sids)


def _nothing_personal(text: str, sids: list[str]) -> None:
    assert SECRET not in text and "ひみつ" not in text
    assert caller_hash(b"test", "+819000000001") not in text
    assert not any(sid in text for sid in sids)
    assert "T0" not in text and ":00" not in text  # no time of day


async def test_the_json_export_has_the_same_rows(client, app) -> None:
    sids = await some_records(client, app)
    operator = await make_key(app, "sisc", Role.OPERATOR)
    resp = await client.get(f"{EXPORT}&format=json", headers=operator)
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/json"
    rows = json.loads(resp.text)
    assert len(rows) == 7
    assert rows[0]["categories"] == ["孤独・孤立", "暮らし・お金"]
    assert rows[0]["linkage_needed"] is True and rows[-1]["gender"] is None
    _nothing_personal(resp.text, sids)
    empty = await client.get("/api/records/export?period=period_2&format=json", headers=operator)
    assert json.loads(empty.text) == []


async def test_counts_coarsen_small_cells(client, app) -> None:
    await some_records(client, app)
    operator = await make_key(app, "sisc", Role.OPERATOR)
    resp = await client.get(f"{EXPORT}&format=json&table=counts", headers=operator)
    counts = resp.json()
    assert (counts["records"], counts["min_cell"]) == (7, 5)
    # Five numbers for six inochi calls (one called twice) and one withheld: all small.
    assert counts["callers"] == {"unique": 5, "repeat": "<5", "withheld": "<5"}
    tables = counts["tables"]
    # 6 in their 40s, 1 in their 20s: the 1 is coarsened, and the 6 hidden too (7 - 6 = 1).
    assert tables["age_group"] == [
        {"value": "40代", "count": "*"},
        {"value": "20代", "count": "<5"},
    ]
    assert {"value": "孤独・孤立", "count": 6} in tables["categories"]
    assert tables["case_status"] == [{"value": "open", "count": "<5"}]
    text = (await client.get(f"{EXPORT}&table=counts", headers=operator)).text
    assert "age_group,40代,*\n" in text and "age_group,20代,<5\n" in text
    assert "records,,7\n" in text


async def test_only_operators_export(client, app) -> None:
    await some_records(client, app)
    for role in (Role.COUNSELLOR, Role.COORDINATOR, Role.ADMIN):
        resp = await client.get(EXPORT, headers=await make_key(app, "inochi", role))
        assert resp.status_code == 403, role
    assert (await client.get(EXPORT)).status_code == 401


async def test_bad_export_parameters_are_422(client, app) -> None:
    operator = await make_key(app, "sisc", Role.OPERATOR)
    resp = await client.get("/api/records/export?period=period_9", headers=operator)
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"] == ["query", "period"] and "period_5" in resp.text
    resp = await client.get(f"{EXPORT}&format=xlsx", headers=operator)
    assert resp.status_code == 422
    assert (await client.get("/api/records/export", headers=operator)).status_code == 422


async def test_every_export_is_audited(client, app) -> None:
    await some_records(client, app)
    await client.get(f"{EXPORT}&format=json", headers=await make_key(app, "sisc", Role.OPERATOR))
    async with app.state.sessions() as s:
        entry = (
            await s.execute(select(AuditEntry).where(AuditEntry.action == "records.export"))
        ).scalar_one()
    assert (entry.role, entry.org_id, entry.entity, entry.entity_id) == (
        "operator",
        "sisc",
        "period",
        "period_5",
    )
    assert entry.detail == {"format": "json", "table": "records"} and entry.client == "127.0.0.1"


async def test_the_export_command_writes_the_same_file(client, app, db_url, tmp_path) -> None:
    await some_records(client, app)
    http = (await client.get(EXPORT, headers=await make_key(app, "sisc", Role.OPERATOR))).text
    env = {**os.environ, "HOTLINE_DATABASE_URL": db_url}
    out = tmp_path / "p5.csv"
    run = [sys.executable, "-m", "hotline.cli", "export", "--period", "period_5"]
    done = subprocess.run(
        [*run, "--format", "csv", "--out", str(out)], env=env, cwd=ROOT, capture_output=True
    )
    assert done.returncode == 0, done.stderr
    assert out.read_text(encoding="utf-8") == http
    counts = subprocess.run(
        [*run, "--format", "json", "--table", "counts"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(counts.stdout)["records"] == 7
    bad = subprocess.run(
        [sys.executable, "-m", "hotline.cli", "export", "--period", "nope"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "unknown period" in bad.stderr
    async with app.state.sessions() as s:
        roles = (
            await s.execute(
                select(AuditEntry.role, AuditEntry.client).where(
                    AuditEntry.action == "records.export"
                )
            )
        ).all()
    assert [r for r, _ in roles] == ["operator", "console", "console"]
    assert roles[-1][1].startswith("cli:")
