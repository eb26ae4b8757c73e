"""Reads: build the select, eager-load, paginate, return plain data (never ORM objects).

One module per domain, named as its writes in operations/ are (reads/cadets.py and
operations/cadets.py), so the read and the write of one thing sit under one name. Some are only
read here: audit (its rows are written by every operation through core/audit.py), printing, and
tokens (issued and revoked in core/auth.py). This package itself holds what every list shares:
the filters, the sort with its primary-key tie-breaker, and one page with its total; selects.py
holds the selects each domain starts from, compiled.py keeps the lists' statements compiled per list
state, distinct.py finds the filter menus' values.

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


def order_clauses(state: ListState, *, reverse: bool = False, columns: list | None = None) -> list:
    """The chosen sort, then the primary key as tie-breaker, all in one direction (index-friendly).

    NULLs come last ascending and first descending (the largest value) in both databases, as
    PostgreSQL's indexes order them, so a keyset cursor can say where a NULL row stands. columns:
    the same order in other columns (seek_columns: the sort's own table's key as tie-breaker).
    """
    columns = columns or (*state.spec.sorts[state.sort], state.spec.pk)
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


def apply_filters(stmt: Select, state: ListState, *, skip: tuple[str, ...] = ()) -> Select:
    """The state's filters and search as WHERE clauses (but those in `skip`, which the caller applied)."""
    for name, value in state.filters:
        if name in skip:
            continue
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
               compiled_as: Hashable | None = None, first: tuple[list[str], list] | None = None) -> dict[str, Any]:
    """Run a filtered select for one page: {"data", "page", "limit", "total", ...} of plain dicts.

    clamp_page: a page past the end becomes the last page (HTML tables); the API keeps it and
    returns empty data with the right total. count_base: a cheaper select with the same rows to count
    (e.g. without a one-to-one join). kept_total: the exact total as a scalar select of a maintained
    count (e.g. CadetTotal), in place of counting the rows. id_base: a select of primary keys only,
    labelled as the primary key, with the same rows and the state's filters already applied: the
    page's keys are found first (an index-only scan that skips OFFSET rows without reading the table),
    then only those rows are joined and fetched ("deferred join"). With a kept total, a page past the
    middle walks from the far end (_page_keys).

    An exact total rides in the page's own statement as a scalar subquery (evaluated once), so a
    page costs one round trip; only an empty page needs a second statement to learn the total.
    shape: turns the column names and the rows (plain tuples) into the page's items; by default one
    dict per row. A list with nested items passes its own, so no row goes through an interim dict.
    compiled_as: the caller's promise that its statements depend on the list state and this key
    alone (the list's name, say); the page's statement is then compiled once per state (compiled.py).
    first: the column names and rows of the page's first statement, already read by kept_page.
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
    if first is not None:
        keys, rows = first
    else:
        keys, rows = _page_rows(stmt, state, state.page, total_sql, id_base, kept_total, compiled_as)
    cursors = None
    if state.cursor is not None:
        keys, rows, cursors = _cursors(state, keys, rows)
    if total is None:
        total = rows[0][-1] if rows else (db.session.scalar(select(total_sql)) or 0)
    page = state.page
    walking = state.after is not None or state.cursor is not None
    if clamp_page and total and state.offset >= total and not estimated and not walking:
        page = (total - 1) // state.per_page + 1
        keys, rows = _page_rows(stmt, state, page, total_sql, id_base, kept_total, compiled_as)
    result = _envelope(state, page, total, keys, rows, shape or _dicts, total_sql is not None)
    data = result["data"]
    if estimated:
        result["total_is_estimate"] = True
    if state.after is not None:
        result["next_after"] = data[-1]["id"] if len(data) == state.per_page else None
    if cursors is not None:
        result.update(cursors)
    return result


def kept_page(state: ListState, compiled_as: Hashable | None, shape: Callable[[list[str], list[tuple]], list]
              ) -> tuple[dict[str, Any] | None, tuple[list[str], list] | None]:
    """fetch_page's answer for a numbered page near the front of an exactly counted list, from the
    statement kept for its state (compiled.py) without building any select (building the four selects
    a cadet list passes fetch_page was 80 us of a 1.5 ms cold request), and the rows it read.

    It is the statement fetch_page itself runs first for this state (the same key), so the rows and
    total are the same. An empty page's total takes a statement of its own: then (None, rows), and
    fetch_page(first=rows) goes on from there without running the page again. (None, None): nothing kept."""
    if (compiled_as is None or not state.spec.exact_count or state.after is not None or state.cursor is not None
            or state.offset >= DEEP_ROWS):
        return None, None
    found = compiled.run_kept(_page_key(compiled_as, state, state.page, None))
    if found is None or not found[1]:
        return None, found
    keys, rows = found
    return _envelope(state, state.page, rows[0][-1], keys, rows, shape, True), found


def _envelope(state: ListState, page: int, total: int, keys: list[str], rows: list,
              shape: Callable[[list[str], list[tuple]], list], total_column: bool) -> dict[str, Any]:
    """The page's {"data", "page", "limit", "total"}; total_column: each row ends with the total, dropped."""
    if total_column:
        keys, rows = keys[:-1], [row[:-1] for row in rows]
    return {"data": shape(keys, rows), "page": page, "limit": state.per_page, "total": total}


def _dicts(keys: list[str], rows: list[tuple]) -> list[dict[str, Any]]:
    return [dict(zip(keys, row, strict=True)) for row in rows]


def _count_sql(counted: Select) -> ScalarSelect:
    return select(func.count()).select_from(counted.order_by(None).subquery()).scalar_subquery()


_TOTAL = "_total_rows"


def _page_rows(stmt: Select, state: ListState, page: int, total_sql: ScalarSelect | None, id_base: Select | None,
               kept_total: ScalarSelect | None = None,
               compiled_as: Hashable | None = None) -> tuple[list[str], list[tuple]]:
    """The column names and the page's rows (the total last in each when `total_sql` is given), in list order."""
    query = stmt if total_sql is None else stmt.add_columns(total_sql.label(_TOTAL))
    numbered = state.after is None and state.cursor is None and id_base is not None
    far = _far_total(state, page, kept_total if kept_total is total_sql else None) if numbered else None

    def build(far_total: int | None) -> Select:
        if state.after is not None:
            return query.where(state.spec.pk > state.after).order_by(state.spec.pk).limit(state.per_page)
        if state.cursor is not None:
            return _seek_page(query, state, id_base)
        if id_base is not None:
            return _deferred(query, state, _page_keys(id_base, state, page, far_total))
        return query.order_by(*order_clauses(state)).offset((page - 1) * state.per_page).limit(state.per_page)

    def run(far_total: int | None) -> tuple[list[str], list]:
        # The seek values (from the cursor, or from the anchor row) and the far-end total are part of the SQL.
        key = None if compiled_as is None else _page_key(compiled_as, state, page, far_total)
        return compiled.run(key, lambda: build(far_total))

    keys, rows = run(far)
    if far is not None and (rows[0][-1] if rows else db.session.scalar(select(total_sql))) != far:
        keys, rows = run(None)  # rows were added or archived since the look at the total: count from the front
    return keys, rows[::-1] if state.backward else rows


def _page_key(compiled_as: Hashable, state: ListState, page: int, far_total: int | None) -> Hashable:
    return compiled_as, state.spec.name, state.cache_args(), state.search, state.seek, page, far_total


def _deferred(stmt: Select, state: ListState, keys: Select) -> Select:
    """The page's full rows for its keys (found first, alone), in list order."""
    keys = keys.subquery()
    return stmt.join(keys, keys.c[state.spec.pk.key] == state.spec.pk).order_by(*order_clauses(state))


DEEP_ROWS = 5_000  # from this offset on, a numbered page asks the kept total first (one tiny statement)


def _far_total(state: ListState, page: int, kept_total: ScalarSelect | None) -> int | None:
    """The list's total when page `page` is nearer its end than its start (then it is counted from
    the end: page 1,900 of 2,000 skips 5,000 index entries, not 94,950); None otherwise."""
    offset = (page - 1) * state.per_page
    if kept_total is None or offset < DEEP_ROWS:
        return None
    total = db.session.scalar(select(kept_total)) or 0
    return total if offset < total and 2 * offset + state.per_page > total else None


def _page_keys(id_base: Select, state: ListState, page: int, far_total: int | None) -> Select:
    """The keys of a numbered page, in the sort's own index order: OFFSET over that index alone.

    With far_total, the same keys counted back from the end of a list of that many rows. They are
    exactly the forward page's only if the list still has that many rows when the page is read:
    _page_rows compares the page statement's own total and counts from the front if it moved.
    """
    columns = seek_columns(state)
    offset, size = (page - 1) * state.per_page, state.per_page
    if far_total is None:
        return id_base.order_by(*order_clauses(state, columns=columns)).offset(offset).limit(size)
    return (id_base.order_by(*order_clauses(state, reverse=True, columns=columns))
            .offset(max(far_total - offset - size, 0)).limit(min(size, far_total - offset)))


_SEEK = "_seek_"


def _seek_page(stmt: Select, state: ListState, id_base: Select | None) -> Select:
    """The page past (or, backward, before) the cursor's row: an index seek whatever the page's depth.
    Its seek values ride along as labelled columns, to sign the next cursors with."""
    order = order_clauses(state, reverse=state.backward)
    columns = seek_columns(state)
    base = id_base if id_base is not None else stmt
    if state.seek == (_PAST_END,):
        base = base.where(false())
    elif state.seek is not None:
        base = base.where(keyset.seek(columns, state.seek, greater=state.desc == state.backward))
    # The keys in the sort's own table's order (equal to `order` through the join), so its index serves.
    keys_order = order_clauses(state, reverse=state.backward, columns=columns) if id_base is not None else order
    base = base.order_by(*keys_order).limit(state.per_page)
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
