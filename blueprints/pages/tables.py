"""Table pages: list state from the URL, the table's and pager's state (TablePage), the cached
table body, and the number and grade filters its cells use.

Page state is computed here in Python so templates only draw it (house rule 10).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import urlencode

from flask import g, render_template, request, url_for
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from blueprints.core import keyset
from blueprints.core.cache import Read
from blueprints.core.liststate import ListSpec, ListState
from blueprints.core.reads import ESTIMATE_CAP
from blueprints.pages import page_cache
from blueprints.pages.page_cache import MARK
from grading import display_grade
from models import DEFAULT_PAGE_SIZE, PAGE_SIZES

_QUERY_SAFE = "!$'()*,/:;?@"  # what werkzeug's url_for leaves unquoted in a query string
_NONE = Markup('<span class="muted">—</span>')


def number(value: float | None, digits: int = 2) -> str:
    """A number with fixed decimals, or a muted dash for none (a filter: no macro call per cell)."""
    return _NONE if value is None else f"{value:.{digits}f}"


def grade(value: float | None) -> str:
    """A grade as staff see it: truncated to two decimals so it agrees with its band (grading.py)."""
    shown = display_grade(value)
    return _NONE if shown is None else shown


def csrf_token() -> str:
    """The CSRF token, or a mark for it inside a cached table body (render_table fills it in)."""
    return MARK if g.get("rendering_shared_fragment") else generate_csrf()


def page_size() -> int:
    """The signed-in user's rows-per-page preference (50 when unset)."""
    settings = getattr(current_user, "settings", None)
    return getattr(settings, "page_size", None) or DEFAULT_PAGE_SIZE


def list_state(spec: ListSpec, **fixed: Any) -> ListState:
    """Parse the request's query string leniently; `fixed` pins filters that come from the path."""
    args: Mapping[str, str] = request.args
    if fixed:
        args = {**request.args.to_dict(), **{k: str(v) for k, v in fixed.items()}}
    return ListState.from_args(args, spec, default_per_page=page_size())


def pager_window(current: int, last: int, radius: int = 2) -> list[int | None]:
    """Page numbers to draw: first, last, current +/- radius; None marks an elided gap."""
    if last < 1:
        return []
    pages = sorted({1, last, *range(max(1, current - radius), min(last, current + radius) + 1)})
    out: list[int | None] = []
    previous = 0
    for number in pages:
        if number - previous == 2:
            out.append(previous + 1)  # eliding a single page would save nothing
        elif number - previous > 2:
            out.append(None)
        out.append(number)
        previous = number
    return out


@dataclass
class TablePage:
    """One table request's rows and everything the table, header and pager macros draw."""

    state: ListState
    result: dict[str, Any]
    endpoint: str
    view_args: dict[str, Any] = field(default_factory=dict)
    hidden: tuple[str, ...] = ()  # filters fixed by the path, left out of links

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self.result["data"]

    @property
    def page(self) -> int:
        return self.result["page"]

    @property
    def total(self) -> int:
        return self.result["total"]

    @property
    def is_estimate(self) -> bool:
        return bool(self.result.get("total_is_estimate"))

    @property
    def last_page(self) -> int:
        return max(1, math.ceil(self.total / self.state.per_page))

    @property
    def has_next(self) -> bool:
        if self.is_estimate:
            return len(self.rows) == self.state.per_page
        return self.page < self.last_page

    @cached_property
    def _base_url(self) -> str:
        return url_for(self.endpoint, **self.view_args)

    def _link(self, params: dict[str, str]) -> str:
        """url_for's result for this view with these query parameters, built without url_for."""
        items = [(k, v) for k, v in params.items() if k not in self.hidden and v is not None]
        return f"{self._base_url}?{urlencode(items, safe=_QUERY_SAFE)}" if items else self._base_url

    def id_link(self, endpoint: str, key: str) -> Callable[[int], str]:
        """Links to one row's page that come back to this table (next=), for every row of the page:
        url_for once, then string joins, since only the id differs from row to row."""
        prefix, _, query = url_for(endpoint, **{key: 1}, next=self.current_url).partition("?")
        if not prefix.endswith("/1"):
            raise ValueError(f"{endpoint}: the id is not the last path segment")
        prefix, query = prefix[:-1], "?" + query
        return lambda row_id: f"{prefix}{int(row_id)}{query}"

    def url(self, **changes: Any) -> str:
        """This view's URL with some of its state changed (page, per_page, ...)."""
        return self._link(self.state.params(**({"page": self.page} | changes)))

    def filter_url(self, **filters: Any) -> str:
        """This view narrowed by more filters, back on page 1 (e.g. a link on a cell value)."""
        merged = {**self.state.filter_dict, **filters}
        return self.url(filters=tuple(merged.items()), page=1)

    def sort_url(self, key: str) -> str:
        return self._link(self.state.toggled_sort(key))

    def sort_direction(self, key: str) -> str | None:
        """"ascending"/"descending" for the sorted column (aria-sort), else None."""
        if key != self.state.sort:
            return None
        return "descending" if self.state.desc else "ascending"

    @cached_property
    def current_url(self) -> str:
        return self.url()

    @property
    def filter_params(self) -> dict[str, str]:
        """Filters, search and sort without paging: for an export of the whole filtered set."""
        return {k: v for k, v in self.state.params().items() if k not in ("page", "per_page", *self.hidden)}

    @property
    def kept_fields(self) -> dict[str, str]:
        """Sort and page size, carried as hidden inputs by the filters form (which resets the page)."""
        params = self.state.params()
        return {k: v for k, v in params.items() if k in ("sort", "per_page")}

    @property
    def active_filters(self) -> int:
        """How many filters (and the search) narrow this table: the count the folded filters show on phones."""
        return sum(1 for k, v in self.state.filter_dict.items() if k not in self.hidden and v not in (None, "")) \
            + bool(self.state.search)

    @property
    def size_links(self) -> list[tuple[int, str, bool]]:
        return [(n, self.url(per_page=n, page=1), n == self.state.per_page) for n in PAGE_SIZES]

    @property
    def window(self) -> list[tuple[int | None, str | None]]:
        """(number, url) per pager entry; (None, None) is an elided gap."""
        last = self.last_page
        if self.is_estimate:
            last = self.page + 1 if self.has_next else self.page  # the end is unknown: "next" goes on
        return [(n, self.url(page=n) if n else None) for n in pager_window(self.page, last)]

    @cached_property  # the pager asks twice (whether to link, then where); each signs a cursor
    def previous_url(self) -> str | None:
        if self.page <= 1:
            return None
        return self.url(page=self.page - 1, **self._cursor(self.rows[0] if self.rows else None, backward=True))

    @cached_property
    def next_url(self) -> str | None:
        if not self.has_next:
            return None
        return self.url(page=self.page + 1, **self._cursor(self.rows[-1] if self.rows else None, backward=False))

    def _cursor(self, row: dict[str, Any] | None, backward: bool) -> dict[str, Any]:
        """A keyset cursor past this row for the previous/next link, so the next page is an index
        seek, not an OFFSET walk; {} (the numbered link) when the row does not hold its sort values."""
        if row is None or self.is_estimate:
            return {}
        values = []
        for column in self.state.spec.sorts[self.state.sort]:
            holder = row if column.key in row else row.get("grades") or {}
            if column.key not in holder:
                return {}
            values.append(holder[column.key])
        values.append(row.get(self.state.spec.pk.key))
        return {"cursor": keyset.dump(self.state.scope, tuple(values)), "backward": backward}

    @property
    def showing(self) -> str:
        """"Showing 51-100 of 1,234", with "about" or "+" when the total is an estimate."""
        if not self.rows:
            return "No rows match." if self.total == 0 or not self.is_estimate else "No rows on this page."
        first = (self.page - 1) * self.state.per_page + 1
        last = first + len(self.rows) - 1
        if not self.is_estimate:
            total = f"{self.total:,}"
        elif self.total == ESTIMATE_CAP + 1:
            total = f"{ESTIMATE_CAP:,}+"
        else:
            total = f"about {self.total:,}"
        return f"Showing {first:,}\u2013{last:,} of {total}"


def render_table(template: str, title: str, read: Read, state: ListState, context: Callable[[], dict],
                 **page: Any) -> str:
    """A table page whose body (filters, table, pager) is cached per list state and role under the
    domains of the read it shows, so the same writes invalidate it. The body holds nothing of the
    user but the role; the header is drawn around it. Both are drawn with a mark for the CSRF token,
    so the whole page can be stored for the fast path (page_cache.py) before the token is filled in."""
    key = (state.cache_args(), current_user.role, template)
    gens = page_cache.generations_to_store(read)  # before the body is read: see page_cache
    body = read.derived("html").get(key, lambda: _render_marked(template, context()))
    html = _render_marked("table_page.html", {"title": title, "body": Markup(body), **page})
    token = generate_csrf()
    if gens is not None:
        page_cache.store_page(read, gens, html, token)
    return html.replace(MARK, token)


def _render_marked(template: str, context: dict) -> str:
    g.rendering_shared_fragment = True  # csrf_token() draws MARK
    try:
        return render_template(template, **context)
    finally:
        g.rendering_shared_fragment = False


def table_page(state: ListState, result: dict[str, Any], endpoint: str | None = None,
               hidden: tuple[str, ...] = (), **view_args: Any) -> TablePage:
    """The TablePage of the current request (endpoint and path arguments default to the request's)."""
    if endpoint is None:
        endpoint = request.endpoint or ""
        view_args = {**(request.view_args or {}), **view_args}
    return TablePage(state, result, endpoint, view_args, hidden)
