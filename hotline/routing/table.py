"""A readable table of who answers each key of the menu in force (for `hotline routes`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hotline.config import TOKYO, HotlineConfig


def _orgs(cfg: HotlineConfig, org_ids: list[str]) -> str:
    parts = []
    for org_id in org_ids:
        org = cfg.org(org_id)
        parts.append(f"{org.name} ({len(org.lines)} line{'s' if len(org.lines) > 1 else ''})")
    return ", ".join(parts)


def _option_lines(cfg: HotlineConfig, option_id: str, language: str | None) -> list[str]:
    option = cfg.option(option_id)
    head = option.name + (f" [{cfg.languages[language].name}]" if language else "")
    if option.priority:
        head += f" (priority {option.priority})"
    out = [head, f"      primary: {_orgs(cfg, option.tiers.primary)}"]
    for name in ("overflow", "backup"):
        tier = getattr(option.tiers, name)
        if tier is not None:
            out.append(f"      {name} after {tier.after_seconds}s: {_orgs(cfg, tier.orgs)}")
    return out


def describe(
    cfg: HotlineConfig, now: dt.datetime, menu_id: str | None = None, depth: int = 0
) -> str:
    period = cfg.period_at(now)
    menu_id = menu_id or cfg.menu_at(now)
    menu = cfg.menus[menu_id]
    lines: list[str] = []
    if depth == 0:
        when = now.astimezone(TOKYO).strftime("%Y-%m-%d %H:%M")
        label = f"{period.name} ({period.id})" if period else "outside every trial period"
        lines.append(f"{when} Asia/Tokyo, {label}: menu {menu_id}")
    pad = "  " * depth
    for key, choice in menu.keys.items():
        if choice.menu is not None:
            if depth == 0:
                lines.append(f"{pad}  key {key}: menu {choice.menu}")
                lines.append(describe(cfg, now, choice.menu, depth + 1))
            else:
                lines.append(f"{pad}  key {key}: back to menu {choice.menu}")
            continue
        assert choice.option is not None
        first, *rest = _option_lines(cfg, choice.option, choice.language)
        lines.append(f"{pad}  key {key}: {first}")
        lines.extend(pad + r for r in rest)
    lines.append(f"{pad}  key {menu.repeat_key}: repeat this menu")
    if menu.default.option:
        lines.append(
            f"{pad}  no key after {menu.retries} tries: {cfg.option(menu.default.option).name}"
        )
    return "\n".join(lines)


PRESENCE_WORDS = {
    "offline": "offline (not signed in)",
    "ready": "ready",
    "reserved": "reserved for a caller",
    "ringing": "ringing",
    "talking": "talking",
    "wrap_up": "wrap-up",
    "away": "away",
}


def describe_lines(views: list[Any]) -> str:
    """Each line's presence now (LineViews), for `hotline routes`."""
    out = ["Lines now:"]
    if not views:
        out.append("  (no line has a state yet: they get one when the service starts)")
    for v in views:
        state = PRESENCE_WORDS.get(str(v.presence), str(v.presence))
        if v.reason:
            state += f" ({v.reason})"
        if getattr(v, "break_until", None):  # a break after a hard call or long talk
            state += f" until {v.break_until.astimezone(TOKYO).strftime('%H:%M')}"
        if not v.scheduled:
            state += ", outside its hours"
        if v.after_call:
            state += f", then {v.after_call}"
        since = v.since.astimezone(TOKYO).strftime("%H:%M:%S")
        out.append(f"  {v.id:<24} {v.org_id:<20} {state} since {since}")
    return "\n".join(out)
