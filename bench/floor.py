"""The floor: in-process, one raw psycopg 3 query of the same page plus its count, orjson, gzip.

No framework, no pool, no cache: the least work any server could do to answer the same request.
"""

from __future__ import annotations

import gzip
import statistics
import time
from typing import Any

import orjson
import psycopg
from psycopg.rows import dict_row

COLUMNS = """c.id, c.student_id, c.first_name, c.last_name, c.middle_name, c.suffix, c.company, c.platoon,
c.course, c.year_level, c.status, c.email, c.contact_number, c.is_archived, c.created_at, c.updated_at,
g.attendance_present, g.merit_points, g.demerit_points, g.lifetime_merit_points, g.prelim_score, g.midterm_score,
g.final_score, g.status AS grade_status, g.version, g.attendance_score, g.aptitude_score, g.subject_score,
g.final_grade, g.transmuted_grade, g.remarks, g.updated_at AS grade_updated_at"""
FROM = "FROM cadets c JOIN grades g ON g.cadet_id = c.id WHERE c.is_archived IS FALSE"
SEARCH = " AND c.company = %(company)s AND (c.last_name ILIKE %(like)s OR c.first_name ILIKE %(like)s" \
         " OR c.student_id ILIKE %(like)s)"
ORDERS = {"name": "c.last_name, c.first_name, c.id", "-final_grade": "g.final_grade DESC, c.id DESC"}


def page_query(limit: int, page: int = 1, sort: str = "name", search: dict | None = None) -> tuple[str, str, dict]:
    """The page and count SQL for one list request, as Muster's read layer runs them."""
    where = FROM + (SEARCH if search else "")
    params: dict[str, Any] = {"limit": limit, "offset": (page - 1) * limit}
    if search:
        params |= {"company": search["company"], "like": f"%{search['search']}%"}
    page_sql = f"SELECT {COLUMNS} {where} ORDER BY {ORDERS[sort]} LIMIT %(limit)s OFFSET %(offset)s"
    count_sql = f"SELECT count(*) AS n {where}"
    return page_sql, count_sql, params


def measure(dsn: str, limit: int, page: int = 1, sort: str = "name", search: dict | None = None,
            seconds: float = 2.0, min_runs: int = 20) -> dict[str, float]:
    """Time the floor in a loop on one connection: mean, p50 and p99 milliseconds per request."""
    page_sql, count_sql, params = page_query(limit, page, sort, search)
    times: list[float] = []
    size = 0
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline or len(times) < min_runs:
            start = time.perf_counter()
            with conn.cursor() as cur:
                rows = cur.execute(page_sql, params).fetchall()
                total = cur.execute(count_sql, params).fetchone()["n"]
            body = gzip.compress(orjson.dumps({"data": rows, "page": page, "limit": limit, "total": total}), 6)
            times.append((time.perf_counter() - start) * 1000)
            size = len(body)
            conn.rollback()
    times.sort()
    return {"mean": statistics.fmean(times), "p50": times[len(times) // 2],
            "p99": times[min(len(times) - 1, int(len(times) * 0.99))], "runs": len(times), "bytes": size}
