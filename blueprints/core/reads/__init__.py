"""Reads: build the select, eager-load, paginate, return plain data (never ORM objects).

One module per domain, named as its writes in operations/ are (reads/cadets.py and
operations/cadets.py), so the read and the write of one thing sit under one name. Some are only
read here: audit (its rows are written by every operation through core/audit.py), printing, and
tokens (issued and revoked in core/auth.py). This package itself holds what every list shares:
the filters, the sort with its primary-key tie-breaker, and one page with its total.

May import: models, grading, and core's shared modules (cache, liststate, errors, database,
validation, clock, checkin_codes). Never operations/ (reads do not write), never a blueprint view module.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import replace
from typing import Any

from sqlalchemy import ScalarSelect, Select, false, func, select, text

from blueprints.core import keyset
from blueprints.core.database import is_postgres
from blueprints.core.liststate import ListState
from blueprints.core.reads import compiled
from models import db

ESTIMATE_CAP = 10_000


def order_clauses(state: ListState, *, reverse: bool = False) -> list:
    """The chosen sort, then the primary key as tie-breaker, all in one direction (index-friendly).

    NULLs come last ascending and first descending (the largest value) in both databases, as
    PostgreSQL's indexes order them, so a keyset cursor can say where a NULL row stands.
    """
    columns = (*state.spec.sorts[state.sort], state.spec.pk)
    desc = state.desc != reverse
    return [c.desc().nulls_first() if desc else c.asc().nulls_last() for c in columns]


def seek_columns(state: ListState) -> list:
    """The sort's columns and the tie-breaker a keyset cursor compares. When every sort column is in
    one joined table whose foreign key is the primary key (grades.cadet_id = cadets.id), that key
    breaks ties, so the comparison matches that table's own index (grades (final_grade, cadet_id))."""
    columns = list(state.spec.sorts[state.sort])
    pk = getattr(state.spec.pk, "expression", state.spec.pk)
    tables = {getattr(getattr(c, "expression", c), "table", None) for c in columns}
    tie = state.spec.pk
    if len(tables) == 1 and (table := tables.pop()) is not None and table is not pk.table:
        tie = next((c for c in table.c if any(fk.column.table is pk.table and fk.column.name == pk.name
                                              for fk in c.foreign_keys)), tie)
    return [*columns, tie]


def apply_filters(stmt: Select, state: ListState) -> Select:
    for name, value in state.filters:
        clause = state.spec.filters[name].clause(value)
        if clause is not None:
            stmt = stmt.where(clause)
    if state.search and state.spec.search is not None:
        stmt = stmt.where(state.spec.search(state.search))
    return stmt


def count_rows(stmt: Select) -> int:
    return db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0


def _estimate(stmt: Select, table: str, filtered: bool) -> tuple[int, bool]:
    """Row count without a full COUNT(*): the planner's estimate, or an exact count up to a cap."""
    if not filtered and is_postgres():
        estimate = db.session.scalar(text("SELECT reltuples::bigint FROM pg_class WHERE relname = :t"), {"t": table})
        if estimate and estimate > ESTIMATE_CAP:
            return int(estimate), True
    capped = count_rows(stmt.limit(ESTIMATE_CAP + 1))
    return capped, capped > ESTIMATE_CAP


def fetch_page(stmt: Select, state: ListState, *, table: str = "", clamp_page: bool = False,
               count_base: Select | None = None, id_base: Select | None = None,
               kept_total: ScalarSelect | None = None,
               shape: Callable[[list[str], list[tuple]], list] = None,
               compiled_as: Hashable | None = None) -> dict[str, Any]:
    """Run a filtered select for one page: {"data", "page", "limit", "total", ...} of plain dicts.

    clamp_page: a page past the end becomes the last page (HTML tables); the API keeps it and
    returns empty data with the right total. count_base: a cheaper select with the same rows to count
    (e.g. without a one-to-one join). kept_total: the exact total as a scalar select of a maintained
    count (e.g. CadetTotal), in place of counting the rows. id_base: a select of primary keys only,
    with the same rows: the page's keys are found first (an index scan that skips OFFSET rows
    cheaply), then only those rows are joined and fetched ("deferred join"), so deep pages cost
    about what page 1 costs.

    An exact total rides in the page's own statement as a scalar subquery (evaluated once), so a
    page costs one round trip; only an empty page needs a second statement to learn the total.
    shape: turns the column names and the rows (plain tuples) into the page's items; by default one
    dict per row. A list with nested items passes its own, so no row goes through an interim dict.
    compiled_as: the caller's promise that its statements depend on the list state and this key
    alone (the list's name, say); the page's statement is then compiled once per state (compiled.py).
    """
    stmt = apply_filters(stmt, state)
    total_sql = None
    if state.spec.exact_count:
        total_sql = kept_total if kept_total is not None else _count_sql(
            apply_filters(count_base, state) if count_base is not None else stmt)
        total, estimated = None, False
    else:
        total, estimated = _estimate(stmt, table, bool(state.filters or state.search))
    if state.cursor and state.cursor.startswith("id:"):
        state = _anchored(stmt, state)
    keys, rows = _page_rows(stmt, state, state.page, total_sql, id_base, compiled_as)
    cursors = None
    if state.cursor is not None:
        keys, rows, cursors = _cursors(state, keys, rows)
    if total is None:
        total = rows[0][-1] if rows else (db.session.scalar(select(total_sql)) or 0)
    page = state.page
    walking = state.after is not None or state.cursor is not None
    if clamp_page and total and state.offset >= total and not estimated and not walking:
        page = (total - 1) // state.per_page + 1
        keys, rows = _page_rows(stmt, state, page, total_sql, id_base, compiled_as)
    if total_sql is not None:
        keys, rows = keys[:-1], [row[:-1] for row in rows]
    data = (shape or _dicts)(keys, rows)
    result = {"data": data, "page": page, "limit": state.per_page, "total": total}
    if estimated:
        result["total_is_estimate"] = True
    if state.after is not None:
        result["next_after"] = data[-1]["id"] if len(data) == state.per_page else None
    if cursors is not None:
        result.update(cursors)
    return result


def _dicts(keys: list[str], rows: list[tuple]) -> list[dict[str, Any]]:
    return [dict(zip(keys, row, strict=True)) for row in rows]


def _count_sql(counted: Select) -> ScalarSelect:
    return select(func.count()).select_from(counted.order_by(None).subquery()).scalar_subquery()


_TOTAL = "_total_rows"


def _page_rows(stmt: Select, state: ListState, page: int, total_sql: ScalarSelect | None,
               id_base: Select | None, compiled_as: Hashable | None = None) -> tuple[list[str], list[tuple]]:
    """The column names and the page's rows (the total last in each when `total_sql` is given), in list order."""

    def build() -> Select:
        query = stmt if total_sql is None else stmt.add_columns(total_sql.label(_TOTAL))
        if state.after is not None:
            return query.where(state.spec.pk > state.after).order_by(state.spec.pk).limit(state.per_page)
        if state.cursor is not None:
            return _seek_page(query, state, id_base)
        if id_base is not None:
            keys = (apply_filters(id_base, state).order_by(*order_clauses(state))
                    .offset((page - 1) * state.per_page).limit(state.per_page).subquery())
            return query.join(keys, keys.c[state.spec.pk.key] == state.spec.pk).order_by(*order_clauses(state))
        return query.order_by(*order_clauses(state)).offset((page - 1) * state.per_page).limit(state.per_page)

    # The seek values (from the cursor, or from the anchor row the database gave) are part of the SQL.
    key = None if compiled_as is None else (compiled_as, state.spec.name, state.cache_args(), state.search, state.seek,
                                             page)
    keys, rows = compiled.run(key, build)
    return keys, rows[::-1] if state.backward else rows


_SEEK = "_seek_"


def _seek_page(stmt: Select, state: ListState, id_base: Select | None) -> Select:
    """The page past (or, backward, before) the cursor's row: an index seek whatever the page's depth.
    Its seek values ride along as labelled columns, to sign the next cursors with."""
    order = order_clauses(state, reverse=state.backward)
    columns = seek_columns(state)
    base = apply_filters(id_base, state) if id_base is not None else stmt
    if state.seek == (_PAST_END,):
        base = base.where(false())
    elif state.seek is not None:
        base = base.where(keyset.seek(columns, state.seek, greater=state.desc == state.backward))
    base = base.order_by(*order).limit(state.per_page)
    if id_base is not None:
        keys = base.subquery()
        base = stmt.join(keys, keys.c[state.spec.pk.key] == state.spec.pk).order_by(*order)
    return base.add_columns(*(c.label(f"{_SEEK}{i}") for i, c in enumerate(columns)))


def _anchored(stmt: Select, state: ListState) -> ListState:
    """after=N with a sort: seek past the sort values of the row with id N (past every row, when no
    row of this list has that id: an empty page)."""
    anchor = int(state.cursor.removeprefix("id:"))
    row = db.session.execute(stmt.with_only_columns(*seek_columns(state)).where(state.spec.pk == anchor)
                             .order_by(None).limit(1)).first()
    return replace(state, seek=tuple(row) if row is not None else (_PAST_END,))


_PAST_END = object()  # a seek value no row is past


def _cursors(state: ListState, keys: list[str], rows: list) -> tuple[list[str], list, dict[str, Any]]:
    """Strip the seek columns; next_after / prev_before: signed cursors of the page's last / first row."""
    width = sum(1 for k in keys if k.startswith(_SEEK))
    values = [tuple(row[-width:]) for row in rows]
    keys, rows = keys[:-width], [row[:-width] for row in rows]
    full = len(rows) == state.per_page
    more_after = full if not state.backward else bool(rows)
    more_before = (state.seek is not None and bool(rows)) if not state.backward else full
    links = {"next_after": keyset.dump(state.scope, values[-1]) if more_after else None,
             "prev_before": keyset.dump(state.scope, values[0]) if more_before else None}
    return keys, rows, links
