"""The unit's calendar: which date it is where the unit trains.

A training day counts towards grades once its date has come in the unit's time zone (UNIT_TIMEZONE,
default Asia/Manila), not the server's. Tests pin "today" with the MUSTER_TODAY config value, so
no test has to patch the database or the system clock.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app


def unit_zone() -> ZoneInfo:
    """The unit's time zone (UNIT_TIMEZONE): check-in codes open and close, and cut-offs apply, by it."""
    return ZoneInfo(current_app.config.get("UNIT_TIMEZONE") or "Asia/Manila")


def unit_today() -> date:
    """Today's date in the unit's time zone (or the pinned MUSTER_TODAY)."""
    return unit_today_for(current_app.config)


def unit_today_for(config: Any) -> date:
    pinned = config.get("MUSTER_TODAY")
    if pinned:
        return pinned if isinstance(pinned, date) else date.fromisoformat(str(pinned))
    return datetime.now(ZoneInfo(config.get("UNIT_TIMEZONE") or "Asia/Manila")).date()
