"""System settings: school year, semester, unit name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from blueprints.core.audit import record_audit
from blueprints.core.cache import clear_settings
from blueprints.core.operations import unit_of_work
from blueprints.core.validation import Field, validate
from models import SEMESTERS, SystemSetting, User

SETTING_FIELDS = [
    Field("school_year", max_len=20, pattern=r"\d{4}-\d{4}", pattern_help="must look like 2026-2027"),
    Field("semester", "choice", choices=SEMESTERS),
    Field("unit_name", max_len=200),
]


def update_settings(actor: User, data: Mapping[str, Any]) -> None:
    """Set some of the system settings; absent keys keep their value."""
    values = {k: v for k, v in validate(data, SETTING_FIELDS, partial=True, reject_unknown=True).items()
              if v is not None}
    with unit_of_work(clear_settings) as session:
        rows = {s.key: s for s in session.scalars(select(SystemSetting).where(SystemSetting.key.in_(values)))}
        for key, value in values.items():
            if key in rows:
                rows[key].value = value
            else:
                session.add(SystemSetting(key=key, value=value))
        record_audit(session, actor.id, "system_settings", "UPDATE", None, values)
