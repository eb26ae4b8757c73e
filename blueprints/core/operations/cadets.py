"""Create, edit, archive, restore and import cadets; each cadet gets its one grades row."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import insert, select, update

from blueprints.core.audit import record_audit
from blueprints.core.cache import clear_cadets
from blueprints.core.database import analyzed_after
from blueprints.core.errors import Conflict, NotFound, ValidationError
from blueprints.core.operations import unit_of_work
from blueprints.core.validation import MAX_ID, Field, validate
from models import CADET_STATUSES, Cadet, Grade, User, db, utcnow

MAX_IMPORT = 5000

CADET_FIELDS = [
    Field("student_id", required=True, max_len=50, pattern=r"[A-Za-z0-9-]+",
          pattern_help="may contain only letters, digits and hyphens"),
    Field("first_name", required=True, max_len=100),
    Field("last_name", required=True, max_len=100),
    Field("middle_name", max_len=100),
    Field("suffix", max_len=20),
    Field("company", max_len=50),
    Field("platoon", max_len=50),
    Field("course", max_len=100),
    Field("year_level", "int", min=1, max=6),
    Field("status", "choice", choices=CADET_STATUSES, nullable=False),
    Field("email", "email", max_len=254),
    Field("contact_number", max_len=30, pattern=r"[0-9+() -]+",
          pattern_help="may contain only digits, spaces and + ( ) -"),
]


def _duplicate(student_id: str) -> Conflict:
    return Conflict("A cadet with this student ID already exists.",
                    {"student_id": [f"{student_id} is already taken"]})


def _taken(student_ids: list[str], exclude_id: int | None = None) -> set[str]:
    stmt = select(Cadet.student_id).where(Cadet.student_id.in_(student_ids))
    if exclude_id is not None:
        stmt = stmt.where(Cadet.id != exclude_id)
    return set(db.session.scalars(stmt))


def create_cadet(actor: User, data: Mapping[str, Any]) -> int:
    """Create a cadet and its grades row in one transaction; returns the new id."""
    values = validate(data, CADET_FIELDS, reject_unknown=False)
    if _taken([values["student_id"]]):
        raise _duplicate(values["student_id"])
    with unit_of_work(clear_cadets, conflict=_duplicate(values["student_id"])) as session:
        cadet = Cadet(**values)
        session.add(cadet)
        session.flush()
        cadet_id = cadet.id  # read before commit: after it the instance is expired and would re-query
        session.add(Grade(cadet_id=cadet_id))
        record_audit(session, actor.id, "cadets", "CREATE", cadet_id, values)
    return cadet_id


def update_cadet(actor: User, cadet_id: int, data: Mapping[str, Any]) -> None:
    """Change some of a cadet's profile fields."""
    values = validate(data, CADET_FIELDS, partial=True)
    cadet = db.session.get(Cadet, cadet_id)
    if cadet is None:
        raise NotFound("No cadet with that id.")
    if "student_id" in values and _taken([values["student_id"]], exclude_id=cadet_id):
        raise _duplicate(values["student_id"])
    changed = {k: v for k, v in values.items() if getattr(cadet, k) != v}
    if not changed:
        return
    with unit_of_work(clear_cadets, conflict=_duplicate(values.get("student_id", ""))) as session:
        before = {k: getattr(cadet, k) for k in changed}
        for key, value in changed.items():
            setattr(cadet, key, value)
        record_audit(session, actor.id, "cadets", "UPDATE", cadet_id, {"before": before, "after": changed})


def _set_archived(actor: User, ids: list[int], archived: bool) -> int:
    ids = _validate_ids(ids)
    with unit_of_work(clear_cadets) as session:
        changed = list(session.scalars(
            update(Cadet)
            .where(Cadet.id.in_(ids), Cadet.is_archived.is_not(archived))
            .values(is_archived=archived, updated_at=utcnow())
            .returning(Cadet.id)
            .execution_options(synchronize_session=False)
        ))
        if changed:
            op = "archive" if archived else "restore"
            record_audit(session, actor.id, "cadets", "UPDATE", None,
                         {"action": op, "ids": sorted(changed), "count": len(changed)})
    return len(changed)


def _validate_ids(ids: Any) -> list[int]:
    if not isinstance(ids, list) or not ids:
        raise ValidationError("ids must be a non-empty list.", {"ids": ["must be a non-empty list of ids"]})
    if len(ids) > MAX_IMPORT or not all(isinstance(i, int) and not isinstance(i, bool) and 0 < i <= MAX_ID
                                        for i in ids):
        raise ValidationError("ids must be positive whole numbers.",
                              {"ids": [f"must be at most {MAX_IMPORT} positive whole numbers"]})
    return sorted(set(ids))


def archive_cadets(actor: User, ids: list[int]) -> int:
    """Archive the cadets (one UPDATE for all); returns how many changed."""
    return _set_archived(actor, ids, True)


def restore_cadets(actor: User, ids: list[int]) -> int:
    """Restore archived cadets (one UPDATE for all); returns how many changed."""
    return _set_archived(actor, ids, False)


def import_cadets(actor: User, rows: Any) -> int:
    """Create up to 5,000 cadets with their grades rows, all or nothing, in constant statements.

    Raises ValidationError whose details name each bad row as "rows[i].field".
    """
    if not isinstance(rows, list) or not rows:
        raise ValidationError("cadets must be a non-empty list.", {"cadets": ["must be a non-empty list"]})
    if len(rows) > MAX_IMPORT:
        raise ValidationError(f"At most {MAX_IMPORT} cadets per import.",
                              {"cadets": [f"must hold at most {MAX_IMPORT} rows"]})
    clean, errors = _validate_rows(rows)
    if errors:
        raise ValidationError("Some rows are invalid; nothing was imported.", errors)
    student_ids = [r["student_id"] for r in clean]
    taken = _taken(student_ids)
    if taken:
        raise Conflict("Some student IDs already exist; nothing was imported.",
                       {f"cadets[{i}].student_id": ["is already taken"]
                        for i, sid in enumerate(student_ids) if sid in taken})
    now = utcnow()
    race = Conflict("A student ID was taken meanwhile; nothing was imported.")
    with unit_of_work(clear_cadets, analyzed_after(len(clean), "cadets", "grades"), conflict=race) as session:
        new_ids = list(session.scalars(
            insert(Cadet).returning(Cadet.id),
            [{"status": "Ongoing", "is_archived": False, "created_at": now, "updated_at": now, **r}
             for r in clean],
        ))
        session.execute(insert(Grade), [{"cadet_id": cid} for cid in new_ids])
        record_audit(session, actor.id, "cadets", "CREATE", None,
                     {"action": "import", "count": len(new_ids), "student_ids": student_ids[:100]})
    return len(new_ids)


def _validate_rows(rows: list) -> tuple[list[dict], dict[str, list[str]]]:
    clean: list[dict] = []
    errors: dict[str, list[str]] = {}
    seen: dict[str, int] = {}
    keys = [f.name for f in CADET_FIELDS]
    for i, row in enumerate(rows):
        try:
            values = validate(row, CADET_FIELDS)
        except ValidationError as exc:
            for field, messages in exc.details.items():
                errors[f"cadets[{i}].{field}"] = messages
            continue
        sid = values["student_id"]
        if sid in seen:
            errors[f"cadets[{i}].student_id"] = [f"duplicates row {seen[sid]}"]
        seen.setdefault(sid, i)
        clean.append({k: values.get(k) for k in keys if k != "status"} | {"status": values.get("status") or "Ongoing"})
    return clean, errors
