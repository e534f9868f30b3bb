"""`hotline`: serve, migrate, call (the terminal phone), routes, fallback-twiml, simulate, ..."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
from collections.abc import Sequence

from sqlalchemy.exc import SQLAlchemyError

from hotline import logs
from hotline.auth import cli as auth_cli
from hotline.auth.models import Role
from hotline.cases.service import LINKAGE
from hotline.config import HotlineConfig
from hotline.db import is_sqlite, upgrade
from hotline.ivr import twilio_cli
from hotline.phone import plans
from hotline.records import cli as records_cli
from hotline.reports import cli as reports_cli
from hotline.routing import cli as routing_cli
from hotline.settings import Settings
from hotline.simulate import cli as simulate_cli
from hotline.startup import settings_and_config


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from hotline.app import create_served_app

    settings, cfg = settings_and_config()
    if not is_sqlite(settings.database_url):
        _schema_at_head_or_exit(settings)  # before logging: Alembic's chatter is not wanted
    logs.configure(settings.log_level, settings.log_format)
    if is_sqlite(settings.database_url):
        upgrade(settings.database_url)  # the embedded database needs no separate step
    if settings.public_url is None:
        # Listening on every interface: this machine still reaches it as 127.0.0.1, which is
        # what `hotline call` signs for. Behind a proxy, set HOTLINE_PUBLIC_URL.
        host = "127.0.0.1" if args.host in {"0.0.0.0", "::", ""} else args.host
        os.environ["HOTLINE_PUBLIC_URL"] = f"http://{host}:{args.port}"  # for workers too
        settings = settings.model_copy(update={"public_url": os.environ["HOTLINE_PUBLIC_URL"]})
    # uvicorn's access log is off: its lines carry the query string; the app's `AccessLog`
    # writes one line per request instead (hotline.logs). log_config=None: uvicorn's loggers
    # propagate to ours, in our format. Keep-alive longer than a load balancer's idle timeout,
    # or it gets a closed socket now and then.
    options = dict(
        host=args.host,
        port=args.port,
        log_level=settings.log_level.lower(),
        log_config=None,
        access_log=False,
        timeout_keep_alive=75,
        # The console's live pages keep a server-sent events stream open (two minutes at
        # most): a stopping server closes them after this, rather than waiting for them.
        timeout_graceful_shutdown=10,
        **forwarded_options(settings),
    )
    if args.workers > 1:
        # Several processes, as several instances would be: each builds its own app from the
        # environment; the database is the only shared state.
        uvicorn.run("hotline.app:create_served_app", factory=True, workers=args.workers, **options)
    else:
        uvicorn.run(create_served_app(settings, cfg), **options)
    return 0


def forwarded_options(settings: Settings) -> dict[str, object]:
    """Whose X-Forwarded-For and X-Forwarded-Proto uvicorn believes: the proxies listed in
    HOTLINE_FORWARDED_ALLOW_IPS, or nobody's (uvicorn's own default believes 127.0.0.1's, so
    anything on the host could pose as any client to the login limit and the audit log).
    The client address the limit and the audit read (`request.client`) is then the real
    client's. Twilio's signatures do not depend on it: they are checked against
    HOTLINE_PUBLIC_URL."""
    if settings.forwarded_allow_ips is None:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": settings.forwarded_allow_ips}


def _schema_at_head_or_exit(settings: Settings) -> None:
    """One line, not uvicorn's traceback, when the database is not migrated or not there."""
    from hotline.db import SchemaNotAtHead, check_at_head, make_engine

    async def check() -> None:
        engine = make_engine(settings.database_url)
        try:
            await check_at_head(engine)
        finally:
            await engine.dispose()

    try:
        asyncio.run(check())
    except SchemaNotAtHead as e:
        sys.exit(f"hotline: {e}")
    except (OSError, TimeoutError, SQLAlchemyError) as e:  # never the URL: it has a password
        sys.exit(
            f"hotline: cannot reach the database at HOTLINE_DATABASE_URL "
            f"({type(e).__name__}); start it, or check the address, and start again"
        )


def cmd_migrate(args: argparse.Namespace) -> int:
    settings, _ = settings_and_config()
    upgrade(settings.database_url, args.revision)
    print(f"database at {args.revision}")
    return 0


def cmd_call(args: argparse.Namespace) -> int:
    from hotline.phone.cli import run_calls
    from hotline.phone.console import MadeKeys

    settings, cfg = settings_and_config()
    keys = None
    if settings.env == "development":  # the console's keys, made in its database for the call

        async def make(org_id: str, role: str) -> tuple[int, str]:
            name = f"terminal phone ({role})"
            return await auth_cli.make_key(settings, org_id=org_id, role=role, name=name)

        async def revoke(key_ids: list[int]) -> None:
            await auth_cli.revoke_keys(settings, key_ids)

        keys = MadeKeys(make, revoke)
    return asyncio.run(run_calls(args, settings, cfg, keys))


def cmd_routes(args: argparse.Namespace) -> int:
    from hotline.app import utcnow
    from hotline.routing.table import describe

    settings, cfg = settings_and_config()
    now = utcnow()
    print(describe(cfg, now))
    try:
        print(asyncio.run(_lines_now(settings, cfg, now)))
    except Exception as e:  # no database yet, or unreachable: the routes are still useful
        print(f"Lines now: unknown ({type(e).__name__}: is the database migrated and up?)")
    return 0


async def _lines_now(settings: Settings, cfg: HotlineConfig, now: dt.datetime) -> str:
    from hotline.db import make_engine, session_factory
    from hotline.lines.lines import lines_of
    from hotline.routing.store import Router
    from hotline.routing.table import describe_lines

    engine = make_engine(settings.database_url)
    try:
        router = Router(cfg, reservation_timeout=30, cooldown=60)
        async with session_factory(engine)() as session:
            return describe_lines(await lines_of(session, router, None, now))
    finally:
        await engine.dispose()


def cmd_fallback_twiml(args: argparse.Namespace) -> int:
    """Print the document for Twilio's fallback URL, to host apart from this service."""
    from hotline.ivr.fallback import static_fallback, static_fallback_warnings

    _, cfg = settings_and_config()
    try:
        doc = static_fallback(cfg, ring_seconds=args.ring_seconds)
    except ValueError as e:
        sys.exit(f"hotline fallback-twiml: {e}")
    for warning in static_fallback_warnings(cfg):
        print(f"hotline fallback-twiml: warning: {warning}", file=sys.stderr)
    print(doc.to_xml())
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from hotline.auth.cli import run_keys

    settings, cfg = settings_and_config()
    return asyncio.run(run_keys(args, settings, cfg))


def _keys_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    k = sub.add_parser("keys", help="API keys: create, list, revoke")
    ks = k.add_subparsers(dest="keys_command", required=True)
    create = ks.add_parser("create", help="create a key; prints it once, on the last line")
    create.add_argument("--org", required=True, help="organisation id from menus.yaml")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--name", default="", help="who or what uses the key")
    ks.add_parser("list", help="list keys (never the keys themselves)")
    revoke = ks.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id", type=int)
    k.set_defaults(func=cmd_keys)


def _modes(value: str) -> str:
    allowed = {"accept", "refuse", "no-answer", "busy", "silent"}
    bad = [m for m in value.split(",") if m not in allowed]
    if bad:
        choices = ", ".join(sorted(allowed))
        raise argparse.ArgumentTypeError(f"{', '.join(bad)}: choose from {choices}")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hotline", description="#9999 hotline router")
    sub = p.add_subparsers(dest="command", required=True)
    _serve_parsers(sub)
    _call_parser(sub)
    _keys_parser(sub)
    records_cli.add_parsers(sub, LINKAGE)  # records reach linkage cases through it
    reports_cli.add_parsers(sub)
    routing_cli.add_parsers(sub)
    simulate_cli.add_parsers(sub)
    auth_cli.add_parsers(sub)
    twilio_cli.add_parsers(sub)
    _twiml_parsers(sub)
    return p


def _serve_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`hotline serve` and `hotline migrate`."""
    s = sub.add_parser("serve", help="run the service (migrates the embedded SQLite first)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes (e.g. one per core); state is in the database",
    )
    s.set_defaults(func=cmd_serve)
    m = sub.add_parser("migrate", help="migrate the database (HOTLINE_DATABASE_URL) to head")
    m.add_argument("revision", nargs="?", default="head")
    m.set_defaults(func=cmd_migrate)


ANSWERED_BY = (
    "with --callback: who answers the hotline's call, as Twilio's answering-machine detection "
    "reports it (machine_start: a voicemail box, which should hear nothing)"
)


def _call_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`hotline call`: the terminal phone."""
    c = sub.add_parser("call", help="the terminal phone: call a running service as Twilio would")
    c.add_argument("--url", default=None, help="where the service listens (default: public URL)")
    c.add_argument("--to", default="9999", help="9999, 0120 or a number (default 9999)")
    c.add_argument("--from", dest="caller", default="+819012345678", help="the caller's number")
    c.add_argument(
        "--press",
        action="append",
        default=None,
        help="a key to press at the next menu; repeat; '-' for silence",
    )
    c.add_argument(
        "--hold",
        type=int,
        default=None,
        help="hold polls before the caller gives up (default 20; 3 when scripted)",
    )
    c.add_argument(
        "--counsellor",
        default="accept",
        type=_modes,
        help="what counsellors do when a line rings: accept, refuse, no-answer, busy or "
        "silent (no key); a comma-separated list is used in turn",
    )
    c.add_argument(
        "--speed",
        type=float,
        default=None,
        help="1 plays hold pauses, hold music and talk time in real time, 0 skips them "
        "(default 0, or 1 with --callers)",
    )
    c.add_argument("--talk", type=int, default=120, help="seconds each conversation lasts")
    c.add_argument("--callers", type=int, default=1, help="several callers at once")
    c.add_argument(
        "--watch-wrap-up",
        action="store_true",
        help="with several callers: after the calls, keep printing the lines until every "
        "wrap-up has ended (the lines back to ready)",
    )
    c.add_argument("--fallback", action="store_true", help="call the fallback URL directly")
    c.add_argument(
        "--callback",
        action="store_true",
        help="ask for a callback while holding, then play the calls the hotline places "
        "(the phone serves Twilio's REST API on HOTLINE_TWILIO_API_BASE's port)",
    )
    c.add_argument(
        "--callback-miss",
        type=int,
        default=0,
        metavar="N",
        help="with --callback: do not answer the first N tries (each retry comes "
        "callback.retry_after_minutes later)",
    )
    who = ["human", "machine_start", "fax", "unknown"]  # AnsweredBy, as Twilio reports it
    c.add_argument("--callback-answered-by", choices=who, default="human", help=ANSWERED_BY)
    _console_arguments(c)
    c.set_defaults(func=cmd_call)


def _console_arguments(c: argparse.ArgumentParser) -> None:
    """`hotline call --transfer`, `--supervise`: the console's part once a counsellor accepts."""
    console = c.add_mutually_exclusive_group()
    console.add_argument(
        "--transfer", type=plans.transfer, metavar="KIND:ID[:MODE]", help=plans.TRANSFER_HELP
    )
    console.add_argument(
        "--supervise",
        type=plans.supervision,
        metavar="listen|coach|join[:SUPERVISOR]",
        help=plans.SUPERVISE_HELP,
    )


def _twiml_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`hotline fallback-twiml` and `hotline routes`: what callers would hear, without a call."""
    f = sub.add_parser(
        "fallback-twiml",
        help="print the TwiML for Twilio's fallback URL (a TwiML Bin): apology and emergency "
        "numbers, then the backup organisation's lines in one sequential <Dial>, then a "
        "neutral goodbye; no URL of this service, no SIP password",
    )
    f.add_argument("--ring-seconds", type=int, default=20, help="the <Dial>'s timeout (default 20)")
    f.set_defaults(func=cmd_fallback_twiml)
    r = sub.add_parser("routes", help="who answers each key in the current period")
    r.set_defaults(func=cmd_routes)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
