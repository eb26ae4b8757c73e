"""The unit's grading rules, once in Python and once as SQL that computes bit-identical values.

Every component is computed multiply-first in IEEE doubles, in the same order on both sides, so
the Python function and the SQL expression agree exactly (tests/test_grading.py proves it on each
backend). Thresholds allow for float noise with EPSILON: distinct grades differ by far more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from functools import cache

from sqlalchemy import Date, Float, Integer, bindparam, case, cast, func, literal, or_, select, update
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from models import AttendanceRecord, Grade, MeritDemeritLog, TrainingDay

EPSILON = 1e-6
TRANSMUTATION = ((95.0, 1.00), (90.0, 1.50), (85.0, 2.00), (80.0, 2.50), (75.0, 3.00))
FAILING_GRADE = 5.00
STATUS_REMARKS = {"INC": "Incomplete", "DO": "Dropped", "T": "Deferred"}
COUNTED_ATTENDANCE = ("present", "late", "excused")
BADGES = ((200, "Platinum"), (150, "Gold"), (100, "Silver"), (50, "Bronze"))


@dataclass(frozen=True)
class GradeBreakdown:
    attendance_score: float
    aptitude_score: float
    subject_score: float
    final_grade: float
    transmuted_grade: float | None
    remarks: str


def attendance_score(present: int, training_days: int) -> float:
    """min(present / days, 1) x 30; 0 when there are no training days."""
    if training_days <= 0:
        return 0.0
    return 30.0 if present >= training_days else present * 30.0 / training_days


def aptitude_score(merit_points: int, demerit_points: int) -> float:
    """clamp(100 + merits - demerits, 0, 100) x 0.3: merits only restore what demerits took."""
    return min(max(100 + merit_points - demerit_points, 0), 100) * 3.0 / 10.0


def subject_score(prelim: float | None, midterm: float | None, final: float | None) -> float:
    """(prelim + midterm + final) / 300 x 40, a missing score counting as 0."""
    return ((prelim or 0.0) + (midterm or 0.0) + (final or 0.0)) * 40.0 / 300.0


def transmute(final_grade: float, status: str = "active") -> tuple[float | None, str]:
    """Transmuted grade and remarks; INC, DO and T override with no transmuted grade."""
    if status in STATUS_REMARKS:
        return None, STATUS_REMARKS[status]
    for threshold, grade in TRANSMUTATION:
        if final_grade >= threshold - EPSILON:
            return grade, "Passed"
    return FAILING_GRADE, "Failed"


def display_grade(value: float | None) -> str | None:
    """A grade as staff see it: two decimals, truncated, never rounded up across a band edge.

    74.996 shows "74.99" beside "5.00 Failed", not "75.00". Within EPSILON below a hundredth counts as
    that hundredth, exactly as transmute() lets float noise reach a threshold, so the figure shown
    and the band always agree. None (no grade) stays None.
    """
    if value is None:
        return None
    hundredths = math.floor(value * 100 + EPSILON * 100)
    return f"{hundredths / 100:.2f}"


def compute_grade(
    *,
    present: int,
    training_days: int,
    merit_points: int,
    demerit_points: int,
    prelim: float | None,
    midterm: float | None,
    final: float | None,
    status: str = "active",
) -> GradeBreakdown:
    """The whole breakdown for one cadet."""
    att = attendance_score(present, training_days)
    apt = aptitude_score(merit_points, demerit_points)
    subj = subject_score(prelim, midterm, final)
    total = att + apt + subj
    transmuted, remarks = transmute(total, status)
    return GradeBreakdown(att, apt, subj, total, transmuted, remarks)


def badge(lifetime_merit_points: int) -> str | None:
    """Bronze 50, Silver 100, Gold 150, Platinum 200 lifetime merit points."""
    return next((name for points, name in BADGES if lifetime_merit_points >= points), None)


# --- the same rules as SQL expressions over the grades table --------------------------------


def _f(value: float) -> ColumnElement:
    return literal(value, Float)


def attendance_score_sql(days: ColumnElement) -> ColumnElement:
    present = cast(Grade.attendance_present, Float)
    return case(
        (days <= 0, _f(0.0)),
        (Grade.attendance_present >= days, _f(30.0)),
        else_=present * _f(30.0) / cast(days, Float),
    )


def aptitude_score_sql() -> ColumnElement:
    raw = 100 + Grade.merit_points - Grade.demerit_points
    clamped = case((raw < 0, 0), (raw > 100, 100), else_=raw)
    return cast(clamped, Float) * _f(3.0) / _f(10.0)


def subject_score_sql() -> ColumnElement:
    total = (
        func.coalesce(Grade.prelim_score, _f(0.0))
        + func.coalesce(Grade.midterm_score, _f(0.0))
        + func.coalesce(Grade.final_score, _f(0.0))
    )
    return total * _f(40.0) / _f(300.0)


def final_grade_sql(days: ColumnElement) -> ColumnElement:
    return attendance_score_sql(days) + aptitude_score_sql() + subject_score_sql()


def transmuted_sql(final: ColumnElement) -> ColumnElement:
    whens = [(final >= _f(t - EPSILON), _f(g)) for t, g in TRANSMUTATION]
    return case((Grade.status != "active", None), *whens, else_=_f(FAILING_GRADE))


def remarks_sql(final: ColumnElement) -> ColumnElement:
    overrides = [(Grade.status == s, r) for s, r in STATUS_REMARKS.items()]
    passed = _f(TRANSMUTATION[-1][0] - EPSILON)
    return case(*overrides, (final >= passed, "Passed"), else_="Failed")


def is_held_sql(today: date) -> ColumnElement:
    """A training day counts once its date has come or once attendance has been taken for it.

    A day scheduled for next week must not count as missed today; a day whose sheet was filled in
    early (or whose date was moved) counts because its records already feed the present count.
    """
    record = aliased(AttendanceRecord)  # its own alias: callers may join attendance_records themselves
    # "Has a record" as the first (day, cadet) key of the day, not EXISTS: PostgreSQL drops an
    # EXISTS's ORDER BY and LIMIT, and it guessed ~10,000 rows per day, so it planned a sequential
    # scan "to find one soon" that read all 200,000 records for a day stored last (EXPLAIN ANALYZE:
    # 14 ms per check, 24 ms for the held-day count); ordered like the unique index it is an
    # index-only probe (0.05 ms).
    first_record = (select(record.training_day_id).where(record.training_day_id == TrainingDay.id)
                    .order_by(record.training_day_id, record.cadet_id).limit(1).scalar_subquery())
    return or_(TrainingDay.date <= today, first_record.is_not(None))


def held_day_count_sql(today: date) -> ColumnElement:
    return select(func.count(TrainingDay.id)).where(is_held_sql(today)).scalar_subquery()


def _sum_points(kind: str) -> ColumnElement:
    return (
        select(func.coalesce(func.sum(MeritDemeritLog.points), 0))
        .where(MeritDemeritLog.cadet_id == Grade.cadet_id, MeritDemeritLog.type == kind)
        .scalar_subquery()
    )


def recompute_grades(session: Session, cadet_ids: list[int] | None = None, *, recount: bool = True,
                     today: date | None = None) -> None:
    """Recount inputs from their source rows, then recompute every component (two statements).

    Recounting (never incrementing) makes any operation safe to run twice. `cadet_ids=None`
    means every cadet, as after a training day is added or removed or becomes held. The attendance
    denominator is the number of days held as of `today` (default: the unit's today).
    """
    if today is None:
        from blueprints.core.clock import unit_today  # needs the app; grading itself stays pure

        today = unit_today()
    if cadet_ids is not None and not cadet_ids:
        return
    some = cadet_ids is not None
    params = {"cadet_ids": list(cadet_ids)} if some else {}
    if recount:
        session.execute(_recount_statement(some), params)
    # Counted once and bound as a value: inlined, the count (with its held-day test) would be
    # evaluated again for every place the formula uses it (EXPLAIN ANALYZE: 20+ InitPlans, 0.7 s).
    days = session.execute(_held_day_count_statement(), {"today": today}).scalar_one()
    session.execute(_score_statement(some), {**params, "held_days": days})


# The statements are built once per shape and take their values as bound parameters: cProfile of a
# grade PATCH showed building the formula's expression tree (~5 ms under the profiler) costing more
# than running it (~2.6 ms of SQL); built once, SQLAlchemy's compiled cache also hits every time.


def _only_some(stmt, some: bool):
    if some:
        stmt = stmt.where(Grade.cadet_id.in_(bindparam("cadet_ids", expanding=True)))
    return stmt.execution_options(synchronize_session=False)


@cache
def _recount_statement(some: bool):
    present = (
        select(func.count(AttendanceRecord.id))
        .where(AttendanceRecord.cadet_id == Grade.cadet_id, AttendanceRecord.status.in_(COUNTED_ATTENDANCE))
        .scalar_subquery()
    )
    merits = _sum_points("merit")
    return _only_some(update(Grade).values(
        attendance_present=present,
        merit_points=merits,
        demerit_points=_sum_points("demerit"),
        lifetime_merit_points=merits,
    ), some)


@cache
def _held_day_count_statement():
    return select(held_day_count_sql(bindparam("today", type_=Date)))


@cache
def _score_statement(some: bool):
    days = bindparam("held_days", type_=Integer)
    final = final_grade_sql(days)
    return _only_some(update(Grade).values(
        attendance_score=attendance_score_sql(days),
        aptitude_score=aptitude_score_sql(),
        subject_score=subject_score_sql(),
        final_grade=final,
        transmuted_grade=transmuted_sql(final),
        remarks=remarks_sql(final),
    ), some)
