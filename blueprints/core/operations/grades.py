"""Exam scores and grade status, guarded by the grades row's version against lost updates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, select, update

from blueprints.core.audit import record_audit
from blueprints.core.cache import clear_grades
from blueprints.core.errors import Conflict, NotFound, ValidationError
from blueprints.core.operations import lock_grade_rows, unit_of_work
from blueprints.core.operations.notifications import notify_cadets
from blueprints.core.validation import MAX_BULK, MAX_ID, Field, validate
from grading import recompute_grades
from models import GRADE_STATUSES, Grade, User, db, utcnow

GRADE_FIELDS = [
    Field("prelim_score", "float", min=0, max=100),
    Field("midterm_score", "float", min=0, max=100),
    Field("final_score", "float", min=0, max=100),
    Field("status", "choice", choices=GRADE_STATUSES, nullable=False),
]
GRADES_CHANGED = "Your grades were updated."
_VERSION = Field("version", "int", min=1, max=MAX_ID)


def _stale(cadet_id: int) -> Conflict:
    current = db.session.execute(
        select(Grade.version, *(getattr(Grade, f.name) for f in GRADE_FIELDS)).where(Grade.cadet_id == cadet_id)
    ).one()
    return Conflict("These grades were changed by someone else; review the newer values and try again.",
                    {"version": [f"is stale; the current version is {current.version}"]})


def update_grade(actor: User, cadet_id: int, data: Mapping[str, Any], version: Any = None) -> int:
    """Set exam scores and/or status if `version` is current; returns the new version."""
    values = validate(data, GRADE_FIELDS, partial=True)
    expected = validate({"version": version}, [_VERSION])["version"] if version is not None else None
    if not values:
        raise ValidationError("Nothing to change.", {"body": ["give at least one of: "
                              + ", ".join(f.name for f in GRADE_FIELDS)]})
    with unit_of_work(clear_grades) as session:
        lock_grade_rows(session, [cadet_id])
        stmt = update(Grade).where(Grade.cadet_id == cadet_id)
        if expected is not None:
            stmt = stmt.where(Grade.version == expected)
        new_version = session.scalar(
            stmt.values(**values, version=Grade.version + 1, updated_at=utcnow())
            .returning(Grade.version)
            .execution_options(synchronize_session=False)
        )
        if new_version is None:
            exists = session.scalar(select(Grade.id).where(Grade.cadet_id == cadet_id))
            raise NotFound("No grades for that cadet.") if exists is None else _stale(cadet_id)
        recompute_grades(session, [cadet_id], recount=False)
        record_audit(session, actor.id, "grades", "UPDATE", cadet_id, {**values, "version": new_version})
        notify_cadets(session, [cadet_id], "grades", GRADES_CHANGED, "/me")
    return new_version


def bulk_update_grades(actor: User, items: Any) -> int:
    """Scores for many cadets in one transaction, all or nothing; returns how many changed.

    Each item is {"cadet_id": id, "prelim_score"?, "midterm_score"?, "final_score"?, "status"?,
    "version"?}. Constant statements: one UPDATE ... executemany per distinct set of fields.
    """
    if not isinstance(items, list) or not items or len(items) > MAX_BULK:
        raise ValidationError(f"items must be a list of 1 to {MAX_BULK} grade updates.",
                              {"items": [f"must be a list of 1 to {MAX_BULK} objects"]})
    errors: dict[str, list[str]] = {}
    clean: list[tuple[int, int | None, dict]] = []
    for i, item in enumerate(items):
        try:
            if not isinstance(item, Mapping):
                raise ValidationError(details={"item": ["must be an object"]})
            cid = validate(item, [Field("cadet_id", "int", required=True, min=1, max=MAX_ID)])["cadet_id"]
            version = validate(item, [_VERSION]).get("version")
            values = validate(item, GRADE_FIELDS, partial=True)
            if not values:
                raise ValidationError(details={"item": ["has nothing to change"]})
            clean.append((cid, version, values))
        except ValidationError as exc:
            for field, messages in exc.details.items():
                errors[f"items[{i}].{field}"] = messages
    ids = [cid for cid, _, _ in clean]
    if len(set(ids)) != len(ids):
        errors["items"] = ["each cadet_id may appear only once"]
    if errors:
        raise ValidationError("Some items are invalid; nothing was changed.", errors)
    with unit_of_work(clear_grades) as session:
        lock_grade_rows(session, ids)
        _apply_bulk(session, clean)
        recompute_grades(session, ids, recount=False)
        record_audit(session, actor.id, "grades", "UPDATE", None,
                     {"action": "bulk-update", "count": len(ids), "cadet_ids": ids[:500]})
        notify_cadets(session, ids, "grades", GRADES_CHANGED, "/me")
    return len(ids)


def _apply_bulk(session, clean: list[tuple[int, int | None, dict]]) -> None:
    current = dict(session.execute(
        select(Grade.cadet_id, Grade.version).where(Grade.cadet_id.in_([c for c, _, _ in clean]))
    ).all())  # already locked by the caller
    missing = [c for c, _, _ in clean if c not in current]
    if missing:
        raise NotFound("Some cadets do not exist; nothing was changed.",
                       {"cadet_id": [f"unknown: {', '.join(map(str, missing[:20]))}"]})
    stale = [c for c, v, _ in clean if v is not None and v != current[c]]
    if stale:
        raise Conflict("Some grades changed since they were read; nothing was changed.",
                       {"version": [f"stale for cadet_id {', '.join(map(str, stale[:20]))}"]})
    groups: dict[tuple[str, ...], list[dict]] = {}
    for cid, _, values in clean:
        groups.setdefault(tuple(sorted(values)), []).append({"b_cadet_id": cid, **values})
    now = utcnow()
    for fields, params in groups.items():
        stmt = (update(Grade.__table__)
                .where(Grade.__table__.c.cadet_id == bindparam("b_cadet_id"))
                .values({f: bindparam(f) for f in fields} | {"version": Grade.__table__.c.version + 1,
                                                              "updated_at": now}))
        session.execute(stmt, params)
