"""Settings and menus.yaml for a command: loaded together, or exit with the reason."""

from __future__ import annotations

import sys

from hotline import config as config_mod
from hotline.settings import Settings, SettingsError


def settings_and_config() -> tuple[Settings, config_mod.HotlineConfig]:
    try:
        settings = Settings()
        return settings, config_mod.load(settings.config_path)
    except (SettingsError, config_mod.ConfigError) as e:
        sys.exit(f"hotline: {e}")
    except ValueError as e:  # pydantic's ValidationError of a setting
        sys.exit(f"hotline: invalid setting: {e}")
