"""Normalise SQL for grouping and display: literals and placeholders become `?`, lists collapse.

Parameter values are never looked at; literals written into the SQL text (a student id in a
text() query, a LIMIT) are masked too, so nothing personal reaches the statistics store.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

MAX_LENGTH = 2000

_COMMENTS = re.compile(r"/\*.*?\*/|--[^\n]*", re.S)
_ESCAPED_STRINGS = re.compile(r"\b[Ee]'(?:[^'\\]|\\.|'')*'")
_STRINGS = re.compile(r"(?:\b[XxBbNnUu]&?)?'(?:[^']|'')*'")
_DOLLAR = re.compile(r"\$(\w*)\$.*?\$\1\$", re.S)
_PLACEHOLDERS = re.compile(r"%\(\w+\)s|%s|(?<![\w:]):\w+|\$\d+")
_NUMBERS = re.compile(r"(?<![\w.$\"])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w\"])")
_LISTS = re.compile(r"\(\s*\?(?:\s*,\s*\?)+\s*\)")
_VALUES_ROWS = re.compile(r"(\(\s*\?(?:\s*,\s*\?)*\s*\))(?:\s*,\s*\(\s*\?(?:\s*,\s*\?)*\s*\))+")
_SPACES = re.compile(r"\s+")


@lru_cache(maxsize=4096)
def normalise_sql(statement: str) -> str:
    """SQL with comments removed, every literal and placeholder as `?`, IN lists as `(...)`."""
    sql = _COMMENTS.sub(" ", statement)
    sql = _DOLLAR.sub("?", sql)
    sql = _ESCAPED_STRINGS.sub("?", sql)
    sql = _STRINGS.sub("?", sql)
    sql = _PLACEHOLDERS.sub("?", sql)
    sql = _NUMBERS.sub("?", sql)
    sql = _VALUES_ROWS.sub(r"\1 /* ... */", sql)
    sql = _LISTS.sub("(...)", sql)
    sql = _SPACES.sub(" ", sql).strip()
    if len(sql) > MAX_LENGTH:
        sql = sql[:MAX_LENGTH] + " /* truncated */"
    return sql


def statement_id(sql: str) -> str:
    """A short stable id for a normalised statement (links to its EXPLAIN)."""
    return hashlib.sha1(sql.encode(), usedforsecurity=False).hexdigest()[:16]


def statement_kind(sql: str) -> str:
    """The first keyword, upper-cased: SELECT, INSERT, UPDATE, DELETE, WITH, ..."""
    head = sql.lstrip("( ").split(None, 1)
    return head[0].upper() if head else ""


def is_plain_select(sql: str) -> bool:
    """A single SELECT: starts with SELECT, has no second statement and no SELECT ... INTO."""
    if statement_kind(sql) != "SELECT" or ";" in sql:
        return False
    return re.search(r"\bINTO\b", sql, re.I) is None
