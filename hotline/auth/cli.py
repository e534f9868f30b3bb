"""`hotline keys create|list|revoke` and `hotline users create|disable|enable|unlock|sign-out`
over the configured database."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys

from sqlalchemy.ext.asyncio import AsyncSession

from hotline.auth import accounts, store
from hotline.auth.models import ApiKey, Role
from hotline.config import HotlineConfig
from hotline.db import SchemaNotAtHead, check_at_head, is_sqlite, make_engine, session_factory
from hotline.db import upgrade as migrate
from hotline.errors import Conflict, Invalid, NotFound
from hotline.settings import Settings
from hotline.startup import settings_and_config


async def run_keys(args: argparse.Namespace, settings: Settings, cfg: HotlineConfig) -> int:
    if args.keys_command == "create" and args.org not in {o.id for o in cfg.organisations}:
        known = ", ".join(o.id for o in cfg.organisations)
        print(f"hotline keys: unknown organisation {args.org!r}; known: {known}", file=sys.stderr)
        return 2
    if is_sqlite(settings.database_url):
        await asyncio.to_thread(migrate, settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        await check_at_head(engine)
        async with session_factory(engine).begin() as session:
            return await _run_keys(args, session)
    except SchemaNotAtHead as e:
        print(f"hotline keys: {e}", file=sys.stderr)
        return 2
    finally:
        await engine.dispose()


async def _run_keys(args: argparse.Namespace, session: AsyncSession) -> int:
    row: ApiKey | None
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


async def make_key(settings: Settings, *, org_id: str, role: str, name: str) -> tuple[int, str]:
    """A new API key in the configured database (`hotline keys create` without the printing):
    its id and the key. The terminal phone's console uses one for a call, then revokes it."""
    engine = make_engine(settings.database_url)
    try:
        await check_at_head(engine)
        async with session_factory(engine).begin() as session:
            now = dt.datetime.now(dt.UTC)
            row, key = await store.create(
                session, org_id=org_id, role=Role(role), name=name, now=now
            )
            return row.id, key
    finally:
        await engine.dispose()


async def revoke_keys(settings: Settings, key_ids: list[int]) -> None:
    engine = make_engine(settings.database_url)
    try:
        async with session_factory(engine).begin() as session:
            now = dt.datetime.now(dt.UTC)
            for key_id in key_ids:
                await store.revoke(session, key_id, now)
    finally:
        await engine.dispose()


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    create.set_defaults(func=_run_users)
    for command, what in (
        ("disable", "disable an account: it cannot log in, and its sessions end at once"),
        ("enable", "enable a disabled account again"),
        ("unlock", "lift the lock-out after too many wrong passwords"),
        ("sign-out", "end every console session of an account (it may log in again)"),
    ):
        one = us.add_parser(command, help=what)
        one.add_argument("name", help="the name the account logs in with")
        one.set_defaults(func=_run_account)


def _run_account(args: argparse.Namespace) -> int:
    settings, _ = settings_and_config()
    return asyncio.run(_change_account(settings.database_url, args))


async def _change_account(url: str, args: argparse.Namespace) -> int:
    now = dt.datetime.now(dt.UTC)
    engine = make_engine(url)
    try:
        await check_at_head(engine)
        async with session_factory(engine).begin() as session:
            if args.users_command == "unlock":
                user = await accounts.unlock(session, name=args.name)
            elif args.users_command == "sign-out":
                user = await accounts.sign_out(session, name=args.name, now=now)
            else:
                disabled = args.users_command == "disable"
                user = await accounts.set_disabled(
                    session, name=args.name, disabled=disabled, now=now
                )
        done = {
            "disable": "disabled",
            "enable": "enabled",
            "unlock": "unlocked",
            "sign-out": "signed out everywhere",
        }
        print(f"account {user.id} {user.name!r} {done[args.users_command]}")
        return 0
    except (SchemaNotAtHead, NotFound) as e:
        print(f"hotline users: {e}", file=sys.stderr)
        return 2
    finally:
        await engine.dispose()


def _run_users(args: argparse.Namespace) -> int:
    settings, cfg = settings_and_config()
    if args.org not in {o.id for o in cfg.organisations}:
        print(f"hotline users: unknown organisation {args.org!r}", file=sys.stderr)
        return 2
    password = sys.stdin.readline().rstrip("\n")
    return asyncio.run(_create_user(settings.database_url, args, password))


async def _create_user(url: str, args: argparse.Namespace, password: str) -> int:
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
    except (SchemaNotAtHead, Invalid, Conflict) as e:
        print(f"hotline users: {e}", file=sys.stderr)
        return 2
    finally:
        await engine.dispose()
