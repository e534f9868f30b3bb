"""Who may serve what now: the routing pass's per-minute answers, in one object.

Which lines are scheduled (by their hours), which of them may serve an (option, language)
class through some tier, and how many of each class's first callers a pass's free lines could
serve: asked at every pass, menu choice and hold poll, answered from what this object keeps.
Each answer has its own reason to change, and this object alone says when:

- the scheduled lines and the lines serving each class, for the minute (`now` truncated),
  when every line's hours start and end on whole minutes; to the second otherwise;
- whether a line of an organisation speaking some languages may serve a class, and the
  classes a line of such a profile may serve: for the configuration (they change with it);
- a pass's caps by its free lines' profiles, the last CAPS_KEPT sets of them.

`now` is a parameter of every question (the pass's clock), so a test drives it with a clock.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hotline.config import HotlineConfig, HoursSpec
from hotline.hours.schedule import scheduled
from hotline.routing import engine

if TYPE_CHECKING:
    from hotline.routing.store import RoutedLine

JAPANESE = "ja"
CAPS_KEPT = 256  # sets of free lines' caps kept (`ServingCache.caps`)


class ServingCache:
    """The answers of `Router.scheduled_ids`, `Router.serving` and the pass's caps, kept as
    long as they hold (see the module's docstring)."""

    def __init__(
        self,
        cfg: HotlineConfig,
        lines: Mapping[str, RoutedLine],
        languages: Mapping[str, frozenset[str]],
        table: Mapping[str, engine.OptionRouting],
    ) -> None:
        self.cfg, self.lines, self.languages, self.table = cfg, lines, languages, table
        # Hours that all start and end on whole minutes change nothing within a minute: which
        # lines are scheduled, and which of them may serve a class, are kept for the minute.
        self.minutely = all(
            _on_whole_minutes(r.line.hours if r.line.hours is not None else r.org.hours)
            for r in self.lines.values()
        )
        self._minute: dt.datetime | None = None
        self._scheduled_now: tuple[tuple[str, ...], frozenset[str]] = ((), frozenset())
        self._serving: dict[tuple[str, str | None], list[str]] = {}
        self._served: dict[tuple[str, str | None, str, frozenset[str]], bool] = {}
        spoken = sorted(set().union(*self.languages.values()))
        self.classes = [(o, lang) for o in self.table for lang in (None, *spoken)]
        self._profile_classes: dict[tuple[str, frozenset[str]], tuple[int, ...]] = {}
        # A pass's caps by its free lines' profiles: a pass after a pass with the same free
        # lines (the steady state, every webhook's pass) reads them here.
        self._caps_for: dict[tuple[frozenset[Any], int], dict[str, list[Any]]] = {}

    def scheduled_ids(self, now: dt.datetime) -> list[str]:
        return list(self.scheduled(now)[0])

    def scheduled(self, now: dt.datetime) -> tuple[tuple[str, ...], frozenset[str]]:
        """The lines scheduled at `now` (in config order, and as a set), asked of each line's
        hours at most once a minute when the hours allow it (see `minutely`): the passes,
        the staffing checks and the scrapes of a minute share the answer."""
        minute = now.astimezone(dt.UTC).replace(second=0, microsecond=0)
        if self.minutely and minute == self._minute:
            return self._scheduled_now
        ids = tuple(
            i for i, r in self.lines.items() if scheduled(r.org, r.line, now, self.cfg.calendar)
        )
        if self.minutely:
            self._minute, self._scheduled_now, self._serving = minute, (ids, frozenset(ids)), {}
        return ids, frozenset(ids)

    def may_serve(self, option_id: str, language: str | None, line_id: str) -> bool:
        return self.serves(option_id, language, self.lines[line_id].org_id, self.languages[line_id])

    def serves(
        self, option_id: str, language: str | None, org: str, spoken: frozenset[str]
    ) -> bool:
        """May a line of `org` speaking `spoken` serve the class through any tier?"""
        key = (option_id, language, org, spoken)
        known = self._served.get(key)
        if known is None:
            option, lang = self.table.get(option_id), language or JAPANESE
            known = option is not None and any(
                org in t.orgs and (not t.require_language or lang in spoken) for t in option.tiers
            )
            self._served[key] = known
        return known

    def caps(self, lines: list[engine.FreeLine], limit: int) -> dict[str, list[Any]]:
        """How many of each class's first callers this pass could serve, for the classes the
        configuration knows (options by no language and by every language a line speaks)
        where that is fewer than `limit`: no more than the free lines that may serve the
        class through some tier, as each line takes one caller a pass. Lines are counted by
        organisation and languages, which is all that decides."""
        profiles = frozenset(Counter((line.org, line.languages) for line in lines).items())
        known = self._caps_for.get((profiles, limit))
        if known is not None:
            return known
        counts = [0] * len(self.classes)
        for profile, count in profiles:
            for i in self.classes_served(profile):
                counts[i] += count
        options, languages, caps = [], [], []
        for (option_id, language), n in zip(self.classes, counts, strict=True):
            if n < limit:
                options.append(option_id)
                languages.append(language)
                caps.append(n)
        if len(self._caps_for) >= CAPS_KEPT:  # free lines' profiles vary little; bound it
            self._caps_for.clear()
        known = self._caps_for[(profiles, limit)] = {
            "cap_options": options,
            "cap_languages": languages,
            "caps": caps,
        }
        return known

    def classes_served(self, profile: tuple[str, frozenset[str]]) -> tuple[int, ...]:
        """The classes (indexes in `classes`) a line of this organisation and languages may
        serve, asked of the tiers once per profile rather than at every pass."""
        known = self._profile_classes.get(profile)
        if known is None:
            org, spoken = profile
            known = self._profile_classes[profile] = tuple(
                i
                for i, (option_id, language) in enumerate(self.classes)
                if self.serves(option_id, language, org, spoken)
            )
        return known

    def serving(self, option_id: str, language: str | None, now: dt.datetime) -> list[str]:
        """The lines scheduled now that may serve this option (signed in or not)."""
        ids = self.scheduled(now)[0]  # first: a new minute clears `_serving`
        candidates = self._serving.get((option_id, language)) if self.minutely else None
        if candidates is None:
            candidates = [i for i in ids if self.may_serve(option_id, language, i)]
            if self.minutely:
                self._serving[(option_id, language)] = candidates
        return candidates


def _on_whole_minutes(hours: HoursSpec) -> bool:
    return hours == "24h" or all(
        t.second == 0 and t.microsecond == 0 for w in hours for t in (w.start, w.end)
    )
