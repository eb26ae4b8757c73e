"""Create, edit, archive, restore and import cadets; each cadet gets its one grades row."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import insert, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from blueprints.core.audit import record_audit, record_audit_many
from blueprints.core.cache import clear_cadets
from blueprints.core.database import after_commit, analyzed_after, insert_many, is_postgres, use_transaction
from blueprints.core.errors import Conflict, ValidationError
from blueprints.core.operations import apply_changes, changed_fields, get_or_404, unit_of_work
from blueprints.core.validation import MAX_BULK, MAX_ID, Field, validate
from models import CADET_STATUSES, Cadet, Grade, User, db, utcnow

log = logging.getLogger(__name__)

ON_EXISTING = ("error", "skip", "update")

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


_FOLD = text("""
WITH moved AS (
    DELETE FROM cadet_total_deltas WHERE id IN (SELECT id FROM cadet_total_deltas FOR UPDATE SKIP LOCKED)
    RETURNING is_archived, company, platoon, status, n)
INSERT INTO cadet_totals AS t (is_archived, company, platoon, status, n)
SELECT is_archived, company, platoon, status, sum(n) FROM moved GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
ON CONFLICT (is_archived, company, platoon, status) DO UPDATE SET n = t.n + excluded.n""")


def fold_cadet_totals() -> None:
    """Move the committed cadet_total_deltas into cadet_totals (PostgreSQL), after a cadet write commits.

    Bookkeeping, in its own short transaction: the sum of both tables, which the lists read, is
    the same before and after. Rows another fold holds are skipped, so folds never wait on each other
    for deltas, and they upsert totals rows in key order, so they cannot deadlock on those either.
    """
    session = db.session
    if not is_postgres(session.get_bind()):
        return  # SQLite's triggers update cadet_totals in place
    try:
        use_transaction(session)
        session.execute(_FOLD)
        session.commit()
    except SQLAlchemyError:  # the write has committed; its deltas stay counted until the next fold
        session.rollback()
        log.warning("folding cadet totals failed", exc_info=True)


def fold_totals_after_commit() -> None:
    """For unit_of_work(...): fold the totals once the write has committed (its clearers run before)."""
    after_commit(fold_cadet_totals)


def create_cadet(actor: User, data: Mapping[str, Any]) -> int:
    """Create a cadet and its grades row in one transaction; returns the new id."""
    values = validate(data, CADET_FIELDS, reject_unknown=False)
    if _taken([values["student_id"]]):
        raise _duplicate(values["student_id"])
    with unit_of_work(clear_cadets, fold_totals_after_commit, conflict=_duplicate(values["student_id"])) as session:
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
    cadet = get_or_404(Cadet, cadet_id, "cadet")
    if "student_id" in values and _taken([values["student_id"]], exclude_id=cadet_id):
        raise _duplicate(values["student_id"])
    changed = changed_fields(cadet, values)
    if not changed:
        return
    taken = _duplicate(values.get("student_id", ""))
    with unit_of_work(clear_cadets, fold_totals_after_commit, conflict=taken) as session:
        apply_changes(session, actor, "cadets", cadet, changed)


def _set_archived(actor: User, ids: list[int], archived: bool) -> int:
    ids = _validate_ids(ids)
    with unit_of_work(clear_cadets, fold_totals_after_commit) as session:
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
    if len(ids) > MAX_BULK or not all(isinstance(i, int) and not isinstance(i, bool) and 0 < i <= MAX_ID
                                        for i in ids):
        raise ValidationError("ids must be positive whole numbers.",
                              {"ids": [f"must be at most {MAX_BULK} positive whole numbers"]})
    return sorted(set(ids))


def archive_cadets(actor: User, ids: list[int]) -> int:
    """Archive the cadets (one UPDATE for all); returns how many changed."""
    return _set_archived(actor, ids, True)


def restore_cadets(actor: User, ids: list[int]) -> int:
    """Restore archived cadets (one UPDATE for all); returns how many changed."""
    return _set_archived(actor, ids, False)


class ImportResult(NamedTuple):
    """What an import did: rows created, existing rows changed, existing rows already equal, rows skipped."""

    created: int
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0


def preview_import(rows: Any) -> tuple[dict[str, list[str]], set[str]]:
    """A dry run of import_cadets: its validation errors ("cadets[i].field") and the student ids that exist.

    Writes nothing; the roster page shows this beside each row before the admin commits.
    """
    _check_size(rows)
    values, errors = _validate_rows(rows)
    return errors, _taken([v["student_id"] for v in values])


def import_cadets(actor: User, rows: Any, on_existing: str = "error") -> ImportResult:
    """Create up to 5,000 cadets with their grades rows, all or nothing, in constant statements.

    on_existing decides what a row whose student id exists does: "error" (409, nothing written),
    "skip" (left as it is) or "update" (its non-empty cells overwrite the profile; empty cells keep it).
    Raises ValidationError whose details name each bad row as "cadets[i].field".
    """
    if on_existing not in ON_EXISTING:
        raise ValidationError("on_existing is invalid.", {"on_existing": [f"must be one of: {', '.join(ON_EXISTING)}"]})
    _check_size(rows)
    values, errors = _validate_rows(rows)
    if errors:
        raise ValidationError("Some rows are invalid; nothing was imported.", errors)
    student_ids = [v["student_id"] for v in values]
    existing = _existing_profiles(student_ids)
    if existing and on_existing == "error":
        raise Conflict("Some student IDs already exist; nothing was imported.",
                       {f"cadets[{i}].student_id": ["is already taken"]
                        for i, sid in enumerate(student_ids) if sid in existing})
    new_rows = [_new_cadet(v) for v in values if v["student_id"] not in existing]
    changes = _profile_changes(values, existing) if on_existing == "update" else []
    if new_rows or changes:
        _write_import(actor, new_rows, changes, on_existing)
    untouched = len(values) - len(new_rows) - len(changes)
    return ImportResult(created=len(new_rows), updated=len(changes),
                        unchanged=untouched if on_existing == "update" else 0,
                        skipped=untouched if on_existing != "update" else 0)


def _check_size(rows: Any) -> None:
    if not isinstance(rows, list) or not rows:
        raise ValidationError("cadets must be a non-empty list.", {"cadets": ["must be a non-empty list"]})
    if len(rows) > MAX_BULK:
        raise ValidationError(f"At most {MAX_BULK} cadets per import.",
                              {"cadets": [f"must hold at most {MAX_BULK} rows"]})


def _new_cadet(values: dict[str, Any]) -> dict[str, Any]:
    """Every column set (one executemany shape); an absent or empty status means Ongoing."""
    return {f.name: values.get(f.name) for f in CADET_FIELDS} | {"status": values.get("status") or "Ongoing"}


def _existing_profiles(student_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Profile fields of the cadets whose student id is among these, by student id."""
    columns = [Cadet.id, *(getattr(Cadet, f.name) for f in CADET_FIELDS)]
    rows = db.session.execute(select(*columns).where(Cadet.student_id.in_(student_ids))).mappings()
    return {row["student_id"]: dict(row) for row in rows}


def _profile_changes(values: list[dict], existing: dict[str, dict]) -> list[tuple[int, dict, dict]]:
    """(cadet id, before, after) for existing cadets whose non-empty imported fields differ."""
    changes = []
    for row in values:
        current = existing.get(row["student_id"])
        if current is None:
            continue
        after = {k: v for k, v in row.items() if v is not None and current[k] != v}
        if after:
            changes.append((current["id"], {k: current[k] for k in after}, after))
    return changes


def _write_import(actor: User, new_rows: list[dict], changes: list[tuple[int, dict, dict]], mode: str) -> None:
    now = utcnow()
    race = Conflict("A student ID was taken meanwhile; nothing was imported.")
    rows_written = len(new_rows) + len(changes)
    analyzed = analyzed_after(rows_written, "cadets", "grades")
    with unit_of_work(clear_cadets, fold_totals_after_commit, analyzed, conflict=race) as session:
        if new_rows:
            _insert_cadets(session, new_rows, now)
        if changes:
            session.execute(update(Cadet), [{"id": cid, **after, "updated_at": now} for cid, _, after in changes])
            record_audit_many(session, actor.id, "cadets", "UPDATE",
                              [(cid, {"action": "import", "before": before, "after": after})
                               for cid, before, after in changes])
        record_audit(session, actor.id, "cadets", "CREATE" if new_rows else "UPDATE", None,
                     {"action": "import", "on_existing": mode, "created": len(new_rows), "updated": len(changes),
                      "student_ids": [r["student_id"] for r in new_rows][:100]})


def _insert_cadets(session: Session, rows: list[dict], now: datetime) -> None:
    """The cadets (multi-row INSERTs, 1,000 rows each, so cadets' statement triggers run once per
    1,000) and their grades rows (one INSERT ... SELECT, taking the column defaults in the database)."""
    insert_many(session, insert(Cadet.__table__), [{"is_archived": False, "created_at": now, "updated_at": now, **r}
                                                   for r in rows])
    new_cadets = select(Cadet.id).where(Cadet.student_id.in_([r["student_id"] for r in rows]))
    session.execute(insert(Grade.__table__).from_select(["cadet_id"], new_cadets, include_defaults=True))


def _validate_rows(rows: list) -> tuple[list[dict], dict[str, list[str]]]:
    """Each row's validated fields (only those given; empty cells as None), and every row's errors."""
    clean: list[dict] = []
    errors: dict[str, list[str]] = {}
    seen: dict[str, int] = {}
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
        clean.append(values)
    return clean, errors
