"""Distinct values of an indexed column by skipping through its index (a "loose index scan").

SELECT DISTINCT reads every row; this probes the index once per distinct value, so a filter menu
costs the same however long its table grows. PostgreSQL and SQLite both run it.
"""

from __future__ import annotations


def loose_distinct(table: str, column: str) -> str:
    """SQL yielding (x, n): the non-null values of table.column in ascending order, n numbering them.
    Both names are ours (never user input): they are written into the SQL."""
    return f"""WITH RECURSIVE v(x, n) AS (
            SELECT MIN({column}), 1 FROM {table}
            UNION ALL
            SELECT (SELECT MIN({column}) FROM {table} WHERE {column} > v.x), v.n + 1 FROM v WHERE v.x IS NOT NULL
        ) SELECT x, n FROM v WHERE x IS NOT NULL"""
