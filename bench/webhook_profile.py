"""Where a webhook's time goes: the calls of bench/webhooks.py in one process, profiled.

Not a test: a script that prints figures. It builds the app in this process against a fresh
PostgreSQL database (dropped at the end), drives --calls scripted calls (incoming -> menu 8
-> the first wait, signed as Twilio signs) through httpx's ASGI transport, one at a time, and
prints per webhook the SQL statements sent and the process CPU time, then cProfile's
heaviest functions (own time and cumulative) over the whole run. No HTTP server and no
network: what is left is our code, the framework, SQLAlchemy and asyncpg.

    .venv/bin/python bench/webhook_profile.py [--calls 300] [--top 25]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import httpx
from sqlalchemy import event

from hotline import config as config_mod
from hotline.app import create_app
from hotline.settings import Settings
from hotline.testing.databases import PostgresUnavailable, fresh_postgres
from hotline.testing.secrets import settings_secrets
from hotline.testing.twilio_requests import Signer, inbound_params, numbered_caller

ROOT = Path(__file__).resolve().parent.parent
PUBLIC = "https://hotline.example.jp"
WEBHOOKS = ("incoming", "menu", "wait")


class Phone:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client, self.signer = client, Signer()
        self.statements: Counter[str] = Counter()
        self.cpu: Counter[str] = Counter()
        self.counted = 0  # statements seen by the engine so far

    async def post(self, hook: str, url: str, params: dict[str, str]) -> ET.Element:
        url = url if url.startswith("http") else PUBLIC + url
        before, cpu = self.counted, time.process_time()
        resp = await self.client.post(
            url.replace(PUBLIC, ""), data=params, headers=self.signer.headers(url, params)
        )
        self.cpu[hook] += time.process_time() - cpu
        self.statements[hook] += self.counted - before
        if resp.status_code != 200:
            sys.exit(f"{hook}: {resp.status_code} {resp.text[:200]}")
        return ET.fromstring(resp.content)


async def one_call(phone: Phone, i: int) -> None:
    p = inbound_params("CA" + uuid.uuid4().hex, numbered_caller(i))
    doc = await phone.post("incoming", "/voice/incoming", p)
    doc = await phone.post("menu", doc.find("Gather").get("action", ""), {**p, "Digits": "8"})  # type: ignore[union-attr]
    wait_url = doc.find("Enqueue").get("waitUrl", "")  # type: ignore[union-attr]
    await phone.post("wait", wait_url, {**p, "QueuePosition": "1", "QueueTime": "0"})


async def run(url: str, calls: int, top: int, save: str | None = None) -> None:
    cfg = config_mod.load(ROOT / "config" / "menus.yaml")
    settings = Settings(
        env="test", database_url=url, public_url=PUBLIC, tick_seconds=0, **settings_secrets()
    )
    app = create_app(settings, cfg)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            phone = Phone(client)

            def count(*_: object) -> None:
                phone.counted += 1

            event.listen(app.state.engine.sync_engine, "before_cursor_execute", count)
            for i in range(20):  # warm-up: compiled statements, prepared statements, imports
                await one_call(phone, i)
            phone.statements.clear()
            phone.cpu.clear()
            for i in range(calls):  # not profiled: the CPU time as it is
                await one_call(phone, 1000 + i)
            print(f"{calls} calls, one at a time, in process (no HTTP server), PostgreSQL")
            for hook in WEBHOOKS:
                print(
                    f"  {hook:9s} {phone.statements[hook] / calls:5.1f} SQL statements, "
                    f"{1000 * phone.cpu[hook] / calls:5.2f} ms CPU of this process (the app "
                    "and the load generator)"
                )
            profile = cProfile.Profile()
            profile.enable()
            for i in range(calls):
                await one_call(phone, 100_000 + i)
            profile.disable()
    if save:
        profile.dump_stats(save)  # for pstats (print_callers) or snakeviz
    print_shares(profile, calls * len(WEBHOOKS))
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats(order).print_stats(top)
        print(f"\n-- by {order} --")
        print("\n".join(out.getvalue().splitlines()[6:]))


# Where each function's own time is counted, by the file it is in (first match wins).
SHARES = (
    ("waiting for I/O (epoll: PostgreSQL's answers)", ("select.epoll", "selectors.py")),
    ("socket writes", ("socket.socket",)),
    ("hotline (our code)", ("/hotline/",)),
    ("SQLAlchemy", ("/sqlalchemy/",)),
    ("asyncpg", ("/asyncpg/",)),
    ("FastAPI, Starlette, anyio", ("/fastapi/", "/starlette/", "/anyio/", "sniffio")),
    ("pydantic", ("/pydantic", "pydantic_core")),
    ("twilio (signature, TwiML)", ("/twilio/",)),
    ("httpx (the load generator)", ("/httpx/", "/httpcore/", "webhook_profile.py")),
    ("asyncio event loop", ("/asyncio/",)),
    ("threads (sync dependencies)", ("_thread.lock", "threading.py", "concurrent/futures")),
)


def print_shares(profile: cProfile.Profile, webhooks: int) -> None:
    """Own time per package, in ms per webhook (cProfile's overhead included)."""
    totals: Counter[str] = Counter()
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    for (filename, _, name), (_, _, tottime, _, _) in stats.items():
        where = f"{filename}:{name}"
        label = next((lab for lab, keys in SHARES if any(k in where for k in keys)), "other")
        totals[label] += tottime
    print("\n  own time by package, ms per webhook (under cProfile, which inflates it)")
    for label, seconds in totals.most_common():
        print(f"  {1000 * seconds / webhooks:7.2f}  {label}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--save", help="write cProfile's stats to this file")
    args = parser.parse_args()
    try:
        with fresh_postgres(prefix="hotline_bench") as url:
            asyncio.run(run(url, args.calls, args.top, args.save))
    except PostgresUnavailable as e:
        sys.exit(f"{e} (set HOTLINE_TEST_PG)")


if __name__ == "__main__":
    main()
