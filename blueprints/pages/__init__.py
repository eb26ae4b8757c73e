"""What the HTML pages share (not a blueprint): tables.py (list state, the table and pager, the
cached table body), navigation.py (the nav bar by role), forms.py (the posted form, its user,
safe redirects), csv_export.py (CSV downloads), and the table pages' WSGI fast path: fastpath.py with
page_cache.py (the stored pages) and session_check.py (the session cookie read as Flask reads it).

May import: blueprints.core, models, grading. Never a blueprint view module, nor the API.
"""

from __future__ import annotations

from flask import Flask

from blueprints.core.clock import unit_time
from blueprints.pages.forms import plural
from blueprints.pages.navigation import navigation_context
from blueprints.pages.tables import csrf_token, grade, number


def init_app(app: Flask) -> None:
    """Template helpers every page uses: the number, grade, plural and unit-time filters, the cache-aware CSRF
    token, and the navigation links."""
    app.jinja_env.filters["num"] = number
    app.jinja_env.filters["plural"] = plural
    app.jinja_env.filters["grade"] = grade
    app.jinja_env.filters["unit_time"] = unit_time
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.context_processor(navigation_context)
