"""The unit's calendar: which date it is where the unit trains.

A training day counts towards grades once its date has come in the unit's time zone (UNIT_TIMEZONE,
default Asia/Manila), not the server's. Tests pin "today" with the MUSTER_TODAY config value, so
no test has to patch the database or the system clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app


def unit_today() -> date:
    """Today's date in the unit's time zone (or the pinned MUSTER_TODAY)."""
    return unit_today_for(current_app.config)


def unit_today_for(config: Any) -> date:
    pinned = config.get("MUSTER_TODAY")
    if pinned:
        return pinned if isinstance(pinned, date) else date.fromisoformat(str(pinned))
    return datetime.now(ZoneInfo(config.get("UNIT_TIMEZONE") or "Asia/Manila")).date()


def unit_zone() -> ZoneInfo:
    """The unit's time zone (UNIT_TIMEZONE): every time shown to people is in it; stored times stay UTC."""
    return _zone(current_app.config.get("UNIT_TIMEZONE") or "Asia/Manila")


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def unit_time(moment: datetime | str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored (UTC) moment as the unit's wall-clock time; naive values are taken as UTC."""
    if not moment:
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(unit_zone()).strftime(fmt)

