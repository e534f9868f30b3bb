"""The simulator's assumptions (model.yaml) and the published trial figures (trials.yaml).

Both files ship inside this package, so `hotline simulate` works from any directory and the
tests read the same copies. Every assumption carries a note saying where it came from.
"""

from __future__ import annotations

import math
import random
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

NO_OPTION = "none"  # calls that chose no option (the reports' label for them)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Dist(_Model):
    """A positive random duration in seconds. `config` (wrap-up only): the organisation's own
    `wrap_up_seconds` from menus.yaml, as the router applies it; `mean` is then its stand-in
    for a line of no organisation."""

    dist: Literal["exponential", "lognormal", "fixed", "uniform", "config"]
    mean: float = Field(default=0.0, ge=0)
    sd: float = Field(default=0.0, ge=0)
    low: float = Field(default=0.0, ge=0)
    high: float = Field(default=0.0, ge=0)
    note: str = ""

    @model_validator(mode="after")
    def _usable(self) -> Dist:
        if self.dist == "lognormal" and (self.mean <= 0 or self.sd <= 0):
            raise ValueError("lognormal needs a positive mean and sd")
        if self.dist == "uniform" and self.high < self.low:
            raise ValueError("uniform needs low <= high")
        return self

    def draw(self, rng: random.Random) -> float:
        if self.dist == "exponential":
            return rng.expovariate(1 / self.mean) if self.mean > 0 else 0.0
        if self.dist == "lognormal":
            # mean and sd of the duration itself, turned into the underlying normal's.
            s2 = math.log(1 + (self.sd / self.mean) ** 2)
            return rng.lognormvariate(math.log(self.mean) - s2 / 2, math.sqrt(s2))
        if self.dist == "uniform":
            return rng.uniform(self.low, self.high)
        return self.mean


class Redial(_Model):
    probability: float = Field(ge=0, le=1)
    after: Dist
    note: str = ""


class HourProfile(_Model):
    weights: list[float] = Field(min_length=24, max_length=24)
    note: str = ""

    def shares(self) -> list[float]:
        total = sum(self.weights)
        if total <= 0:
            raise ValueError("hour_profile: the weights add up to nothing")
        return [w / total for w in self.weights]


class Shares(_Model):
    shares: dict[str, float] = Field(min_length=1)
    note: str = ""

    def normalised(self) -> dict[str, float]:
        total = sum(self.shares.values())
        return {k: v / total for k, v in self.shares.items() if v > 0}


class SimModel(_Model):
    talk: Dist
    wrap_up: Dist
    setup: Dist
    patience: Dist
    redial: Redial
    hour_profile: HourProfile
    languages: Shares
    demand: dict[str, Shares] = {}
    published_options: dict[str, str] = {}

    def notes(self) -> dict[str, str]:
        """Where each assumption came from, for the outputs."""
        out = {
            name: getattr(self, name).note
            for name in ("talk", "wrap_up", "setup", "patience", "redial")
        }
        out["hour_profile"] = self.hour_profile.note
        out["languages"] = self.languages.note
        out.update({f"demand.{k}": v.note for k, v in self.demand.items()})
        return out


def load_model(path: Path | None = None) -> SimModel:
    """model.yaml of this package, or an operator's copy."""
    if path is None:
        text = resources.files(__package__).joinpath("model.yaml").read_text(encoding="utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    return SimModel.model_validate(yaml.safe_load(text))


def load_trials() -> dict[str, dict[str, Any]]:
    """The published figures per period id (this package's copy of trials.yaml)."""
    text = resources.files(__package__).joinpath("trials.yaml").read_text(encoding="utf-8")
    return {p["id"]: p for p in yaml.safe_load(text)["periods"]}


def published_rates(
    model: SimModel, trials: dict[str, dict[str, Any]], period_id: str
) -> dict[str, float]:
    """Published answer rate (%) per option of menus.yaml for a period.

    第1期's per-option rates were published with 第2期 (`previous_option_answer_rates`).
    """
    rates: dict[str, float] = dict(trials.get(period_id, {}).get("option_answer_rates") or {})
    ids = list(trials)
    if period_id in ids and ids.index(period_id) + 1 < len(ids):
        later = trials[ids[ids.index(period_id) + 1]]
        for name, value in (later.get("previous_option_answer_rates") or {}).items():
            rates.setdefault(name, value)
    return {model.published_options.get(name, name): float(v) for name, v in rates.items()}
