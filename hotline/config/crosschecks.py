"""The checks across sections of menus.yaml (ids that must exist, be unique, agree), run when
the whole file is validated (`HotlineConfig`); each problem names its field."""

from __future__ import annotations

import string
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from hotline.config.care import care_problems
from hotline.config.checks import check_number, voice_problems
from hotline.config.directory import directory_problems
from hotline.config.words import (
    CLOSED_PLACEHOLDERS,
    HOLD_PLACEHOLDERS,
    PLACEHOLDERS,
    Messages,
    Speech,
)

if TYPE_CHECKING:
    from hotline.config.schema import HotlineConfig


def _unique(kind: str, ids: list[str]) -> Iterable[str]:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            yield f"{kind}: duplicate id {i!r}"
        seen.add(i)


def cross_problems(cfg: HotlineConfig) -> Iterable[str]:
    org_ids = {o.id for o in cfg.organisations}
    option_ids = {o.id for o in cfg.options}
    yield from _unique("organisations", [o.id for o in cfg.organisations])
    yield from _unique("options", [o.id for o in cfg.options])
    yield from _unique("periods", [p.id for p in cfg.periods])
    yield from _unique("lines", [line.id for _, line in cfg.lines()])
    if cfg.backup_org not in org_ids:
        yield f"backup_org: unknown organisation {cfg.backup_org!r}"
    for o in cfg.options:
        tiers = [("primary", o.tiers.primary)]
        tiers += [
            (n, t.orgs)
            for n, t in (("overflow", o.tiers.overflow), ("backup", o.tiers.backup))
            if t
        ]
        for name, orgs in tiers:
            for org in orgs:
                if org not in org_ids:
                    yield f"options.{o.id}.tiers.{name}: unknown organisation {org!r}"
    yield from _menu_problems(cfg, option_ids)
    for p in cfg.periods:
        if p.menu not in cfg.menus:
            yield f"periods.{p.id}.menu: unknown menu {p.menu!r}"
    yield from _placeholder_problems(cfg)
    yield from _hours_problems(cfg, option_ids)
    own = [o.care for o in cfg.organisations]
    yield from care_problems(cfg.care, own, cfg.records.seriousness)
    yield from _staffing_problems(cfg)
    yield from voice_problems(cfg)
    yield from _caller_id_problems(cfg)
    yield from directory_problems(cfg)


def _caller_id_problems(cfg: HotlineConfig) -> Iterable[str]:
    places = [("caller_id", cfg.caller_id)]
    places += [(f"organisations.{o.id}.caller_id", o.caller_id) for o in cfg.organisations]
    places += [("callback.number", cfg.callback.number)]
    places += [(f"verified_caller_ids.{n}", v) for n, v in enumerate(cfg.verified_caller_ids)]
    for where, number in places:
        if number is None:
            continue
        try:
            check_number(number)
        except ValueError as e:
            yield f"{where}: {e}"
    yield from _japanese_caller_ids(cfg)


def _japanese_caller_ids(cfg: HotlineConfig) -> Iterable[str]:
    """Calls to Japanese numbers show a Twilio Japanese number. Twilio's guidelines for Japan:
    a verified caller ID is not kept on domestic calls (the callee sees 非通知, and phones that
    refuse withheld numbers refuse the call), nor is a foreign number a caller can call
    back. A callback always calls a Japanese number; a forwarded leg does when its line's
    target is +81 (a sip: line is not a Japanese number)."""
    own = {o.id for o in cfg.organisations if o.caller_id}
    japanese = {
        o.id for o in cfg.organisations if any(ln.target.startswith("+81") for ln in o.lines)
    }
    shown = [("callback.number", cfg.callback_number)]
    if japanese - own:  # lines that show the hotline's caller ID
        shown.append(("caller_id", cfg.caller_id_for(None)))
    shown += [
        (f"organisations.{o.id}.caller_id", o.caller_id)
        for o in cfg.organisations
        if o.caller_id and o.id in japanese
    ]
    verified = set(cfg.verified_caller_ids)
    for where, number in shown:
        if number in verified:
            yield (
                f"{where}: {number} is a verified caller ID (verified_caller_ids); Twilio does "
                "not keep one on calls to Japanese numbers: use a Twilio Japanese number"
            )
        elif number and not number.startswith("+81"):
            yield f"{where}: calls to Japanese numbers must show a Japanese number, not {number}"


def _staffing_problems(cfg: HotlineConfig) -> Iterable[str]:
    """Mistakes that would silently leave a line unused or a call in the wrong period."""
    spoken = {"ja", *cfg.languages}
    for org in cfg.organisations:
        for lang in org.languages:
            if lang not in spoken:
                yield f"organisations.{org.id}.languages: unknown language {lang!r}"
        for line in org.lines:
            for lang in line.languages or []:
                if lang not in spoken:
                    yield f"organisations.{org.id}.lines.{line.id}.languages: unknown {lang!r}"
    periods = sorted(cfg.periods, key=lambda p: p.start)
    for a, b in zip(periods, periods[1:], strict=False):
        if b.start < a.end:
            yield f"periods.{b.id}: overlaps periods.{a.id} (a call belongs to one period)"
    numbers = [n for e in cfg.entry_numbers for n in e.numbers]
    for n in sorted({n for n in numbers if numbers.count(n) > 1}):
        yield f"entry_numbers: {n} is listed under two entries"


def _menu_problems(cfg: HotlineConfig, option_ids: set[str]) -> Iterable[str]:
    if cfg.default_menu not in cfg.menus:
        yield f"default_menu: unknown menu {cfg.default_menu!r}"
    for menu_id, menu in cfg.menus.items():
        choices = [(f"keys.{k!r}", c) for k, c in menu.keys.items()] + [("default", menu.default)]
        for where, choice in choices:
            at = f"menus.{menu_id}.{where}"
            if choice.option is not None and choice.option not in option_ids:
                yield f"{at}.option: unknown option {choice.option!r}"
            if choice.menu is not None and choice.menu not in cfg.menus:
                yield f"{at}.menu: unknown menu {choice.menu!r}"
            if choice.language is not None and choice.language not in cfg.languages:
                yield f"{at}.language: unknown language {choice.language!r}"
        if menu.default.menu is not None:
            yield f"menus.{menu_id}.default: the default must be an option, not a menu"
    for lang_id, lang in cfg.languages.items():
        if not lang.tts:
            yield f"languages.{lang_id}.tts: missing"


def _hours_problems(cfg: HotlineConfig, option_ids: set[str]) -> Iterable[str]:
    """Hours that name what does not exist, and closed messages in no caller language."""
    spoken = {"ja", *cfg.languages}
    for o in cfg.options:
        for lang in o.language_hours:
            if lang not in cfg.languages:
                yield f"options.{o.id}.language_hours: unknown language {lang!r}"
    for p in cfg.periods:
        for key in p.hours:
            option, _, lang = key.partition("/")
            if option not in option_ids:
                yield f"periods.{p.id}.hours: unknown option {option!r}"
            elif lang and lang not in cfg.languages:
                yield f"periods.{p.id}.hours: unknown language {lang!r} in {key!r}"
    yield from _unique("referrals", [r.id for r in cfg.referrals])
    for r in cfg.referrals:
        for lang in [*r.languages, *r.names]:
            if lang not in spoken:
                yield f"referrals.{r.id}: unknown language {lang!r}"
    for lang in cfg.closed:
        if lang not in spoken:
            yield f"closed.{lang}: unknown language {lang!r}"
    yield from _hold_problems(cfg, spoken)


def _hold_problems(cfg: HotlineConfig, spoken: set[str]) -> Iterable[str]:
    """Every caller language has its hold words, and no words are kept for none."""
    for lang in sorted(spoken - set(cfg.hold_words)):
        yield f"hold_words.{lang}: missing (every caller language needs its hold words)"
    for lang in cfg.hold_words:
        if lang not in spoken:
            yield f"hold_words.{lang}: unknown language {lang!r}"


def _placeholder_problems(cfg: HotlineConfig) -> Iterable[str]:
    for lang_id, words in cfg.closed.items():
        for part, prompt in words.parts().items():
            yield from _unknown_placeholders(
                f"closed.{lang_id}.{part}", prompt, CLOSED_PLACEHOLDERS.get(part, set())
            )
    for lang_id, hold in cfg.hold_words.items():
        for part, prompt in hold.parts().items():
            allowed = HOLD_PLACEHOLDERS.get(part, set())
            yield from _unknown_placeholders(f"hold_words.{lang_id}.{part}", prompt, allowed)
    for name in Messages.model_fields:
        allowed = PLACEHOLDERS.get(name, set())
        yield from _unknown_placeholders(f"messages.{name}", getattr(cfg.messages, name), allowed)


def _unknown_placeholders(where: str, prompt: Sequence[Speech], allowed: set[str]) -> Iterable[str]:
    for i, speech in enumerate(prompt):
        if speech.text is None:
            continue
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(speech.text) if f is not None}
        except ValueError as e:
            yield f"{where}.{i}.text: {e}"
            continue
        for bad in sorted(fields - allowed):
            ok = ", ".join("{" + a + "}" for a in sorted(allowed)) or "none"
            yield f"{where}.{i}.text: unknown placeholder {{{bad}}} (allowed: {ok})"
