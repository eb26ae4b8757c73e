"""Forms and redirects: who posted, the posted fields, safe `next` targets, post/redirect/get."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import Response, flash, redirect, render_template, request
from flask_login import current_user

from blueprints.core.errors import AppError
from blueprints.core.validation import has_control_chars, lenient_text, parse_id


def actor() -> Any:
    """The signed-in user as the User row the operations expect (not the proxy)."""
    return current_user._get_current_object()


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    """"1 cadet", "1,204 cadets" ("1 query", "3 queries" given the plural): flash messages and templates alike."""
    return f"{count:,} {noun if count == 1 else plural_noun or noun + 's'}"


def safe_next(target: str | None, fallback: str) -> str:
    """Only same-site paths, so a form's `next` cannot send the user elsewhere (nor split the header)."""
    if (target and target.startswith("/") and not target.startswith("//") and "\\" not in target
            and not has_control_chars(target)
            and not urlsplit(target).netloc and not urlsplit(target).scheme):
        return target
    return fallback


def next_url(fallback: str) -> str:
    """The validated `next` of this request (form first, then query string)."""
    return safe_next(request.form.get("next") or request.args.get("next"), fallback)


def this_url() -> str:
    """The current path with its query string, to hand to forms as their `next`."""
    return request.full_path.rstrip("?") if request.query_string else request.path


def back(fallback: str, message: str | None = None, category: str = "success") -> Response:
    """Post/redirect/get: flash a message and return to the validated `next` (or the fallback)."""
    if message:
        flash(message, category)
    return redirect(next_url(fallback), 303)


def with_query(url: str, keep: Callable[[str, str], bool] = lambda name, value: True, **changes: str) -> str:
    """A same-site URL with the query parameters `keep` refuses dropped and `changes` set (replacing any
    earlier value): where a redirect returns to a list or sheet with its filters adjusted."""
    parts = urlsplit(url)
    params = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in changes and keep(k, v)]
    params += changes.items()
    return parts.path + ("?" + urlencode(params) if params else "")


def form_page(template: str, error: AppError | None = None, status: int = 200, **context: Any) -> tuple[str, int]:
    """Render a form page; with an error, its field messages go beside the fields, values kept."""
    if error is not None:
        context.setdefault("errors", error.details)
        context.setdefault("message", error.message)
        status = error.status
        context.setdefault("values", request.form.to_dict())
    context.setdefault("errors", {})
    context.setdefault("values", {})
    return render_template(template, **context), status


def checked_ids(name: str = "ids") -> list[int]:
    """Positive integer ids from checkboxes; anything else is ignored."""
    return sorted({i for i in map(parse_id, request.form.getlist(name)) if i is not None})


def text_arg(name: str, max_len: int = 100) -> str | None:
    """A free-text query parameter for a lenient page filter: None when empty or holding control characters."""
    return lenient_text(request.args.get(name), max_len) or None


def form_data(*names: str, checkboxes: tuple[str, ...] = ()) -> dict[str, Any]:
    """The named form fields (absent text fields are left out; absent checkboxes are False)."""
    data: dict[str, Any] = {n: request.form[n] for n in names if n in request.form}
    data.update({n: n in request.form for n in checkboxes})
    return data
