"""The unit's system settings (writes: operations/settings.py)."""

from __future__ import annotations

from sqlalchemy import select

from blueprints.core.cache import Read
from models import SETTING_DEFAULTS, SystemSetting, db

SETTINGS = Read("settings:all", ("settings",))


def get_settings() -> dict[str, str]:
    """System settings with defaults filled in (cached 30 minutes, cleared on change)."""

    def build() -> dict[str, str]:
        stored = dict(db.session.execute(select(SystemSetting.key, SystemSetting.value)).all())
        # Only the unit's own settings: internal rows (the grades' as-of marker) stay internal.
        return {**SETTING_DEFAULTS, **{k: v for k, v in stored.items() if k in SETTING_DEFAULTS}}

    return SETTINGS.get((), build)
