"""Request and query instrumentation, attached as a side-car in create_app (no view calls it)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Attach request hooks and SQLAlchemy engine events."""
