"""Settings and menus.yaml for a command: loaded together, or exit with the reason.

Production names everything it refuses in one message (the settings' and menus.yaml's), so
that one start tells an operator the whole list, not one item per restart."""

from __future__ import annotations

import sys

from pydantic import ValidationError

from hotline import config as config_mod
from hotline.settings import (
    Settings,
    SettingsError,
    production_check_deferred,
    production_problems,
    refusal,
)


def settings_and_config() -> tuple[Settings, config_mod.HotlineConfig]:
    try:
        with production_check_deferred():
            settings = Settings()
    except SettingsError as e:
        sys.exit(f"hotline: {e}")
    except ValidationError as e:  # a setting of the wrong type, or refused by a validator
        sys.exit(f"hotline: {describe(e)}")
    try:
        cfg: config_mod.HotlineConfig | None = config_mod.load(settings.config_path)
        config_error = None
    except config_mod.ConfigError as e:
        cfg, config_error = None, f"{settings.config_path}: {e}"
    if settings.env == "production":
        problems = production_problems(settings)
        problems += [config_error] if config_error else config_problems(cfg)
        if problems:
            sys.exit(f"hotline: {refusal(problems)}")
    if cfg is None:
        sys.exit(f"hotline: {config_error}")
    return settings, cfg


def config_problems(cfg: config_mod.HotlineConfig | None) -> list[str]:
    """What the shipped menus.yaml leaves on for the demo that production must not run with."""
    if cfg is None or not cfg.staffing.by_schedule:
        return []
    return [
        "menus.yaml sets staffing.by_schedule: true (the demo's: every line ready with nobody "
        "signed in, so callers ring empty desks): set it to false, and mark an organisation "
        "whose desks are always manned with staffed_by_schedule: true"
    ]


def describe(error: ValidationError) -> str:
    """Which setting is wrong and why, without its value (it may be a secret)."""
    parts = []
    for err in error.errors(include_input=False, include_url=False):
        where = ".".join(str(x) for x in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"invalid setting {where}: {msg}" if where else msg)
    return "; ".join(parts)
