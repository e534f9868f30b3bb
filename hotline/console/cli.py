"""`hotline users create`: console accounts, with the password read from standard input."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys

from hotline.auth.models import Role
from hotline.console import accounts
from hotline.db import SchemaNotAtHead, check_at_head, is_sqlite, make_engine, session_factory
from hotline.db import upgrade as migrate
from hotline.startup import settings_and_config


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    users = sub.add_parser("users", help="web console accounts")
    us = users.add_subparsers(dest="users_command", required=True)
    create = us.add_parser("create", help="create an account; the password comes on stdin")
    create.add_argument("--org", required=True, help="organisation id from menus.yaml")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--name", required=True, help="the name people log in with")
    create.add_argument(
        "--password-stdin",
        action="store_true",
        required=True,
        help="read the password from standard input (never from the command)",
    )
    users.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    settings, cfg = settings_and_config()
    if args.org not in {o.id for o in cfg.organisations}:
        print(f"hotline users: unknown organisation {args.org!r}", file=sys.stderr)
        return 2
    password = sys.stdin.readline().rstrip("\n")
    return asyncio.run(_create(settings.database_url, args, password))


async def _create(url: str, args: argparse.Namespace, password: str) -> int:
    if is_sqlite(url):
        await asyncio.to_thread(migrate, url)
    engine = make_engine(url)
    try:
        await check_at_head(engine)
        async with session_factory(engine).begin() as session:
            user = await accounts.create(
                session,
                name=args.name,
                org_id=args.org,
                role=Role(args.role),
                password=password,
                now=dt.datetime.now(dt.UTC),
            )
        print(f"account {user.id} {user.name!r} for {user.org_id} ({user.role}) created")
        return 0
    except (SchemaNotAtHead, accounts.AccountError) as e:
        print(f"hotline users: {e}", file=sys.stderr)
        return 2
    finally:
        await engine.dispose()
