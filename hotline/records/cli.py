"""`hotline export` (a period's pseudonymous export) and `hotline records rotate-key`.

Both reach linkage cases (the export's case counts, the cases' sealed texts) through the
`Linkage` that the `hotline` command hands to `add_parsers`."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline import config as config_mod
from hotline.common import audit
from hotline.common.audit import Actor
from hotline.common.crypto import Box, KeysUnfit, box_for
from hotline.db import SchemaNotAtHead, check_at_head, make_engine, session_factory
from hotline.records import export, store
from hotline.records.linkage import Linkage, Sealed
from hotline.settings import Settings
from hotline.startup import settings_and_config

ROTATION = """\
Rotating the key that seals summaries and notes:
  1. Make a key:
       python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"
  2. Put it first in HOTLINE_RECORDS_KEYS (NEW,OLD) on every instance and restart them: new
     text is sealed with NEW, and text sealed with OLD still opens.
  3. Run `hotline records rotate-key` with the same setting: every summary and note is
     re-sealed with NEW, in batches, each committed (an interrupted run is simply run again).
  4. Drop OLD from HOTLINE_RECORDS_KEYS and restart. Destroy OLD once the backups that were
     sealed with it have expired.
"""


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser], linkage: Linkage) -> None:
    """Add this room's subcommands to the `hotline` parser."""
    e = sub.add_parser("export", help="a period's records, pseudonymous, as CSV or JSON")
    e.add_argument("--period", required=True, help="period id from menus.yaml (or none)")
    e.add_argument("--format", choices=["csv", "json"], default="csv")
    e.add_argument(
        "--table",
        choices=["records", "counts"],
        default="records",
        help="one row per record (default), or counts with small cells coarsened",
    )
    e.add_argument("--out", type=Path, default=None, help="file to write (default: stdout)")
    e.set_defaults(func=lambda args: _run(partial(run_export, linkage=linkage), args))
    r = sub.add_parser("records", help="consultation records: key rotation")
    rs = r.add_subparsers(dest="records_command", required=True)
    rs.add_parser(
        "rotate-key",
        help="re-seal every summary and note with the first key of HOTLINE_RECORDS_KEYS",
        description=ROTATION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.set_defaults(func=lambda args: _run(partial(run_rotate, linkage=linkage), args))


def _run(
    command: Callable[
        [argparse.Namespace, Settings, config_mod.HotlineConfig], Coroutine[Any, Any, int]
    ],
    args: argparse.Namespace,
) -> int:
    settings, cfg = settings_and_config()
    return asyncio.run(command(args, settings, cfg))


@asynccontextmanager
async def _sessions(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(settings.database_url)
    try:
        await check_at_head(engine)
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def run_export(
    args: argparse.Namespace,
    settings: Settings,
    cfg: config_mod.HotlineConfig,
    *,
    linkage: Linkage,
) -> int:
    periods = [p.id for p in cfg.periods] + ["none"]
    if args.period not in periods:
        print(f"hotline export: unknown period; known: {', '.join(periods)}", file=sys.stderr)
        return 2
    try:
        async with _sessions(settings) as sessions:
            async with sessions.begin() as session:  # audited before any data is written out
                await audit.write(
                    session,
                    Actor.console(),
                    action="records.export",
                    entity="period",
                    entity_id=args.period,
                    now=dt.datetime.now(dt.UTC),
                    format=args.format,
                    table=args.table,
                )
            chunks = export.stream(
                sessions,
                linkage=linkage,
                period_id=args.period,
                fmt=args.format,
                table=args.table,
                min_cell=cfg.records.export.min_cell,
            )
            await _write(chunks, args.out)
    except SchemaNotAtHead as e:
        print(f"hotline export: {e}", file=sys.stderr)
        return 2
    return 0


async def _write(chunks: AsyncIterator[str], out: Path | None) -> None:
    if out is None:
        async for chunk in chunks:
            sys.stdout.write(chunk)
        return
    with out.open("w", encoding="utf-8", newline="") as f:
        async for chunk in chunks:
            f.write(chunk)


async def run_rotate(
    args: argparse.Namespace,
    settings: Settings,
    cfg: config_mod.HotlineConfig,
    *,
    linkage: Linkage,
) -> int:
    try:
        box = box_for(settings)
    except ValueError:  # Fernet's message names no key; ours names the setting
        print(
            "hotline records rotate-key: HOTLINE_RECORDS_KEYS holds a key that is not a "
            "Fernet key (32 url-safe base64-encoded bytes)",
            file=sys.stderr,
        )
        return 2
    try:
        async with _sessions(settings) as sessions:
            counts = await rotate(sessions, box, (*store.SEALED, *linkage.sealed))
    except SchemaNotAtHead as e:
        print(f"hotline records rotate-key: {e}", file=sys.stderr)
        return 2
    except KeysUnfit as e:
        print(f"hotline records rotate-key: {e.message}; run it again once fixed", file=sys.stderr)
        return 2
    print(", ".join(f"{n} {what}" for what, n in counts.items()) + " re-sealed with the first key")
    return 0


async def rotate(
    sessions: async_sessionmaker[AsyncSession],
    box: Box,
    sealed: Sequence[Sealed],
    *,
    batch: int = 500,
) -> dict[str, int]:
    """Re-seal every text of the `sealed` columns with the box's first key, a committed batch
    at a time."""
    counts: dict[str, int] = {}
    for model, column in sealed:
        done, after = 0, 0

        def reseal(token: str) -> str:
            nonlocal done
            done += 1
            return box.rotate(token)

        while True:
            async with sessions.begin() as session:
                last = await store.reseal_batch(
                    session, model, column, reseal, after_id=after, limit=batch
                )
            if last is None:
                break
            after = last
        counts[column] = done
    async with sessions.begin() as session:
        await audit.write(
            session,
            Actor.console(),
            action="keys.rotate",
            entity="records",
            entity_id=None,
            now=dt.datetime.now(dt.UTC),
            **counts,
        )
    return counts
