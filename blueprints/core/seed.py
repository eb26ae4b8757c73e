"""Deterministic demo data, written in bulk: COPY on PostgreSQL, executemany on SQLite."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta

from sqlalchemy import func, insert, select
from sqlalchemy.exc import DBAPIError

from blueprints.core.audit import record_audit
from blueprints.core.cache import clear_training_days
from blueprints.core.database import after_commit, analyze, is_postgres
from blueprints.core.operations import unit_of_work
from blueprints.core.operations.cadets import fold_totals_after_commit
from grading import recompute_grades
from models import AttendanceRecord, Cadet, Grade, MeritDemeritLog, TrainingDay, db, utcnow

COMPANIES = ("Alpha", "Bravo", "Charlie", "Delta")
PLATOONS = ("1st", "2nd", "3rd")
COURSES = ("BS Criminology", "BS Nursing", "BS Engineering", "BS Education", "BS Business", "BS Computer Science")
FIRST = ("Juan", "Maria", "Jose", "Ana", "Mark", "Angel", "John", "Grace", "Paolo", "Kristine", "Miguel", "Joy",
         "Carlo", "Liza", "Rafael", "Bea", "Daniel", "Sofia", "Enzo", "Camille", "Gabriel", "Andrea")
LAST = ("Santos", "Reyes", "Cruz", "Bautista", "Ocampo", "Garcia", "Mendoza", "Torres", "Tomas", "Andrada",
        "Castillo", "Flores", "Villanueva", "Ramos", "Castro", "Rivera", "Aquino", "Navarro", "Salazar", "Mercado",
        "Dela Cruz", "Gonzales", "Lopez", "Aguilar", "Pascual", "Domingo", "Soriano", "Valdez")
REASONS = {"merit": ("Outstanding drill performance", "Volunteered for detail", "Exemplary conduct"),
           "demerit": ("Late for formation", "Improper uniform", "Unauthorized absence")}
CHUNK = 5000
Progress = Callable[[int], None]


def _chunks(rows: list, size: int = CHUNK) -> Iterable[list]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def _copy(table, columns: list[str], rows: list[tuple], progress: Progress) -> None:
    """Bulk load rows: COPY on PostgreSQL (fast for millions), executemany elsewhere."""
    if is_postgres():
        raw = db.session.connection().connection.driver_connection
        with raw.cursor() as cur, cur.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            for chunk in _chunks(rows, 50_000):
                # Our generated values hold no tabs, newlines or backslashes, so plain text COPY is safe.
                copy.write("".join("\t".join(_text(v) for v in row) + "\n" for row in chunk))
                progress(len(chunk))
        return
    for chunk in _chunks(rows):
        db.session.execute(insert(table), [dict(zip(columns, r, strict=True)) for r in chunk])
        progress(len(chunk))


def _text(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def seed(cadets: int, days: int, seed_value: int = 1, progress: Progress = lambda n: None) -> dict[str, int]:
    """Add `cadets` cadets (with grades, logs, exam scores) and `days` training days with attendance."""
    rng = random.Random(seed_value)
    now = utcnow()
    tables = ("cadets", "grades", "training_days", "attendance_records", "merit_demerit_logs")
    with unit_of_work(clear_training_days, fold_totals_after_commit,
                      lambda: after_commit(lambda: analyze(*tables))) as session:
        if is_postgres():
            _fast_bulk_load(session)
        start = (session.scalar(select(func.max(Cadet.id))) or 0) + 1
        cadet_rows = [_cadet(rng, start + i, now) for i in range(cadets)]
        _copy(Cadet.__table__, list(_CADET_COLUMNS), cadet_rows, progress)
        ids = list(session.scalars(select(Cadet.id).where(Cadet.id >= start).order_by(Cadet.id)))
        grade_rows = [(cid, *_exam_scores(rng), *_GRADE_DEFAULTS, now) for cid in ids]
        _copy(Grade.__table__, ["cadet_id", "prelim_score", "midterm_score", "final_score", *_GRADE_DEFAULT_COLUMNS,
                                "updated_at"], grade_rows, progress)
        day_ids = _training_days(session, rng, days)
        attendance = [(d, cid, rng.choices(("present", "absent", "late", "excused"), (80, 10, 7, 3))[0], now)
                      for d in day_ids for cid in ids]
        _copy(AttendanceRecord.__table__, ["training_day_id", "cadet_id", "status", "created_at"], attendance, progress)
        logs = _merit_logs(rng, ids, now)
        _copy(MeritDemeritLog.__table__, ["cadet_id", "type", "points", "reason", "issued_by_name", "date_recorded"],
              logs, progress)
        _reset_sequences(session)
        recompute_grades(session, None)
        record_audit(session, None, "cadets", "CREATE", None,
                     {"action": "seed", "cadets": len(ids), "training_days": len(day_ids), "seed": seed_value})
    return {"cadets": len(ids), "training_days": len(day_ids), "attendance": len(attendance), "logs": len(logs)}


# Every NOT NULL column, since COPY does not apply the ORM's defaults; recompute_grades fixes the rest.
_GRADE_DEFAULT_COLUMNS = ("attendance_present", "merit_points", "demerit_points", "lifetime_merit_points", "status",
                          "version", "attendance_score", "aptitude_score", "subject_score", "final_grade", "remarks")
_GRADE_DEFAULTS = (0, 0, 0, 0, "active", 1, 0.0, 30.0, 0.0, 30.0, "Failed")
_CADET_COLUMNS = ("id", "student_id", "first_name", "last_name", "middle_name", "company", "platoon", "course",
                  "year_level", "status", "email", "is_archived", "created_at", "updated_at")


def _cadet(rng: random.Random, cid: int, now) -> tuple:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    return (cid, f"{2020 + rng.randint(0, 6)}-{cid:06d}", first, last, rng.choice(LAST), rng.choice(COMPANIES),
            rng.choice(PLATOONS), rng.choice(COURSES), rng.randint(1, 4),
            rng.choices(("Ongoing", "Completed", "Incomplete"), (90, 7, 3))[0],
            f"{first}.{last}.{cid}@example.edu".lower().replace(" ", ""), False, now, now)


def _exam_scores(rng: random.Random) -> tuple:
    return tuple(round(rng.uniform(60, 100), 1) if rng.random() < 0.9 else None for _ in range(3))


def _training_days(session, rng: random.Random, days: int) -> list[int]:
    first = date(2026, 8, 1)
    rows = [{"date": first + timedelta(days=7 * i), "title": f"Training Day {i + 1}",
             "location": rng.choice(("Parade Ground", "Gymnasium", "Field B")), "created_at": utcnow()}
            for i in range(days)]
    if not rows:
        return []
    return list(session.scalars(insert(TrainingDay).returning(TrainingDay.id, sort_by_parameter_order=True), rows))


def _merit_logs(rng: random.Random, ids: list[int], now) -> list[tuple]:
    logs = []
    for cid in ids:
        for _ in range(rng.choices((0, 1, 2, 3), (40, 30, 20, 10))[0]):
            kind = rng.choice(("merit", "demerit"))
            logs.append((cid, kind, rng.choice((1, 2, 5, 10)), rng.choice(REASONS[kind]), "seed", now))
    return logs


def _fast_bulk_load(session) -> None:
    """A batch job, not a web request: no statement timeout; and, where we are allowed to, skip the
    per-row foreign-key triggers (the ids come from the rows this transaction just wrote), which
    are most of the cost of loading millions of attendance rows."""
    session.execute(db.text("SET LOCAL statement_timeout = 0"))
    try:
        with session.begin_nested():
            session.execute(db.text("SET LOCAL session_replication_role = replica"))
    except DBAPIError:
        pass  # not a superuser: keep the checks, it is only slower


def _reset_sequences(session) -> None:
    """COPY wrote explicit ids; move PostgreSQL's sequence past them."""
    if is_postgres():
        session.execute(db.text("SELECT setval(pg_get_serial_sequence('cadets', 'id'), "
                                "(SELECT COALESCE(MAX(id), 1) FROM cadets))"))
