"""The navigation bar: which areas the signed-in user's role sees, and which one is current."""

from __future__ import annotations

from flask import current_app, request, url_for
from flask_login import current_user

from blueprints.core.reads.notifications import unread_count
from models import ADMIN, ANYONE, CADET, STAFF

_NAV = (  # endpoint, label, roles, endpoint prefix that marks it current
    ("home.index", "Home", STAFF, "home."),
    ("account.me", "My record", CADET, "account.me"),
    ("cadets.index", "Cadets", STAFF, "cadets."),
    ("grades.index", "Grades", STAFF, "grades."),
    ("training.index", "Training days", STAFF, "training."),
    ("merits.index", "Merits", STAFF, "merits."),
    ("excuses.index", "Excuse letters", STAFF, "excuses."),
    ("account.notifications", "Notifications", CADET, "account.notifications"),
    ("admin.users", "Users", ADMIN, "admin.user"),
    ("admin.audit", "Audit log", ADMIN, "admin.audit"),
    ("admin.settings", "Settings", ADMIN, "admin.settings"),
    ("dashboard.index", "Performance", ADMIN, "dashboard."),
    ("account.profile", "Profile", ANYONE,
     ("account.profile", "account.token", "account.preferences", "account.password")),
)


def nav_links() -> list[tuple[str, str, bool]]:
    """(label, url, is_current) for the signed-in user's role; endpoints not registered are skipped."""
    if not current_user.is_authenticated:
        return []
    endpoint = request.endpoint or ""
    return [(_label(ep, label), url_for(ep), endpoint.startswith(prefix)) for ep, label, roles, prefix in _NAV
            if current_user.role in roles and ep in current_app.view_functions]


def _label(endpoint: str, label: str) -> str:
    """The notifications link carries the unread count (one indexed count, cadets' pages only)."""
    if endpoint != "account.notifications":
        return label
    unread = unread_count(current_user.id)
    return f"{label} ({unread})" if unread else label


def navigation_context() -> dict:
    """The context processor that hands every template its nav_links."""
    return {"nav_links": nav_links}
