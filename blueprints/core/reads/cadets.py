"""Cadet lists and profiles, each row with its grade summary (one query for the whole page)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from sqlalchemy import and_, any_, func, literal_column, select, text, true, union_all
from sqlalchemy.orm import aliased

from blueprints.core.cache import Read
from blueprints.core.clock import unit_today
from blueprints.core.database import is_postgres, use_transaction
from blueprints.core.errors import NotFound
from blueprints.core.liststate import Filter, ListSpec, ListState
from blueprints.core.reads import apply_filters, compiled, fetch_page, kept_page, order_clauses, seek_columns
from blueprints.core.reads.distinct import loose_distinct
from blueprints.core.reads.selects import select_cadets_with_grades
from grading import badge, is_held_sql
from models import (
    CADET_STATUSES,
    REMARKS,
    AttendanceRecord,
    Cadet,
    CadetTotal,
    CadetTotalDelta,
    Grade,
    MeritDemeritLog,
    TrainingDay,
    db,
)

GRADE_ONLY_FILTERS = ("remarks",)
ARCHIVED_CHOICES = ("active", "archived", "all", "true", "false")
GRADE_KEYS = ("attendance_present", "merit_points", "demerit_points", "lifetime_merit_points", "prelim_score",
              "midterm_score", "final_score", "grade_status", "version", "attendance_score", "aptitude_score",
              "subject_score", "final_grade", "transmuted_grade", "remarks", "grade_updated_at")


def _archived_clause(value: str):
    if value == "all":
        return None
    return Cadet.is_archived.is_(value in ("archived", "true"))


_SPACE, _EMPTY = literal_column("' '"), literal_column("''")  # literals, not binds: the index must match
_MATCH = aliased(Cadet, name="search_match")
MAX_SEARCH_WORDS = 8
TRIGRAM = 3  # pg_trgm narrows only by words of at least three characters


def search_text(cadet=Cadet):
    """The same expression as models.CADET_SEARCH_SQL, the pg_trgm index ix_cadets_search_trgm."""
    return func.lower(cadet.last_name + _SPACE + cadet.first_name + _SPACE + func.coalesce(cadet.middle_name, _EMPTY)
                      + _SPACE + func.coalesce(cadet.suffix, _EMPTY) + _SPACE + cadet.student_id)


def search_words(term: str) -> list[str]:
    """"Castro, Liza R." -> ["castro", "liza", "r"]: split on spaces and commas, as the list shows names."""
    words = (w.strip(".").lower() for w in re.split(r"[\s,]+", term))
    return list(dict.fromkeys(w for w in words if w))[:MAX_SEARCH_WORDS]


def cadet_search(term: str):
    """Every word must occur in the cadet's name or student id (Django admin's rule); pages and API."""
    words = search_words(term)
    if not words:  # only commas or dots: no narrowing
        return true()
    if not is_postgres() or any(len(w) < TRIGRAM for w in words):
        return and_(*(search_text().contains(w, autoescape=True) for w in words))
    # The matching ids as one array, found once through the trigram index; rows are then fetched by
    # primary key and sorted. As a plain filter the planner walks the name index instead and runs the
    # LIKEs on every row it passes (20,000 rows for "Castro, Liza" at 100,000 cadets: 1.1 s -> 55 ms).
    text_ = search_text(_MATCH)
    ids = select(func.array_agg(_MATCH.id)).where(*(text_.contains(w, autoescape=True) for w in words))
    return Cadet.id == any_(func.coalesce(ids.scalar_subquery(), literal_column("'{}'::integer[]")))


CADET_FILTERS = {
    "company": Filter("text", lambda v: Cadet.company == v, label="Company"),
    "platoon": Filter("text", lambda v: Cadet.platoon == v, label="Platoon"),
    "course": Filter("text", lambda v: Cadet.course == v, label="Course"),
    "year_level": Filter("int", lambda v: Cadet.year_level == v, label="Year"),
    "status": Filter("choice", lambda v: Cadet.status == v, CADET_STATUSES, label="Status"),
    "archived": Filter("choice", _archived_clause, ARCHIVED_CHOICES, label="Archived"),
}

CADET_SORTS = {
    "id": (Cadet.id,),
    "student_id": (Cadet.student_id,),
    "name": (Cadet.last_name, Cadet.first_name),
    "company": (Cadet.company, Cadet.platoon),
    "platoon": (Cadet.platoon,),
    "course": (Cadet.course,),
    "year_level": (Cadet.year_level,),
    "status": (Cadet.status,),
    "final_grade": (Grade.final_grade,),
    "transmuted_grade": (Grade.transmuted_grade,),
    "created_at": (Cadet.created_at,),
}

CADET_SPEC = ListSpec("cadets", CADET_SORTS, "name", Cadet.id, filters=CADET_FILTERS, search=cadet_search)
CADETS_LIST = Read("cadets:list", ("cadets", "grades"))
GRADES_LIST = Read("grades:list", ("grades", "cadets"))
CADET_OPTIONS = Read("cadets:options", ("cadets",))
_LIST_READS = {"cadets": CADETS_LIST, "grades": GRADES_LIST}


def shape_cadet(row: dict[str, Any]) -> dict[str, Any]:
    """A flat joined row -> a cadet dict with a nested `grades` summary."""
    cadet = {k: v for k, v in row.items() if k not in GRADE_KEYS}
    grades = {k: row[k] for k in GRADE_KEYS if k in row}
    grades["status"] = grades.pop("grade_status", None)
    grades["updated_at"] = grades.pop("grade_updated_at", None)
    grades["badge"] = badge(grades.get("lifetime_merit_points") or 0)
    cadet["full_name"] = full_name(cadet)
    cadet["grades"] = grades
    return cadet


def shape_cadet_rows(keys: list[str], rows: list[tuple]) -> list[dict[str, Any]]:
    """shape_cadet for a page of plain rows, with no interim dict per row (the same dicts, key order
    included: the cold list's bytes are unchanged)."""
    cadet_at = [(i, k) for i, k in enumerate(keys) if k not in GRADE_KEYS]
    where = {k: i for i, k in enumerate(keys)}
    grade_at = [(where[k], k) for k in GRADE_KEYS if k in where and k not in _RENAMED]
    grade_at += [(where[k], name) for k, name in _RENAMED.items() if k in where]
    lifetime = where.get("lifetime_merit_points")
    out = []
    for row in rows:
        cadet = {k: row[i] for i, k in cadet_at}
        grades = {k: row[i] for i, k in grade_at}
        if "status" not in grades:  # as shape_cadet: the renamed keys are always there
            grades["status"] = None
        grades.setdefault("updated_at", None)
        grades["badge"] = badge((row[lifetime] if lifetime is not None else 0) or 0)
        cadet["full_name"] = full_name(cadet)
        cadet["grades"] = grades
        out.append(cadet)
    return out


_RENAMED = {"grade_status": "status", "grade_updated_at": "updated_at"}


def full_name(c: dict[str, Any]) -> str:
    middle = f" {c['middle_name'][0]}." if c.get("middle_name") else ""
    suffix = f" {c['suffix']}" if c.get("suffix") else ""
    return f"{c['last_name']}, {c['first_name']}{middle}{suffix}"


_CADETS_WITH_GRADES = select_cadets_with_grades()  # selects are immutable: built once, not per request


def _with_default_archived(state: ListState, stmt=None):
    stmt = _CADETS_WITH_GRADES if stmt is None else stmt
    if "archived" not in state.filter_dict:
        stmt = stmt.where(Cadet.is_archived.is_(False))
    return stmt


def _needs_grades(state: ListState, *, for_sort: bool) -> bool:
    if any(name in GRADE_ONLY_FILTERS for name, _ in state.filters):
        return True
    return for_sort and any(getattr(c, "table", None) is Grade.__table__ for c in state.spec.sorts[state.sort])


def _count_base(state: ListState):
    """Every cadet has exactly one grades row, so count without the join unless a grade filter needs it."""
    if _needs_grades(state, for_sort=False):
        return None
    return _with_default_archived(state, select(Cadet.id))


KEPT_FILTERS = ("company", "platoon", "status", "archived")  # the key of CadetTotal
_KEPT = union_all(*(select(t.is_archived, t.company, t.platoon, t.status, t.n)  # built once: a cold list
                    for t in (CadetTotal, CadetTotalDelta))).subquery("kept")  # built it each time (1 ms)


def _kept_total(state: ListState):
    """The exact total from the maintained CadetTotal rows (with the deltas not yet folded into
    them), when the list filters by nothing but their key; None otherwise (then rows are counted)."""
    if state.search or any(name not in KEPT_FILTERS for name, _ in state.filters):
        return None
    filters = state.filter_dict
    archived = filters.get("archived", "active")
    kept = _KEPT
    wheres = [] if archived == "all" else [kept.c.is_archived.is_(archived in ("archived", "true"))]
    wheres += [kept.c[name] == filters[name] for name in ("company", "platoon", "status") if name in filters]
    return select(func.coalesce(func.sum(kept.c.n), 0)).where(*wheres).scalar_subquery()


def _id_base(state: ListState):
    """The page's cadet ids alone, filtered, from the table the sort is on: cadets, or (sorted by a
    grade) grades with its own copy of the archived flag, joined to cadets only for a cadet filter.
    So a grade sort's ids come from one partial index of grades (models._archived_pair)."""
    if not _sorted_on_grades(state):
        ids = select(Cadet.id)
        if _needs_grades(state, for_sort=False):
            ids = ids.join(Grade, Grade.cadet_id == Cadet.id)
        return apply_filters(_with_default_archived(state, ids), state)
    ids = select(Grade.cadet_id.label("id"))
    if state.search or any(name not in ("archived", *GRADE_ONLY_FILTERS) for name, _ in state.filters):
        ids = ids.join(Cadet, Cadet.id == Grade.cadet_id)
    archived = state.filter_dict.get("archived", "active")
    if archived != "all":
        ids = ids.where(Grade.is_archived.is_(archived in ("archived", "true")))
    return apply_filters(ids, state, skip=("archived",))


def _sorted_on_grades(state: ListState) -> bool:
    return all(getattr(c, "table", None) is Grade.__table__ for c in state.spec.sorts[state.sort])


def list_cadets(state: ListState, *, clamp_page: bool = False) -> dict[str, Any]:
    """One page of cadets with grade summaries; cached until cadets or grades change."""
    return _LIST_READS[state.spec.name].get((state.cache_args(), clamp_page), lambda: fetch_cadets(state, clamp_page))


def fetch_cadets(state: ListState, clamp_page: bool, compiled_as: str | None = "cadets:list") -> dict[str, Any]:
    """list_cadets on a cache miss. Its statements depend on the list state alone, so they are kept
    compiled per state (reads/compiled.py); compiled_as=None builds them afresh (tests compare)."""
    answer, first = kept_page(state, compiled_as, shape_cadet_rows)
    if answer is not None:
        return answer
    return fetch_page(_with_default_archived(state), state, clamp_page=clamp_page, count_base=_count_base(state),
                      id_base=_id_base(state), kept_total=_kept_total(state), shape=shape_cadet_rows,
                      compiled_as=compiled_as, first=first)


def matching_cadet_ids(state: ListState, limit: int) -> list[int]:
    """Ids of the cadets a list view's filters and search match (for "select all N matching"), in
    list order, at most `limit` of them (ask for one more than allowed to detect too many)."""
    stmt = _id_base(state).order_by(*order_clauses(state, columns=seek_columns(state))).limit(limit)
    return list(db.session.scalars(stmt))


def cadet_names(ids: list[int], limit: int = 20) -> list[dict[str, Any]]:
    """The first `limit` of these cadets by name, for a bulk action's confirm page."""
    rows = db.session.execute(
        select(Cadet.id, Cadet.student_id, Cadet.last_name, Cadet.first_name, Cadet.middle_name, Cadet.suffix)
        .where(Cadet.id.in_(ids)).order_by(Cadet.last_name, Cadet.first_name, Cadet.id).limit(limit)
    ).mappings()
    return [{"id": r["id"], "student_id": r["student_id"], "full_name": full_name(r)} for r in rows]


def iter_cadets(state: ListState, batch: int = 500) -> Iterator[dict[str, Any]]:
    """Every cadet of the filtered set in list order, streamed in batches (for CSV export)."""
    stmt = apply_filters(_with_default_archived(state), state).order_by(*order_clauses(state))
    use_transaction(db.session)  # a server-side cursor lives in a transaction
    result = db.session.execute(stmt.execution_options(yield_per=batch)).mappings()
    for row in result:
        yield shape_cadet(dict(row))


def get_cadet(cadet_id: int) -> dict[str, Any]:
    """One cadet with grades, merit/demerit history and attendance on every held day (three queries)."""
    row = db.session.execute(select_cadets_with_grades().where(Cadet.id == cadet_id)).mappings().first()
    if row is None:
        raise NotFound("No cadet with that id.")
    cadet = shape_cadet(dict(row))
    cadet["merit_logs"] = merit_history(cadet_id)
    cadet["attendance"] = held_day_attendance(cadet_id)
    cadet["training_days_total"] = len(cadet["attendance"])
    return cadet


def held_day_attendance(cadet_id: int) -> list[dict[str, Any]]:
    """Every training day that counts towards grades (the denominator), with the cadet's record if any.

    A day dated in the future without attendance is not listed: it does not count yet.
    """
    return [dict(r) for r in db.session.execute(
        select(AttendanceRecord.id, AttendanceRecord.status, AttendanceRecord.remarks, AttendanceRecord.time_in,
               TrainingDay.id.label("training_day_id"), TrainingDay.date, TrainingDay.title)
        .outerjoin(AttendanceRecord, (AttendanceRecord.training_day_id == TrainingDay.id)
                   & (AttendanceRecord.cadet_id == cadet_id))
        .where(is_held_sql(unit_today()))
        .order_by(TrainingDay.date.desc(), TrainingDay.id.desc())
    ).mappings()]


def merit_history(cadet_id: int) -> list[dict[str, Any]]:
    return [dict(r) for r in db.session.execute(
        select(MeritDemeritLog.id, MeritDemeritLog.type, MeritDemeritLog.points, MeritDemeritLog.reason,
               MeritDemeritLog.issued_by_name, MeritDemeritLog.date_recorded)
        .where(MeritDemeritLog.cadet_id == cadet_id)
        .order_by(MeritDemeritLog.date_recorded.desc(), MeritDemeritLog.id.desc())
    ).mappings()]


_MENU_COLUMNS = ("company", "platoon", "course", "year_level")
# Distinct non-null values of each indexed menu column of cadets, in one statement: one index probe
# per distinct value, not per row (reads/distinct.py).
_MENU_PARTS = [f"SELECT '{column}' AS name, CAST(x AS TEXT) AS value, n FROM ({loose_distinct('cadets', column)}) "
               f"AS {column}_values" for column in _MENU_COLUMNS]
_MENU_SQL = " UNION ALL ".join(_MENU_PARTS) + " ORDER BY name, n"


def distinct_values() -> dict[str, list]:
    """Distinct non-null values of each menu column (company, platoon, course, year level)."""
    out: dict[str, list] = {column: [] for column in _MENU_COLUMNS}
    for column, value, _ in compiled.run("cadets:menus", lambda: text(_MENU_SQL))[1]:
        out[column].append(int(value) if column == "year_level" else value)
    return out


def filter_options() -> dict[str, list]:
    """Distinct companies, platoons, courses and years for the filter menus (cached)."""

    def build() -> dict[str, list]:
        out = distinct_values()
        out["status"] = list(CADET_STATUSES)
        out["remarks"] = list(REMARKS)
        return out

    return CADET_OPTIONS.get((), build)
