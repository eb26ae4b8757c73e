"""Merit and demerit logs. Totals are recounted from the logs, so they always equal their sum."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from blueprints.core.audit import record_audit
from blueprints.core.cache import clear_merits
from blueprints.core.errors import NotFound
from blueprints.core.operations import get_or_404, lock_grade_rows, unit_of_work
from blueprints.core.operations.notifications import notify_cadets
from blueprints.core.validation import MAX_ID, Field, validate
from grading import recompute_grades
from models import MERIT_TYPES, Cadet, MeritDemeritLog, User, db

MERIT_FIELDS = [
    Field("cadet_id", "int", required=True, min=1, max=MAX_ID),
    Field("type", "choice", required=True, choices=MERIT_TYPES),
    Field("points", "int", required=True, min=1, max=100),
    Field("reason", required=True, max_len=500),
]


def record_merit(actor: User, data: Mapping[str, Any]) -> int:
    """Log a merit or demerit issued by the acting user and recount the cadet's totals."""
    values = validate(data, MERIT_FIELDS)
    if db.session.get(Cadet, values["cadet_id"]) is None:
        raise NotFound("No cadet with that id.", {"cadet_id": ["does not exist"]})
    with unit_of_work(clear_merits) as session:
        lock_grade_rows(session, [values["cadet_id"]])
        log = MeritDemeritLog(**values, issued_by_user_id=actor.id, issued_by_name=actor.username)
        session.add(log)
        session.flush()
        log_id = log.id  # read before commit: after it the instance is expired and would re-query
        recompute_grades(session, [values["cadet_id"]])
        record_audit(session, actor.id, "merit_demerit_logs", "CREATE", log_id, values)
        notify_cadets(session, [values["cadet_id"]], "merit",
                      f"A {values['type']} of {values['points']} points was recorded: {values['reason']}", "/me")
    return log_id


def delete_merit(actor: User, log_id: int) -> None:
    """Remove a log entry (a correction) and recount the cadet's totals."""
    log = get_or_404(MeritDemeritLog, log_id, "merit/demerit entry")
    with unit_of_work(clear_merits) as session:
        lock_grade_rows(session, [log.cadet_id])
        log = get_or_404(MeritDemeritLog, log_id, "merit/demerit entry", fresh=True)  # a concurrent delete may have won
        payload = {"cadet_id": log.cadet_id, "type": log.type, "points": log.points, "reason": log.reason}
        session.delete(log)
        session.flush()
        recompute_grades(session, [payload["cadet_id"]])
        record_audit(session, actor.id, "merit_demerit_logs", "DELETE", log_id, payload)
        notify_cadets(session, [payload["cadet_id"]], "merit",
                      f"A {payload['type']} of {payload['points']} points was removed: {payload['reason']}", "/me")
