"""`hotline keys create|list|revoke` over the configured database."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from hotline.auth import store
from hotline.auth.models import Role
from hotline.config import HotlineConfig
from hotline.db import SchemaNotAtHead, check_at_head, is_sqlite, make_engine, session_factory
from hotline.db import upgrade as migrate
from hotline.settings import Settings


async def run_keys(args: argparse.Namespace, settings: Settings, cfg: HotlineConfig) -> int:
    if args.keys_command == "create" and args.org not in {o.id for o in cfg.organisations}:
        known = ", ".join(o.id for o in cfg.organisations)
        print(f"hotline keys: unknown organisation {args.org!r}; known: {known}", file=sys.stderr)
        return 2
    if is_sqlite(settings.database_url):
        import asyncio

        await asyncio.to_thread(migrate, settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        await check_at_head(engine)
        async with session_factory(engine).begin() as session:
            return await _run(args, session)
    except SchemaNotAtHead as e:
        print(f"hotline keys: {e}", file=sys.stderr)
        return 2
    finally:
        await engine.dispose()


async def _run(args: argparse.Namespace, session) -> int:  # type: ignore[no-untyped-def]
    now = dt.datetime.now(dt.UTC)
    if args.keys_command == "create":
        row, key = await store.create(
            session, org_id=args.org, role=Role(args.role), name=args.name, now=now
        )
        print(f"key {row.id} for {row.org_id} ({row.role}); keep it safe, it is shown only once:")
        print(key)
        return 0
    if args.keys_command == "list":
        for row in await store.list_keys(session):
            state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
            print(f"{row.id}\t{row.prefix}…\t{row.org_id}\t{row.role}\t{state}\t{row.name}")
        return 0
    row = await store.revoke(session, args.key_id, now)
    if row is None:
        print(f"hotline keys: no key {args.key_id}", file=sys.stderr)
        return 2
    print(f"key {row.id} revoked")
    return 0
