"""One list-state object per table request: page, size, sort, search and filters, parsed once.

Pages parse leniently (a bad page number lands on a valid page); the API parses strictly (bad
values are a 400 that names the parameter). Everything is allow-listed by the table's ListSpec.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from flask import has_app_context
from sqlalchemy.sql.elements import ColumnElement

from blueprints.core import keyset
from blueprints.core.errors import BadRequest
from blueprints.core.validation import MAX_ID, has_control_chars, parse_date, parse_whole
from models import DEFAULT_PAGE_SIZE, PAGE_SIZES

MAX_PAGE = 10**9 - 1  # far past any table's last page, and still a small number to multiply
MAX_PER_PAGE = max(PAGE_SIZES)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Filter:
    """An allow-listed filter: how to parse its value and the WHERE clause it becomes."""

    kind: str  # "text", "int", "choice", "bool", "date"
    clause: Callable[[Any], ColumnElement | None]
    choices: tuple[str, ...] = ()
    label: str = ""

    def parse(self, name: str, raw: str) -> Any:
        if self.kind == "text" and len(raw) > 100:  # as sent, like the documented maxLength
            raise ValueError(f"{name} must be at most 100 characters")
        raw = raw.strip()
        if has_control_chars(raw):
            raise ValueError(f"{name} must not contain control characters")
        if self.kind == "text":
            return raw
        if not raw:  # pages ignore the error (an empty form field); the API answers 400
            raise ValueError(f"{name} must not be empty")
        if self.kind == "int":
            number = parse_whole(raw.removeprefix("-"), 0, MAX_ID)
            if number is None:
                raise ValueError(f"{name} must be a whole number")
            return -number if raw.startswith("-") else number
        if self.kind == "choice":
            if raw not in self.choices:
                raise ValueError(f"{name} must be one of: {', '.join(self.choices)}")
            return raw
        if self.kind == "bool":
            if raw.lower() not in _TRUE | _FALSE:
                raise ValueError(f"{name} must be true or false")
            return raw.lower() in _TRUE
        if self.kind == "date":
            try:
                return parse_date(raw)
            except ValueError as exc:
                raise ValueError(f"{name} {exc}") from exc
        raise AssertionError(self.kind)


@dataclass(frozen=True)
class ListSpec:
    """What one table allows: sort keys, filters, search, and how it counts."""

    name: str
    sorts: Mapping[str, tuple[ColumnElement, ...]]
    default_sort: str
    pk: ColumnElement
    default_desc: bool = False
    filters: Mapping[str, Filter] = field(default_factory=dict)
    search: Callable[[str], ColumnElement] | None = None
    exact_count: bool = True  # False for unbounded tables: no COUNT(*) per page view


@dataclass(frozen=True)
class ListState:
    spec: ListSpec = field(repr=False, compare=False)
    page: int = 1
    per_page: int = DEFAULT_PAGE_SIZE
    sort: str = ""
    desc: bool = False
    search: str = ""
    filters: tuple[tuple[str, Any], ...] = ()
    after: int | None = None  # the id walk: rows with id above this, in id order
    cursor: str | None = None  # a keyset cursor (keyset.py) in the list's own sort; "" starts the walk,
    # "id:N" continues after the row with id N
    backward: bool = False  # the cursor came as before=: the rows just before it (a previous page)
    seek: tuple | None = field(default=None, compare=False)  # the cursor's sort values, once verified

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def sort_param(self) -> str:
        return ("-" if self.desc else "") + self.sort

    @property
    def filter_dict(self) -> dict[str, Any]:
        return dict(self.filters)

    def cache_args(self) -> tuple:
        """Normalised, hashable description of the request: every allow-listed parameter."""
        return (self.page, self.per_page, self.sort, self.desc, self.search.lower(),
                tuple((k, str(v)) for k, v in self.filters), self.after, self.cursor, self.backward)

    @property
    def scope(self) -> str:
        """What a keyset cursor of this state is valid for: its list, sort and filters."""
        return keyset.scope(self.spec.name, self.sort_param, self.search, self.filters)

    def params(self, size_param: str = "per_page", **changes: Any) -> dict[str, str]:
        """URL parameters of this state with some changed, sorted so equal views share a URL."""
        # The changed fields are read from `changes` directly, not through dataclasses.replace: a
        # table page builds twenty-odd links (sort headers, sizes, pager), each with a change.
        def get(name: str) -> Any:
            return changes[name] if name in changes else getattr(self, name)

        out: dict[str, str] = {k: _fmt(v) for k, v in get("filters")}
        if search := get("search"):
            out["search"] = search
        sort, desc = get("sort"), get("desc")
        if sort != self.spec.default_sort or desc != self.spec.default_desc:
            out["sort"] = ("-" if desc else "") + sort
        if (page := get("page")) != 1:
            out["page"] = str(page)
        out[size_param] = str(get("per_page"))
        if changes.get("cursor"):  # only when asked: a cursor holds for this sort and filters alone
            out["before" if get("backward") else "after"] = changes["cursor"]
        return dict(sorted(out.items()))

    def query_string(self, **changes: Any) -> str:
        return urlencode(self.params(**changes))

    def toggled_sort(self, key: str) -> dict[str, str]:
        """Parameters for clicking a column header: same key flips direction, back to page 1."""
        desc = not self.desc if key == self.sort else False
        return self.params(sort=key, desc=desc, page=1)

    @classmethod
    def from_args(
        cls,
        args: Mapping[str, str],
        spec: ListSpec,
        *,
        default_per_page: int = DEFAULT_PAGE_SIZE,
        strict: bool = False,
        size_param: str = "per_page",
    ) -> ListState:
        """Parse query arguments. strict: raise BadRequest naming each bad parameter."""
        errors: dict[str, list[str]] = {}

        def bad(name: str, message: str) -> None:
            errors.setdefault(name, []).append(message)

        page = _positive(args.get("page"), 1, "page", strict, bad)
        per_page = _positive(args.get(size_param), default_per_page, size_param, strict, bad)
        per_page = min(per_page, MAX_PER_PAGE)

        sort_raw = (args.get("sort") or "").strip()
        desc = sort_raw.startswith("-") if sort_raw else spec.default_desc
        sort = sort_raw.lstrip("-+") or spec.default_sort
        # The API takes only the documented spellings: key or -key, exactly.
        documented = not strict or "sort" not in args or args["sort"].removeprefix("-") in spec.sorts
        if sort not in spec.sorts or not documented:
            if strict:
                bad("sort", f"unknown sort; allowed: {', '.join(sorted(spec.sorts))}")
            sort, desc = spec.default_sort, spec.default_desc

        filters: list[tuple[str, Any]] = []
        for name, flt in spec.filters.items():
            raw = args.get(name)
            if raw is None:
                continue
            try:
                value = flt.parse(name, raw)
            except ValueError as exc:
                if strict:
                    bad(name, str(exc))
                continue
            if value != "":
                filters.append((name, value))

        search = args.get("search") or args.get("q") or ""
        if len(search) > 100:  # as sent, like the documented maxLength
            if strict:
                bad("search", "search must be at most 100 characters")
            search = search[:100]
        search = search.strip()
        if has_control_chars(search):
            if strict:
                bad("search", "search must not contain control characters")
            search = "".join(c for c in search if ord(c) >= 32)
        sorted_by = (sort, desc) != ("id", False) and "sort" in args and sort in spec.sorts
        after, cursor, backward = _cursors(args, sorted_by, strict, bad)

        if strict:
            known = {"page", size_param, "sort", "search", "q", "after", "before", *spec.filters}
            for name in args:
                if name not in known:
                    bad(name, "unknown parameter")
        if errors:
            raise BadRequest("Invalid query parameters.", errors)
        state = cls(spec, page, per_page, sort, desc, search, tuple(filters), after, cursor, backward)
        # Verified where it is used; the fast path (no app context) only looks the cached body up.
        if cursor and not cursor.startswith("id:") and has_app_context():
            seek = keyset.load(cursor, state.scope)
            if seek is None:
                if strict:
                    name = "before" if backward else "after"
                    raise BadRequest("Invalid query parameters.", {name: ["is not a cursor of this list and sort"]})
                return replace(state, cursor=None, backward=False)
            state = replace(state, seek=seek)
        return state


def _positive(raw: str | None, default: Any, name: str, strict: bool, bad) -> Any:
    if raw is None or (raw == "" and not strict):  # an empty form field on a page; the API documents an integer
        return default
    number = parse_whole(raw, 1, MAX_PAGE)
    if number is not None:
        return number
    if strict:
        bad(name, f"{name} must be a whole number of at least 1")
    return default


def _cursors(args: Mapping[str, str], sorted_by: bool, strict: bool, bad) -> tuple[int | None, str | None, bool]:
    """(id walk start, keyset cursor, backward) from after= and before=.

    after=N (a whole number) without a sort is the id walk: rows with id above N, in id order, as
    the API has always offered. With a sort, after=0 starts a keyset walk in that sort and after=N
    continues it after the row with id N; next_after (and prev_before) are opaque signed cursors,
    and before= walks back.
    """
    raw, name = (args["before"], "before") if args.get("before") is not None else (args.get("after"), "after")
    if raw is None:
        return None, None, False
    if name == "after" and raw.isascii() and raw.isdigit():
        number = parse_whole(raw, 0, MAX_ID)
        if number is None:
            if strict:
                bad(name, f"{name} must be a whole number from 0 to {MAX_ID}, or a cursor from next_after")
            return None, None, False
        if not sorted_by:
            return number, None, False
        return None, "" if number == 0 else f"id:{number}", False  # the start, or after that row
    if 0 < len(raw) <= keyset.MAX_TOKEN and set(raw) <= keyset.TOKEN_CHARS:
        return None, raw, name == "before"
    if strict:
        bad(name, f"{name} is not a cursor this API issued")
    return None, None, False


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
