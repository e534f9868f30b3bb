"""Settings and menus.yaml for a command: loaded together, or exit with the reason."""

from __future__ import annotations

import sys

from pydantic import ValidationError

from hotline import config as config_mod
from hotline.settings import Settings, SettingsError


def settings_and_config() -> tuple[Settings, config_mod.HotlineConfig]:
    try:
        settings = Settings()
        return settings, config_mod.load(settings.config_path)
    except (SettingsError, config_mod.ConfigError) as e:
        sys.exit(f"hotline: {e}")
    except ValidationError as e:  # a setting of the wrong type, or refused by a validator
        sys.exit(f"hotline: {describe(e)}")


def describe(error: ValidationError) -> str:
    """Which setting is wrong and why, without its value (it may be a secret)."""
    parts = []
    for err in error.errors(include_input=False, include_url=False):
        where = ".".join(str(x) for x in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"invalid setting {where}: {msg}" if where else msg)
    return "; ".join(parts)
