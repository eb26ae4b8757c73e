"""Fixtures: the app on PostgreSQL + Redis when TEST_DATABASE_URL/DATABASE_URL and REDIS_URL are set,
else on SQLite and the in-process cache. Every test starts from empty tables and its own cache prefix."""

from __future__ import annotations

import importlib
import itertools
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import request as flask_request
from flask import request_finished
from sqlalchemy import event

from app import create_app
from config import normalise_database_url
from models import db
from tests.isolation import disable_autovacuum, empty_tables, use_worker_databases

# The tests build many apps, and a listening app holds a PostgreSQL connection for the life of the
# process: only tests/test_clear_signals.py's apps listen (OUTBOX_LISTEN); the rest poll, as before.
os.environ["OUTBOX_LISTEN"] = "off"
_prefixes = itertools.count()
PASSWORD = "correct-horse-battery"


def pytest_configure(config) -> None:
    use_worker_databases()  # before any test module reads TEST_DATABASE_URL or the replica URLs


def _database_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if url:
        return normalise_database_url(url)
    return "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.db")


@pytest.fixture(scope="session")
def _app(tmp_path_factory):
    app = create_app({
        "MUSTER_ENV": "testing",
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": _database_url(tmp_path_factory),
        "WTF_CSRF_ENABLED": False,
        "SECRET_KEY": "test-secret-key-not-for-production",
        # scrypt took half the suite's time (a fresh user per role in most tests); what it protects is
        # tested once, with the app's own setting (test_auth).
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    })
    _register_test_routes(app)
    with app.app_context():
        db.drop_all()
        db.create_all()
        disable_autovacuum()
    return app


def _register_test_routes(app) -> None:
    """Test-only routes live in tests/routes_*.py (each with a `bp`), registered before any request."""
    for path in sorted(Path(__file__).parent.glob("routes_*.py")):
        module = importlib.import_module(f"tests.{path.stem}")
        app.register_blueprint(module.bp)


@pytest.fixture(autouse=True)
def _no_server_errors():
    """Fail any test during which an app answered a 5xx other than the deliberate 503 (database down)."""
    seen: list[str] = []

    def record(sender, response, **extra):
        if response.status_code >= 500 and response.status_code != 503:
            seen.append(f"{response.status_code} {flask_request.method} {flask_request.path}")

    request_finished.connect(record)
    yield
    request_finished.disconnect(record)
    assert not seen, f"server errors answered: {seen}"


@pytest.fixture
def app(_app):
    """The app with empty tables and a cache namespace no other test has used."""
    _app.config["CACHE_KEY_PREFIX"] = f"muster-test-{os.getpid()}-{next(_prefixes)}"
    _app.config["MUSTER_CACHE"] = True
    with _app.app_context():
        empty_tables()
        yield _app
        db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def is_postgres() -> bool:
    return db.engine.dialect.name == "postgresql"


class QueryLog(list):
    """Statements run while the fixture is active (SQL text, with literals left as placeholders)."""

    @property
    def selects(self) -> list[str]:
        return [s for s in self if s.lstrip().upper().startswith("SELECT")]

    def matching(self, pattern: str) -> list[str]:
        return [s for s in self if re.search(pattern, s, re.I)]


@contextmanager
def statements_sent(engine, by_thread: Callable[[], bool],
                    note: Callable[..., Any] = lambda conn, statement, parameters, executemany: statement
                    ) -> Iterator[QueryLog]:
    """The statements sent on this engine from now on by the threads `by_thread()` accepts (asked on
    the sending thread); each logged as note(conn, statement, parameters, executemany) says (its SQL)."""
    log = QueryLog()

    def record(conn, cursor, statement, parameters, context, executemany):
        if by_thread():
            log.append(note(conn, statement, parameters, executemany))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield log
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def count_queries(app):
    """Context manager: `with count_queries() as log:` records each statement this thread sends to the
    database (background threads, such as the cache's maintenance, are not the request's)."""

    def counting() -> Iterator[QueryLog]:
        return statements_sent(db.engine, on_this_thread())

    return counting


def on_this_thread() -> Callable[[], bool]:
    """For statements_sent: the calling thread's statements (not a background thread's, such as the
    cache maintenance's poll of the outbox, once a second)."""
    thread = threading.get_ident()
    return lambda: threading.get_ident() == thread


def wsgi_layer(app, kind: type):
    """The app's WSGI layer of this kind (the fast paths wrap one another in front of Flask)."""
    layer = app.wsgi_app
    while not isinstance(layer, kind):
        layer = layer.next
    return layer


def count_handed_on(fast, monkeypatch) -> list[str]:
    """The paths of the requests this WSGI fast path (core/fastpath.py) hands on to Flask, from now on."""
    calls: list[str] = []
    handed_on = fast.next

    def counting(environ, start_response):
        calls.append(environ["PATH_INFO"])
        return handed_on(environ, start_response)

    monkeypatch.setattr(fast, "next", counting)
    return calls
