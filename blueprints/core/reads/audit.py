"""The audit log as staff read it: the list (unbounded, so no full COUNT), one line per write (a
bulk write stays one line, its ids folded away behind the payload), and the menus of who wrote and
which tables were written. Audit rows are written by the operations (blueprints/core/audit.py)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import select, text

from blueprints.core.clock import unit_zone
from blueprints.core.liststate import Filter, ListSpec, ListState
from blueprints.core.reads import fetch_page
from blueprints.core.reads.distinct import loose_distinct
from blueprints.core.reads.selects import select_audit_logs
from models import AUDIT_OPERATIONS, AuditLog, TrainingDay, User, db


def _day_start(d) -> datetime:
    """Midnight of a typed date in the unit's zone (not the server's): "From 2026-09-01" means the unit's day."""
    return datetime.combine(d, time.min, unit_zone())


AUDIT_SPEC = ListSpec(
    "audit",
    {"created_at": (AuditLog.created_at,), "id": (AuditLog.id,)},
    "created_at", AuditLog.id, default_desc=True,
    filters={
        "table": Filter("text", lambda v: AuditLog.table_name == v, label="Table"),
        "operation": Filter("choice", lambda v: AuditLog.operation == v, AUDIT_OPERATIONS, label="Operation"),
        "user_id": Filter("int", lambda v: AuditLog.user_id == v, label="User"),
        "date_from": Filter("date", lambda v: AuditLog.created_at >= _day_start(v), label="From"),
        "date_to": Filter("date", lambda v: AuditLog.created_at < _day_start(v + timedelta(days=1)), label="To"),
    },
    exact_count=False,
)

SINGULAR = {"cadets": "cadet", "grades": "grades", "training_days": "training day", "users": "user",
            "attendance_records": "attendance record", "merit_demerit_logs": "merit/demerit",
            "api_tokens": "API token", "system_settings": "settings", "user_settings": "preferences",
            "performance_stats": "performance statistics"}
BULK_VERBS = {"archive": "Archived", "restore": "Restored", "import": "Imported", "seed": "Seeded"}


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _attendance(payload: dict[str, Any], day_titles: dict[int, str]) -> str:
    """"Marked 759 cadets present on UX Drill"; mixed statuses are tallied after the day."""
    day = day_titles.get(payload.get("training_day_id"), f"training day #{payload.get('training_day_id')}")
    tally: dict[str, int] = payload.get("statuses") or {}
    total = sum(tally.values()) or sum(payload.get(k, 0) for k in ("created", "updated", "skipped"))
    if len(tally) == 1:
        (status, _), = tally.items()
        return f"Marked {_count(total, 'cadet')} {status} on {day}"
    mix = ", ".join(f"{n:,} {s}" for s, n in sorted(tally.items(), key=lambda item: (-item[1], item[0])))
    return f"Marked {_count(total, 'cadet')} on {day}" + (f": {mix}" if mix else "")


def _changed(row: dict[str, Any], what: str) -> str:
    after = row["payload"].get("after") or {}
    fields = ", ".join(sorted(after)) or "nothing"
    return f"Changed {fields} of {what}"


def _created(row: dict[str, Any], what: str) -> str:
    payload = row["payload"]
    if row["table_name"] == "cadets" and payload.get("last_name"):
        return f"Created cadet {payload['last_name']}, {payload.get('first_name', '')} ({payload.get('student_id')})"
    if row["table_name"] == "training_days" and payload.get("title"):
        return f"Created training day {payload['title']} on {payload.get('date')}"
    if row["table_name"] == "merit_demerit_logs" and payload.get("type"):
        return f"Recorded {payload.get('points')} {payload['type']} points for cadet #{payload.get('cadet_id')}"
    return f"Created {what}"


def describe_audit(row: dict[str, Any], day_titles: dict[int, str]) -> str:
    """One line that says what a write did, whatever its size."""
    payload, table, op = row["payload"] or {}, row["table_name"], row["operation"]
    what = SINGULAR.get(table, table) + (f" #{row['record_id']}" if row["record_id"] else "")
    action = payload.get("action")
    if table == "attendance_records" and "training_day_id" in payload:
        return _attendance(payload, day_titles)
    if action in BULK_VERBS:
        count = payload.get("count", payload.get("cadets", len(payload.get("ids", []))))
        return f"{BULK_VERBS[action]} {_count(count, 'cadet')}"
    if action == "bulk-update":
        return f"Updated the grades of {_count(payload.get('count', 0), 'cadet')}"
    if action == "held-days":
        return f"Recomputed every grade: training days whose date had come by {payload.get('as_of')} now count"
    if isinstance(action, str):
        return f"{action.replace('-', ' ').capitalize()} ({what})"
    if op == "CREATE":
        return _created(row, what)
    if op == "DELETE":
        title = f" {payload['title']} ({payload.get('date')})" if payload.get("title") else ""
        return f"Deleted {what}{title}"
    if "after" in payload:
        return _changed(row, what)
    return f"Changed {', '.join(sorted(k for k in payload if k != 'version')) or 'nothing'} of {what}"


def list_audit(state: ListState, *, clamp_page: bool = False) -> dict[str, Any]:
    return fetch_page(select_audit_logs(), state, table="audit_logs", clamp_page=clamp_page)


def list_audit_described(state: ListState, *, clamp_page: bool = False) -> dict[str, Any]:
    """One page of the audit log with a `summary` line per row (one more query for day titles)."""
    page = list_audit(state, clamp_page=clamp_page)
    day_ids = {r["payload"].get("training_day_id") for r in page["data"]
               if r["table_name"] == "attendance_records" and r["payload"]}
    day_ids.discard(None)
    titles = dict(db.session.execute(select(TrainingDay.id, TrainingDay.title)
                                     .where(TrainingDay.id.in_(day_ids))).all()) if day_ids else {}
    for row in page["data"]:
        row["summary"] = describe_audit(row, titles)
    return page


def _distinct(column: str) -> list:
    """Distinct values of an indexed audit_logs column: one index probe per value, however long the log grows."""
    return list(db.session.scalars(text(f"SELECT x FROM ({loose_distinct('audit_logs', column)}) AS d ORDER BY n")))


def audit_filter_options() -> dict[str, list]:
    """The menus of the audit log's filters: users who wrote something (by name) and tables written."""
    user_ids = _distinct("user_id")
    users = db.session.execute(select(User.id, User.username).where(User.id.in_(user_ids))
                               .order_by(User.username)).all() if user_ids else []
    return {"users": [(str(uid), name) for uid, name in users], "tables": _distinct("table_name")}
