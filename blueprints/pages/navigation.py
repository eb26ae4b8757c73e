"""The navigation bar: which areas the signed-in user's role sees, and which one is current."""

from __future__ import annotations

from flask import current_app, request, url_for
from flask_login import current_user

_STAFF = ("admin", "training_staff")
_NAV = (  # endpoint, label, roles, endpoint prefix that marks it current
    ("home.index", "Home", ("admin", "training_staff"), "home."),
    ("account.me", "My record", ("cadet",), "account.me"),
    ("cadets.index", "Cadets", _STAFF, "cadets."),
    ("grades.index", "Grades", _STAFF, "grades."),
    ("training.index", "Training days", _STAFF, "training."),
    ("merits.index", "Merits", _STAFF, "merits."),
    ("admin.users", "Users", ("admin",), "admin.user"),
    ("admin.audit", "Audit log", ("admin",), "admin.audit"),
    ("admin.settings", "Settings", ("admin",), "admin.settings"),
    ("dashboard.index", "Performance", ("admin",), "dashboard."),
    ("account.profile", "Profile", ("admin", "training_staff", "cadet"),
     ("account.profile", "account.token", "account.preferences", "account.password")),
)


def nav_links() -> list[tuple[str, str, bool]]:
    """(label, url, is_current) for the signed-in user's role; endpoints not registered are skipped."""
    if not current_user.is_authenticated:
        return []
    endpoint = request.endpoint or ""
    return [(label, url_for(ep), endpoint.startswith(prefix)) for ep, label, roles, prefix in _NAV
            if current_user.role in roles and ep in current_app.view_functions]


def navigation_context() -> dict:
    """The context processor that hands every template its nav_links."""
    return {"nav_links": nav_links}
