"""Who calls when: a synthetic load from the published figures, or a replay of stored calls.

A `Caller` is one person with a first attempt; a redial (after giving up) is a further
attempt of the same caller, decided inside the run. Every random value of an attempt comes
from the caller's own generator, drawn in a fixed order, so two policies run on the same
demand see the same people with the same patience and talk times (common random numbers).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from hotline.config import TOKYO, HotlineConfig
from hotline.simulate.model import NO_OPTION, SimModel

JAPANESE = "ja"


@dataclass(frozen=True, slots=True)
class Caller:
    index: int  # seeds the caller's own random numbers
    option: str
    language: str
    arrival: float  # seconds from the start of the period
    person: str  # who this is, for unique callers per day (replay: the caller hash)
    redials: bool = True  # synthetic callers may call again; replayed calls are all in the data


@dataclass(frozen=True, slots=True)
class Demand:
    start: dt.datetime  # tz-aware, the period's first moment
    seconds: float  # length of the period
    callers: list[Caller]
    # Calls that chose no option (hung up in the voice guidance): counted, never queued.
    no_option: int = 0
    no_option_people: int = 0
    source: str = ""
    notes: dict[str, str] = field(default_factory=dict)


def period_bounds(cfg: HotlineConfig, period_id: str) -> tuple[dt.datetime, dt.datetime]:
    period = next((p for p in cfg.periods if p.id == period_id), None)
    if period is None:
        known = ", ".join(p.id for p in cfg.periods)
        raise KeyError(f"unknown period {period_id!r}; one of {known}")
    start = dt.datetime.combine(period.start, dt.time(), TOKYO)
    return start, dt.datetime.combine(period.end, dt.time(), TOKYO)


def fresh_share(model: SimModel, rate_percent: float) -> float:
    """First attempts per attempt when each gives up with 1 - rate and redials with p.

    Attempts per person are geometric: 1 / (1 - p (1 - rate)).
    """
    return 1 - model.redial.probability * (1 - rate_percent / 100)


def synthetic(
    cfg: HotlineConfig,
    model: SimModel,
    *,
    period_id: str,
    calls: int,
    rates: dict[str, float],
    overall: float,
    seed: int,
    scale: float = 1.0,
) -> Demand:
    """The period's `calls` (attempts, as published) split by option and spread in time.

    Shares per option come from model.yaml; each option's first attempts are its attempts
    times `fresh_share` at its published answer rate (or the period's overall rate), so that
    with the trials' staffing the attempts come out near the published count.
    """
    if period_id not in model.demand:
        raise KeyError(f"model.yaml gives no demand split for period {period_id!r}")
    start, end = period_bounds(cfg, period_id)
    days = (end - start).days
    rng = np.random.default_rng(seed)
    hours = np.array(model.hour_profile.shares())
    langs = model.languages.normalised()
    callers: list[Caller] = []
    no_option = 0
    for option, share in model.demand[period_id].normalised().items():
        attempts = calls * share * scale
        if option == NO_OPTION:
            no_option = int(rng.poisson(attempts))
            continue
        people = attempts * fresh_share(model, rates.get(option, overall))
        counts = rng.poisson(people / days * hours, size=(days, 24))
        times = _times(rng, counts)
        languages = _languages(rng, option, len(times), langs)
        for t, language in zip(times, languages, strict=True):
            i = len(callers)
            callers.append(Caller(i, option, language, float(t), f"s{i}"))
    callers.sort(key=lambda c: c.arrival)
    return Demand(
        start,
        (end - start).total_seconds(),
        callers,
        no_option=no_option,
        no_option_people=no_option,
        source=f"synthetic from trials.yaml ({period_id}: {calls} calls to reproduce, seed {seed})",
        notes={"demand": model.demand[period_id].note},
    )


def _times(rng: np.random.Generator, counts: np.ndarray) -> np.ndarray:
    """Arrival times, uniform within each (day, hour) cell."""
    cells = np.repeat(np.arange(counts.size), counts.ravel())
    return np.sort(cells * 3600.0 + rng.uniform(0, 3600, size=cells.size))


def _languages(rng: np.random.Generator, option: str, n: int, langs: dict[str, float]) -> list[str]:
    if option != "foreign" or not langs:
        return [JAPANESE] * n
    keys = list(langs)
    return [keys[i] for i in rng.choice(len(keys), size=n, p=list(langs.values()))]


def replayed(
    rows: list[tuple[dt.datetime, str | None, str | None, str | None]],
    start: dt.datetime,
    end: dt.datetime,
    source: str,
) -> Demand:
    """Stored calls as attempts: (arrival, option, language, caller hash) each; nothing else.

    Every stored call is an attempt of its own (the redials are in the data), the caller
    hash only tells who called again.
    """
    callers: list[Caller] = []
    no_option, people = 0, set()
    for arrived, option, language, caller in sorted(rows, key=lambda r: r[0]):
        t = (arrived - start).total_seconds()
        person = caller or f"r{len(callers) + no_option}"
        if option is None or option == NO_OPTION:
            no_option += 1
            people.add((person, _day(arrived)))
            continue
        i = len(callers)
        callers.append(Caller(i, option, language or JAPANESE, t, person, redials=False))
    return Demand(
        start,
        (end - start).total_seconds(),
        callers,
        no_option=no_option,
        no_option_people=len(people),
        source=source,
    )


def _day(when: dt.datetime) -> dt.date:
    return when.astimezone(TOKYO).date()
