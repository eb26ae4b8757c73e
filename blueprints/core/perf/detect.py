"""What deserves an admin's attention in one request: N+1 query patterns and slow statements."""

from __future__ import annotations

import re
from typing import Any

from blueprints.core.perf.sqlnorm import statement_id, statement_kind

# Transaction bookkeeping repeats by design; it is never an N+1 pattern.
_IGNORED = {"SAVEPOINT", "RELEASE", "BEGIN", "COMMIT", "ROLLBACK", "SET", "SHOW", "PRAGMA", "RESET"}
_PARAM = r"\?(?:::\w+)?"  # PostgreSQL statements carry casts: %(pk_1)s::INTEGER
_KEY_LOOKUP = re.compile(rf"\bWHERE\s+[\w.\"]+\s*=\s*{_PARAM}\s*(?:LIMIT\s+{_PARAM})?\s*$", re.I)


def recommend(sql: str) -> str:
    """A short, concrete fix for a statement that ran once per item."""
    kind = statement_kind(sql)
    if kind == "INSERT":
        return ("Rows are inserted one at a time. Send them in one executemany: "
                "session.execute(insert(Model), rows).")
    if kind in ("UPDATE", "DELETE"):
        return (f"One {kind} per row. Use a single set-based {kind} ... WHERE id IN (...), "
                "or one executemany with all the rows.")
    if _KEY_LOOKUP.search(sql):
        return ("One row is loaded by key per item, inside a loop. Collect the keys and load them in one "
                "query (select(Model).where(Model.id.in_(ids))), or eager-load the relationship in the read "
                "function: selectinload() for collections, joinedload() for many-to-one.")
    return ("The same query runs once per item. Fetch the data for all items in one query: a join, or one "
            "query with IN (...) over the collected keys, then group the rows in Python.")


def find_n_plus_one(
    groups: dict[str, list], threshold: int, endpoint: str
) -> list[dict[str, Any]]:
    """Statements run `threshold` or more times in one request.

    groups: normalised SQL -> [count, total_ms, {call site: count}].
    """
    found = []
    for sql, (count, total_ms, sites) in groups.items():
        if count < threshold or statement_kind(sql) in _IGNORED:
            continue
        site = max(sites.items(), key=lambda item: item[1])[0]
        found.append({
            "endpoint": endpoint, "sql": sql, "id": statement_id(sql), "count": count,
            "total_ms": round(total_ms, 3), "site": site, "recommendation": recommend(sql),
        })
    return found
