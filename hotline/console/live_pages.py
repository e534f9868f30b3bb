"""The counsellor's live call card (通話中の電話): each conversation on their organisation's
lines, kept up to date over server-sent events (hotline.console.events), with what can be
done on it: hold and resume, a third party open now (a partner's desk, a local support
organisation, an interpreter), a three-way call, a cold transfer to another option's queue,
leaving the caller with the third party, ending, a help request to the supervisors, and the
emergency escalation behind a confirmation page. Where the prefecture has no direct line of
a command centre, the card says so and what to do instead.

Each form posts here and calls the conference room's service (hotline.conference), which
checks who may do what; a refusal is shown on the page in words, never as a bare error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from hotline.auth.models import ConsoleUser, Role
from hotline.common.audit import Actor
from hotline.conference import service
from hotline.config import PREFECTURES, DirectoryKind, HotlineConfig, Option, Service
from hotline.console import events, live
from hotline.console.forms import actor
from hotline.console.web import UserDep, csrf_token, form_of, page, require, templates
from hotline.deps import RowId, SessionDep
from hotline.errors import HotlineError, Invalid
from hotline.hours import schedule
from hotline.http_errors import status_of
from hotline.reports import labels
from hotline.services import services_of

router = APIRouter(prefix="/console/live", include_in_schema=False)
WATCHERS = (Role.COUNSELLOR, Role.SUPERVISOR, Role.OPERATOR, Role.ADMIN)
ACTORS = (Role.COUNSELLOR, Role.SUPERVISOR)
DIRECTORY: tuple[DirectoryKind, ...] = ("partner", "support", "interpreter")
# Where the prefecture has no direct line of the command centre (said on the card and on the
# confirmation page).
WHAT_TO_DO = (
    "ご自身の電話から119（消防・救急）または110（警察）に通報してください。"
    "相談者との通話は切らずに、そのままつながっていてください。通報したことを相談者に伝え、"
    "通話の後、相談記録に緊急対応を記入してください。"
)
DONE = {
    "hold": "相談者を保留にしました。",
    "resume": "保留を解除しました。",
    "party": "相手を呼び出しています。",
    "three-way": "三者通話にしました。",
    "drop": "相手を通話から外しました。",
    "leave": "相談者を引き継いで退出しました。",
    "end": "通話を終えました。",
    "transfer": "待ち行列へ転送しました。",
    "emergency": "指令センターを呼び出しています。相談者との通話はそのまま続きます。",
    "help": "スーパーバイザーにヘルプを求めました。",
}


def _ms(when: dt.datetime | None) -> int:
    return int(when.timestamp() * 1000) if when is not None else 0


def org_filter(user: ConsoleUser) -> str | None:
    """Whose calls a watcher sees: their organisation's (operators and admins: all)."""
    return None if Role(user.role) in (Role.OPERATOR, Role.ADMIN) else user.org_id


def _missing(cfg: HotlineConfig, call: live.LiveCall) -> dict[str, str] | None:
    """The command centres of the organisation's prefecture that have no direct line."""
    org = next((o for o in cfg.organisations if o.id == call.org_id), None)
    prefecture = org.prefecture if org is not None else None
    if prefecture is None:
        return {"where": "この団体の都道府県は設定されていません", "which": "消防・警察"}
    services: tuple[Service, ...] = ("fire", "police")
    gone = [live.SERVICES[s] for s in services if cfg.emergency_line(prefecture, s) is None]
    return {"where": prefecture, "which": "・".join(gone)} if gone else None


def queues_open(cfg: HotlineConfig, call: live.LiveCall, now: dt.datetime) -> list[Option]:
    """The options a caller may be transferred to now: another option of the menu in force,
    open by its hours for the caller's language (an operator's closure is the room's to
    refuse)."""
    offered = labels.offered_options(cfg, cfg.menu_at(now))
    return [
        cfg.option(o)
        for o in offered
        if o != call.option_id and schedule.option_open(cfg, o, call.language, now)
    ]


def context(request: Request, user: ConsoleUser, calls: list[live.LiveCall]) -> dict[str, Any]:
    """What the live cards are rendered with, on the page and in each event alike."""
    services = services_of(request.app)
    cfg, now = services.cfg, services.clock()

    def prefecture_of(call: live.LiveCall) -> str | None:
        org = next((o for o in cfg.organisations if o.id == call.org_id), None)
        return org.prefecture if org is not None else None

    def talked(call: live.LiveCall) -> float | None:
        return (now - call.connected_at).total_seconds() if call.connected_at else None

    names = {o.id: o.name for o in cfg.organisations}
    return {
        "org_name": lambda org_id: names.get(org_id or "", org_id or "—"),
        "calls": calls,
        "L": live.labels(cfg),
        "csrf": csrf_token(request),
        "act": Role(user.role) in ACTORS,
        "server_now": _ms(now),
        "since": lambda call: _ms(call.connected_at),
        "talked": talked,
        "open_targets": {kind: cfg.open_targets(kind, now) for kind in DIRECTORY},
        "queues": lambda call: queues_open(cfg, call, now),
        # The organisation's supervisors, to bring in as a third party (refused, and said
        # so, when the one chosen is not on duty: the board is where they go on duty).
        "supervisors": lambda call: next(
            (list(o.supervisors) for o in cfg.organisations if o.id == call.org_id), []
        ),
        "prefectures": PREFECTURES,
        "prefecture_of": prefecture_of,
        "emergency_missing": lambda call: _missing(cfg, call),
        "what_to_do": WHAT_TO_DO,
    }


async def _cards_page(
    request: Request,
    user: ConsoleUser,
    session: AsyncSession,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    # A page load reads the calls once; what changes afterwards comes by the events.
    cfg = services_of(request.app).cfg
    calls = live.of_org(await live.snapshot(session, cfg), org_filter(user))
    done = DONE.get(request.query_params.get("done", ""))
    ctx = context(request, user, calls)
    resp = page(
        request, "live.html", user, flash=done, error=error, version=events.version(calls), **ctx
    )
    resp.status_code = status
    return resp


@router.get("")
async def cards(request: Request, user: UserDep, session: SessionDep) -> Response:
    require(user, *WATCHERS)
    return await _cards_page(request, user, session)


def live_stream(
    request: Request,
    user: ConsoleUser,
    template_name: str,
    context_of: Callable[[Request, ConsoleUser, list[live.LiveCall]], dict[str, Any]],
    name: str,
) -> Response:
    """The events of a page of live calls (the cards, the board): its part `template_name`
    rendered with `context_of` for each snapshot the hub hands on."""
    template = templates.get_template(template_name)

    def render(calls: list[live.LiveCall]) -> str:
        return template.render(context_of(request, user, calls))

    return events.stream(request, org_filter(user), render, name)


@router.get("/events")
async def cards_events(request: Request, user: UserDep) -> Response:
    require(user, *WATCHERS)
    return live_stream(request, user, "_live_cards.html", context, "calls")


# A page drawn again with a refusal: (request, user, session, error=, status=) -> the page.
Redraw = Callable[..., Awaitable[Response]]


async def carry_out(  # noqa: PLR0913 - the request's parts, the action, where to go after
    request: Request,
    user: ConsoleUser,
    session: AsyncSession,
    do: Callable[[Actor], Awaitable[object]],
    redraw: Redraw,
    done_url: str,
) -> Response:
    """Carry out a card's or the board's action for the user in the request's unit of work;
    a refusal is rolled back and said on the page (`redraw`), else on to `done_url`."""
    try:
        await do(actor(request, user))
    except HotlineError as e:
        await session.rollback()
        await session.refresh(user)  # read again after the rollback, for the page
        return await redraw(request, user, session, error=refusal(e), status=status_of(e))
    return RedirectResponse(done_url, 303)


async def _act(
    request: Request,
    user: ConsoleUser,
    session: AsyncSession,
    do: Callable[[Actor], Awaitable[object]],
    done: str,
) -> Response:
    return await carry_out(request, user, session, do, _cards_page, f"/console/live?done={done}")


def refusal(e: HotlineError) -> str:
    """A refusal in words: what could not be done, and the service's reason."""
    if isinstance(e, Invalid):
        fields = ", ".join(str(err.get("loc", ["?"])[-1]) for err in e.errors())
        return f"できませんでした（入力を確かめてください: {fields}）。"
    return f"できませんでした: {e.message}"


async def _form(request: Request, user: ConsoleUser) -> Any:
    require(user, *ACTORS)
    return await form_of(request)


@router.post("/{call_id}/hold")
async def hold(call_id: RowId, request: Request, user: UserDep, session: SessionDep) -> Response:
    on = str((await _form(request, user)).get("on", "1")) == "1"
    s = services_of(request.app)
    return await _act(
        request,
        user,
        session,
        lambda who: service.hold(session, s, who, call_id, on=on),
        "hold" if on else "resume",
    )


@router.post("/{call_id}/three-way")
async def three_way(
    call_id: RowId, request: Request, user: UserDep, session: SessionDep
) -> Response:
    await _form(request, user)
    s = services_of(request.app)
    return await _act(
        request, user, session, lambda who: service.join_all(session, s, who, call_id), "three-way"
    )


@router.post("/{call_id}/parties")
async def add_party(
    call_id: RowId, request: Request, user: UserDep, session: SessionDep
) -> Response:
    form = await _form(request, user)
    kind, _, target_id = str(form.get("target", "")).partition(":")
    consult = str(form.get("consult", "")) == "1"
    s = services_of(request.app)

    async def do(who: Actor) -> object:
        if kind not in (*DIRECTORY, "supervisor"):
            raise Invalid("target", "choose one of the directory's entries or a supervisor")
        return await service.add_party(
            session, s, who, call_id, kind=kind, target_id=target_id, consult=consult
        )

    return await _act(request, user, session, do, "party")


@router.post("/{call_id}/parties/{party_id}/drop")
async def drop_party(
    call_id: RowId, party_id: RowId, request: Request, user: UserDep, session: SessionDep
) -> Response:
    await _form(request, user)
    s = services_of(request.app)
    return await _act(
        request,
        user,
        session,
        lambda who: service.drop_party(session, s, who, call_id, party_id),
        "drop",
    )


@router.post("/{call_id}/leave")
async def leave(call_id: RowId, request: Request, user: UserDep, session: SessionDep) -> Response:
    handover = str((await _form(request, user)).get("handover", "1")) == "1"
    s = services_of(request.app)
    return await _act(
        request,
        user,
        session,
        lambda who: service.leave(session, s, who, call_id, handover=handover),
        "leave",
    )


@router.post("/{call_id}/end")
async def end(call_id: RowId, request: Request, user: UserDep, session: SessionDep) -> Response:
    await _form(request, user)
    s = services_of(request.app)
    return await _act(
        request, user, session, lambda who: service.end(session, s, who, call_id), "end"
    )


@router.post("/{call_id}/transfer")
async def transfer(
    call_id: RowId, request: Request, user: UserDep, session: SessionDep
) -> Response:
    option_id = str((await _form(request, user)).get("option_id", ""))
    s = services_of(request.app)
    return await _act(
        request,
        user,
        session,
        lambda who: service.transfer(session, s, who, call_id, option_id=option_id),
        "transfer",
    )


@router.post("/{call_id}/help")
async def ask_help(
    call_id: RowId, request: Request, user: UserDep, session: SessionDep
) -> Response:
    await _form(request, user)
    s = services_of(request.app)
    return await _act(
        request, user, session, lambda who: service.ask_help(session, s, who, call_id), "help"
    )


@router.post("/{call_id}/emergency")
async def emergency(
    call_id: RowId, request: Request, user: UserDep, session: SessionDep
) -> Response:
    """Without `confirm`: the confirmation page (or, with no direct line, what to do
    instead); with it, the command centre's line is dialled into the call."""
    form = await _form(request, user)
    prefecture, chosen = str(form.get("prefecture", "")), str(form.get("service", ""))
    if chosen not in live.SERVICES:
        said = "消防か警察を選んでください。"
        return await _cards_page(request, user, session, error=said, status=422)
    cfg = services_of(request.app).cfg
    line = cfg.emergency_line(prefecture, "fire" if chosen == "fire" else "police")
    if str(form.get("confirm", "")) != "yes" or line is None:
        return page(
            request, "emergency_confirm.html", user, call_id=call_id, prefecture=prefecture,
            service=chosen, service_name=live.SERVICES[chosen], line=line,
            what_to_do=WHAT_TO_DO,
        )  # fmt: skip
    consult = str(form.get("consult", "")) == "1"
    s = services_of(request.app)
    return await _act(
        request,
        user,
        session,
        lambda who: service.emergency(
            session,
            s,
            who,
            call_id,
            prefecture=prefecture,
            service=chosen,
            consult=consult,
            confirm=True,
        ),
        "emergency",
    )
