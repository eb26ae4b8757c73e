"""The side-car recorder, the monitoring endpoints and the admin performance page, end to end.

Routes that misbehave on purpose (an N+1 loop, pg_sleep, personal literals) live on a test-only
blueprint registered on fresh apps built here, next to the session app and sharing its database.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from flask import Blueprint
from sqlalchemy import select, text

from app import create_app
from blueprints.core.perf import recorder
from blueprints.core.perf.buffer import flush_all
from blueprints.core.perf.store import MemoryStore
from models import AuditLog, Cadet, db
from tests.conftest import is_postgres
from tests.factories import login, make_cadets, make_token, make_user

probe = Blueprint("perf_probe", __name__, url_prefix="/perf-probe")
_apps = itertools.count()


@probe.get("/n-plus-one")
def n_plus_one():
    ids = db.session.scalars(select(Cadet.id).order_by(Cadet.id)).all()
    return {"names": [db.session.get(Cadet, cadet_id).last_name for cadet_id in ids]}  # the N+1 loop


@probe.get("/fixed")
def fixed():
    return {"names": db.session.scalars(select(Cadet.last_name).order_by(Cadet.id)).all()}


@probe.get("/slow")
def slow():
    db.session.execute(text("SELECT pg_sleep(0.15)"))
    return {"ok": True}


@probe.get("/personal")
def personal():
    db.session.execute(text("SELECT id FROM cadets WHERE student_id = '2026-77777'"))
    for _ in range(5):
        db.session.execute(text("SELECT id FROM cadets WHERE student_id = :sid"), {"sid": "2026-88888"})
        db.session.execute(text("UPDATE cadets SET company = company WHERE student_id = :sid"), {"sid": "2026-99999"})
    db.session.rollback()
    return {"ok": True}


def _line_of(marker: str) -> int:
    lines = Path(__file__).read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if marker in line and "_line_of" not in line)


N_PLUS_ONE_SITE = f"tests/test_perf_monitoring.py:{_line_of('# the N+1 loop')}"
SLOW_SITE = f"tests/test_perf_monitoring.py:{_line_of('pg_sleep(0.15)')}"
JSON_ENDPOINTS = [("GET", "/api/system/slow-queries"), ("POST", "/api/system/slow-queries/reset"),
                  ("GET", "/api/cache/stats"), ("GET", "/api/metrics/database"), ("GET", "/api/metrics"),
                  ("GET", "/metrics")]


@pytest.fixture
def make_app(app):
    """Build extra apps on the session app's database, with the probe routes."""
    built = []

    def build(prefix: str | None = None, **overrides):
        config = {
            "MUSTER_ENV": "testing", "TESTING": True, "WTF_CSRF_ENABLED": False,
            "SECRET_KEY": app.config["SECRET_KEY"], "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "REDIS_URL": app.config["REDIS_URL"],
            "CACHE_KEY_PREFIX": prefix or f"{app.config['CACHE_KEY_PREFIX']}-perf{next(_apps)}", **overrides,
        }
        new = create_app(config)
        new.register_blueprint(probe)
        built.append(new)
        return new

    yield build
    for new in built:
        buffer = new.extensions.get("muster_perf")
        if buffer is not None:
            buffer.stop()
            try:
                buffer.store.reset(new.config["CACHE_KEY_PREFIX"] + ":perf:")
            except Exception:  # the Redis-down app: nothing to clean
                pass
        with new.app_context():
            for engine in db.engines.values():
                engine.dispose()


@pytest.fixture
def people(app):
    admin = make_user("admin")
    staff = make_user("training_staff")
    make_cadets(6)
    return {"admin": admin, "staff": staff, "admin_auth": {"Authorization": f"Bearer {make_token(admin)}"},
            "staff_auth": {"Authorization": f"Bearer {make_token(staff)}"}}


def _findings(client, auth) -> dict:
    response = client.get("/api/system/slow-queries", headers=auth)
    assert response.status_code == 200
    return response.get_json()["data"]


def _endpoint_row(client, auth, endpoint: str, window: str = "5m") -> dict | None:
    data = client.get(f"/api/metrics?window={window}", headers=auth).get_json()["data"]
    return next((row for row in data["endpoints"] if row["endpoint"] == endpoint), None)


def _stored_text(new_app) -> str:
    """Everything the statistics store holds for this app, as text."""
    flush_all()
    buffer = new_app.extensions["muster_perf"]
    prefix = new_app.config["CACHE_KEY_PREFIX"] + ":perf:"
    if isinstance(buffer.store, MemoryStore):
        data = MemoryStore._data.get(prefix)
        return repr(vars(data)) if data else ""
    client, out = buffer.store.client, []
    for key in client.scan_iter(match=prefix + "*"):
        kind = client.type(key).decode()
        value = {"hash": client.hgetall, "zset": lambda k: client.zrange(k, 0, -1)}.get(kind, client.get)(key)
        out.append(f"{key!r} {value!r}")
    return "\n".join(out)


def test_server_timing_header_on_every_response(make_app, people):
    client = make_app().test_client()
    header = client.get("/perf-probe/fixed").headers["Server-Timing"]
    match = re.fullmatch(r'db;dur=[\d.]+;desc="(\d+) queries", cache;desc=(hit|miss|error|none), app;dur=[\d.]+',
                         header)
    assert match and int(match.group(1)) >= 1
    assert "app;dur=" in client.get("/no-such-page").headers["Server-Timing"]


def test_n_plus_one_is_detected_with_its_call_site_and_the_fixed_route_is_not(make_app, people):
    client = make_app().test_client()
    assert len(client.get("/perf-probe/n-plus-one").get_json()["names"]) == 6
    client.get("/perf-probe/fixed")
    found = _findings(client, people["admin_auth"])["n_plus_one"]
    assert [f["endpoint"] for f in found] == ["GET perf_probe.n_plus_one"]
    detection = found[0]
    assert detection["count"] == 6 and detection["site"] == N_PLUS_ONE_SITE
    assert re.search(r"FROM cadets WHERE cadets\.id = \?(::INTEGER)?$", detection["sql"])
    assert "in_(ids)" in detection["recommendation"] and detection["total_ms"] > 0
    assert _endpoint_row(client, people["admin_auth"], "GET perf_probe.n_plus_one")["avg_queries"] >= 7
    assert _endpoint_row(client, people["admin_auth"], "GET perf_probe.fixed")["avg_queries"] == 1
    login(client, people["admin"])
    page = client.get("/admin/performance").get_data(as_text=True)
    assert N_PLUS_ONE_SITE in page and "ran this <strong>6 times</strong>" in page


def test_slow_statement_is_captured_with_its_time(make_app, people):
    if not is_postgres():
        pytest.skip("pg_sleep needs PostgreSQL")
    client = make_app().test_client()
    assert client.get("/perf-probe/slow").status_code == 200
    data = _findings(client, people["admin_auth"])
    slow = [f for f in data["slow_queries"] if f["sql"] == "SELECT pg_sleep(?)"]
    assert len(slow) == 1 and slow[0]["ms"] >= 150 and slow[0]["site"] == SLOW_SITE
    assert slow[0]["endpoint"] == "GET perf_probe.slow"
    sample = next(s for s in data["slowest_requests"] if s["endpoint"] == "GET perf_probe.slow")
    assert sample["ms"] >= 150 and sample["statements"][0]["sql"] == "SELECT pg_sleep(?)"


def test_parameter_values_and_literals_never_reach_the_store(make_app, people):
    new = make_app()
    client = new.test_client()
    assert client.get("/perf-probe/personal").status_code == 200
    stored = _stored_text(new)
    assert "SELECT id FROM cadets WHERE student_id = ?" in stored
    for secret in ("2026-77777", "2026-88888", "2026-99999"):
        assert secret not in stored


def test_two_app_instances_sharing_redis_show_combined_figures(make_app, people):
    if not os.environ.get("REDIS_URL"):
        pytest.skip("needs REDIS_URL")
    prefix = f"muster-test-{os.getpid()}-shared-{next(_apps)}"
    first, second = make_app(prefix), make_app(prefix)
    assert first.extensions["muster_perf"] is not second.extensions["muster_perf"]
    for client, times in ((first.test_client(), 3), (second.test_client(), 2)):
        for _ in range(times):
            assert client.get("/perf-probe/fixed").status_code == 200
    for new in (first, second):
        client = new.test_client()
        assert _endpoint_row(client, people["admin_auth"], "GET perf_probe.fixed")["requests"] == 5
    client = second.test_client()
    login(client, people["admin"])
    page = client.get("/admin/performance?window=5m").get_data(as_text=True)
    assert re.search(r"<code>GET perf_probe\.fixed</code></td>\s*<td class=\"num\">5</td>", page)
    assert "combined from every Muster process" in page


def test_requests_succeed_and_the_page_says_so_when_redis_is_down(make_app, people):
    down = make_app(REDIS_URL="redis://127.0.0.1:6390", REDIS_SOCKET_TIMEOUT=0.2)
    client = down.test_client()
    assert client.get("/perf-probe/fixed").status_code == 200
    assert client.get("/perf-probe/n-plus-one").status_code == 200
    assert "app;dur=" in client.get("/perf-probe/fixed").headers["Server-Timing"]
    health = client.get("/api/health")
    assert health.status_code == 200 and health.get_json()["status"] == "degraded"
    login(client, people["admin"])
    response = client.get("/admin/performance")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "The statistics store (Redis) is unavailable" in page and "Redis unreachable." in page
    assert client.get("/api/metrics", headers=people["admin_auth"]).status_code == 200


def _resets() -> int:
    return len(db.session.scalars(select(AuditLog).where(AuditLog.table_name == "performance_stats")).all())


def test_staff_get_403_on_the_page_and_every_endpoint(make_app, people):
    client = make_app().test_client()
    for method, path in JSON_ENDPOINTS:
        assert client.open(path, method=method).status_code == 401
        assert client.open(path, method=method, headers=people["staff_auth"]).status_code == 403, path
        assert client.open(path, method=method, headers=people["admin_auth"]).status_code == 200, path
    assert client.get("/admin/performance").status_code == 302  # to the sign-in page
    login(client, people["staff"])
    assert client.get("/admin/performance").status_code == 403
    assert client.get("/admin/performance/explain/0123456789abcdef").status_code == 403
    assert client.post("/admin/performance/reset").status_code == 403
    assert _resets() == 1  # the admin's API reset above; none from staff


def test_health_is_public_and_503_when_the_database_is_down(make_app, people):
    response = make_app().test_client().get("/api/health")
    assert response.status_code == 200 and response.get_json()["status"] in ("healthy", "degraded")
    assert response.get_json()["database"] == "ok"
    dead = make_app(SQLALCHEMY_DATABASE_URI="postgresql+psycopg://postgres@127.0.0.1:1/none", DB_CONNECT_TIMEOUT=1)
    response = dead.test_client().get("/api/health")
    assert response.status_code == 503 and response.get_json()["status"] == "unhealthy"


def test_page_explains_itself_with_server_drawn_charts(make_app, people):
    client = make_app().test_client()
    client.get("/perf-probe/fixed")
    login(client, people["admin"])
    response = client.get("/admin/performance?window=5m&sort=requests&direction=asc")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for heading in ("Endpoints", "Over time", "Slowest requests", "N+1 patterns", "Slow statements",
                    "Top statements in PostgreSQL", "Cache", "Database and server", "Largest tables", "Reset"):
        assert f"<h2>{heading}" in page or f"<h3>{heading}" in page, heading
    assert page.count('class="help"') >= 8
    assert "<svg" in page and "<polyline" in page or "<circle" in page
    assert " style=" not in page and not re.search(r"<script(?![^>]*\bsrc=)", page)
    assert "css/dashboard.css" in page and 'name="csrf_token"' in page
    assert ("pg_stat_statements is not enabled" in page or "Calls</th>" in page) if is_postgres() \
        else "pg_stat_statements is a PostgreSQL extension" in page
    assert client.get("/admin/performance?window=forever&sort=1;drop").status_code == 200


def test_explain_shows_a_generic_plan_for_captured_selects_only(make_app, people):
    client = make_app().test_client()
    client.get("/perf-probe/n-plus-one")
    client.get("/perf-probe/personal")
    found = _findings(client, people["admin_auth"])["n_plus_one"]
    select_id = next(f["id"] for f in found if f["endpoint"] == "GET perf_probe.n_plus_one")
    update_id = next(f["id"] for f in found if f["sql"].startswith("UPDATE cadets"))
    login(client, people["admin"])
    response = client.get(f"/admin/performance/explain/{select_id}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    if is_postgres():
        assert re.search(r"(Index|Seq) Scan.* on cadets", page) and "cost=" in page
    else:
        assert "PostgreSQL only" in page
    assert client.get(f"/admin/performance/explain/{update_id}").status_code == 422
    assert client.get("/admin/performance/explain/0123456789abcdef").status_code == 404
    assert client.get("/admin/performance/explain/not-an-id").status_code == 404


def test_reset_is_audited_and_clears_the_statistics(make_app, people):
    client = make_app().test_client()
    client.get("/perf-probe/n-plus-one")
    login(client, people["admin"])
    assert client.post("/admin/performance/reset").status_code == 302
    audit = db.session.scalar(select(AuditLog).where(AuditLog.table_name == "performance_stats"))
    assert audit is not None and audit.user_id == people["admin"].id and audit.operation == "DELETE"
    assert _findings(client, people["admin_auth"])["n_plus_one"] == []
    assert _endpoint_row(client, people["admin_auth"], "GET perf_probe.n_plus_one") is None
    client.get("/perf-probe/n-plus-one")
    response = client.post("/api/system/slow-queries/reset", headers=people["admin_auth"])
    assert response.status_code == 200 and response.get_json()["data"]["store_cleared"] is True
    assert _findings(client, people["admin_auth"])["n_plus_one"] == []


def _prometheus_body(client, auth) -> str:
    response = client.get("/metrics", headers=auth)
    assert response.status_code == 200 and response.mimetype == "text/plain"
    return response.get_data(as_text=True)


def test_prometheus_text_has_the_same_figures(make_app, people):
    client = make_app().test_client()
    client.get("/perf-probe/fixed")
    client.get("/perf-probe/fixed")
    body = _prometheus_body(client, people["admin_auth"])
    assert "# TYPE muster_http_requests_total counter" in body
    assert 'muster_http_requests_total{endpoint="GET perf_probe.fixed"} 2' in body
    # Latency is a histogram in seconds: cumulative buckets up to +Inf, then _sum and _count.
    assert "# TYPE muster_http_request_duration_seconds histogram" in body
    label = 'endpoint="GET perf_probe.fixed"'
    buckets = re.findall(rf'muster_http_request_duration_seconds_bucket{{{label},le="([^"]+)"}} (\d+)', body)
    assert [le for le, _ in buckets][:2] == ["0.001", "0.002"] and buckets[-1] == ("+Inf", "2")
    counts = [int(n) for _, n in buckets]
    assert counts == sorted(counts)
    assert f"muster_http_request_duration_seconds_count{{{label}}} 2" in body
    assert re.search(rf"muster_http_request_duration_seconds_sum{{{label}}} 0\.\d+", body)
    assert "_ms" not in body and "quantile" not in body
    assert "muster_stats_store_up 1" in body and "# TYPE muster_db_pool_size gauge" in body


def test_prometheus_counters_count_from_the_reset_not_over_a_window(make_app, people, monkeypatch):
    client = make_app().test_client()
    counter = 'muster_http_requests_total{endpoint="GET perf_probe.fixed"} '
    # A request two hours ago has left every dashboard window; a counter must still include it.
    monkeypatch.setattr(recorder, "time", SimpleNamespace(time=lambda: time.time() - 7200,
                                                          perf_counter=time.perf_counter))
    client.get("/perf-probe/fixed")
    monkeypatch.undo()
    client.get("/perf-probe/fixed")
    assert counter + "2" in _prometheus_body(client, people["admin_auth"])
    client.post("/api/system/slow-queries/reset", headers=people["admin_auth"])
    assert counter not in _prometheus_body(client, people["admin_auth"])


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian package prometheus) not installed")
def test_metrics_pass_promtool_check(make_app, people):
    client = make_app().test_client()
    for path in ("/perf-probe/fixed", "/perf-probe/n-plus-one", "/perf-probe/missing"):
        client.get(path)
    client.get("/api/cadets", headers=people["admin_auth"])
    body = _prometheus_body(client, people["admin_auth"])
    checked = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, text=True,
                             timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_monitoring_can_be_switched_off(make_app, people):
    off = make_app(MUSTER_MONITORING="off")
    client = off.test_client()
    response = client.get("/perf-probe/fixed")
    assert response.status_code == 200 and "Server-Timing" not in response.headers
    login(client, people["admin"])
    assert "Monitoring is switched off" in client.get("/admin/performance").get_data(as_text=True)
