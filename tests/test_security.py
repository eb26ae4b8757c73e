"""Authorization matrix over the whole URL map, a cadet's isolation, CSRF, cookies, headers, secrets."""

from __future__ import annotations

import logging

import pytest
from flask import url_for
from sqlalchemy import select

from app import create_app
from blueprints.core.operations.attendance import bulk_attendance
from blueprints.core.operations.merits import record_merit
from blueprints.core.operations.tokens import issue_token
from config import load_config
from models import ApiToken, AttendanceRecord, AuditLog, db
from tests.factories import PASSWORD, make_cadet, make_training_day, make_user

A, S, C = "admin", "training_staff", "cadet"
PUBLIC, ALL, STAFF, ADMIN, CADET = None, (A, S, C), (A, S), (A,), (C,)

# Every (endpoint, method) the app serves, with who may use it. A route missing here fails the test.
POLICY: dict[tuple[str, str], tuple[str, ...] | None] = {
    ("static", "GET"): PUBLIC, ("auth.login", "GET"): PUBLIC, ("auth.login", "POST"): PUBLIC,
    ("auth.logout", "POST"): PUBLIC, ("api.token_issue", "POST"): PUBLIC, ("api.openapi_json", "GET"): PUBLIC,
    ("api.api_docs", "GET"): PUBLIC,
    ("api.health_check", "GET"): PUBLIC, ("offline.worker", "GET"): PUBLIC,
    ("home.index", "GET"): ALL, ("account.profile", "GET"): ALL, ("account.password", "POST"): ALL,
    ("account.preferences", "POST"): ALL, ("account.tokens", "GET"): ALL, ("account.tokens", "POST"): ALL,
    ("account.token_revoke", "POST"): ALL, ("account.me", "GET"): CADET,
    ("api.me", "GET"): ALL, ("api.token_revoke", "DELETE"): ALL,
    ("cadets.index", "GET"): STAFF, ("cadets.show", "GET"): STAFF, ("cadets.export", "GET"): STAFF,
    ("cadets.add_merit", "POST"): STAFF, ("cadets.new", "GET"): ADMIN, ("cadets.new", "POST"): ADMIN,
    ("cadets.edit", "GET"): ADMIN, ("cadets.edit", "POST"): ADMIN, ("cadets.save_grades", "POST"): ADMIN,
    ("cadets.bulk", "POST"): ADMIN, ("cadets.export_xlsx", "GET"): STAFF,
    ("cadets.roster.upload_form", "GET"): ADMIN, ("cadets.roster.upload", "POST"): ADMIN,
    ("cadets.roster.review", "POST"): ADMIN,
    ("grades.index", "GET"): STAFF, ("grades.export", "GET"): STAFF,
    ("merits.index", "GET"): STAFF, ("merits.delete", "POST"): ADMIN,
    ("training.index", "GET"): STAFF, ("training.show", "GET"): STAFF, ("training.new", "GET"): STAFF,
    ("training.new", "POST"): STAFF, ("training.edit", "GET"): STAFF, ("training.edit", "POST"): STAFF,
    ("training.sheet", "GET"): STAFF, ("training.sheet", "POST"): STAFF, ("training.quick_entry", "POST"): STAFF,
    ("training.sync", "GET"): STAFF, ("training.sync", "POST"): STAFF,
    ("training.delete", "GET"): ADMIN, ("training.delete", "POST"): ADMIN,
    ("admin.users", "GET"): ADMIN, ("admin.user_new", "GET"): ADMIN, ("admin.user_new", "POST"): ADMIN,
    ("admin.user_edit", "GET"): ADMIN, ("admin.user_edit", "POST"): ADMIN, ("admin.user_password", "POST"): ADMIN,
    ("admin.settings", "GET"): ADMIN, ("admin.settings", "POST"): ADMIN, ("admin.audit", "GET"): ADMIN,
    ("dashboard.index", "GET"): ADMIN, ("dashboard.explain", "GET"): ADMIN, ("dashboard.reset", "POST"): ADMIN,
    ("dashboard.prometheus", "GET"): ADMIN,
    ("api.cache_stats", "GET"): ADMIN, ("api.metrics", "GET"): ADMIN,
    ("api.database_metrics", "GET"): ADMIN, ("api.slow_queries", "GET"): ADMIN,
    ("api.reset_slow_queries", "POST"): ADMIN,
    ("api.cadets_list", "GET"): STAFF, ("api.cadets_get", "GET"): STAFF, ("api.cadets_create", "POST"): ADMIN,
    ("api.cadets_update", "PATCH"): ADMIN, ("api.cadets_archive", "DELETE"): ADMIN,
    ("api.cadets_restore", "POST"): ADMIN, ("api.cadets_bulk_archive", "POST"): ADMIN,
    ("api.cadets_bulk_restore", "POST"): ADMIN, ("api.cadets_import", "POST"): ADMIN,
    ("api.grades_list", "GET"): STAFF, ("api.grades_get", "GET"): STAFF, ("api.grades_update", "PATCH"): ADMIN,
    ("api.grades_bulk_update", "POST"): ADMIN,
    ("api.merits_list", "GET"): STAFF, ("api.merits_create", "POST"): STAFF, ("api.merits_delete", "DELETE"): ADMIN,
    ("api.training_days_list", "GET"): STAFF, ("api.training_days_get", "GET"): STAFF,
    ("api.training_days_create", "POST"): STAFF, ("api.training_days_update", "PATCH"): STAFF,
    ("api.training_days_delete", "DELETE"): ADMIN,
    ("api.attendance_list", "GET"): STAFF, ("api.attendance_update", "PATCH"): STAFF,
    ("api.attendance_bulk", "POST"): STAFF,
    ("api.audit_logs_list", "GET"): ADMIN, ("api.settings_get", "GET"): ADMIN, ("api.settings_update", "PUT"): ADMIN,
    # QR check-in: cadets scan; staff show, rotate and set the cut-off; the API takes any role (a cadet: only
    # themselves, tests/test_checkin.py). Printing: a cadet may print only their own record (tests/test_print.py).
    ("checkin.scan", "GET"): CADET, ("checkin.confirm", "POST"): CADET, ("checkin.qr", "GET"): STAFF,
    ("checkin.rotate", "POST"): STAFF, ("checkin.cutoff", "POST"): STAFF, ("api.attendance_check_in", "POST"): ALL,
    ("printing.grades", "GET"): STAFF, ("printing.cadet", "GET"): STAFF,
    # Excuse letters: a cadet sends and sees only their own (404 for others', tests/test_excuses.py); staff
    # review and decide. Notifications: everyone's own.
    ("account.excuse_submit", "POST"): CADET, ("account.notifications", "GET"): ALL,
    ("account.notifications_read", "POST"): ALL,
    ("excuses.index", "GET"): STAFF, ("excuses.show", "GET"): ALL, ("excuses.file", "GET"): ALL,
    ("excuses.decide", "POST"): STAFF,
    ("api.excuses_list", "GET"): ALL, ("api.excuses_create", "POST"): ALL, ("api.excuses_get", "GET"): ALL,
    ("api.excuses_file", "GET"): ALL, ("api.excuses_approve", "POST"): STAFF, ("api.excuses_reject", "POST"): STAFF,
    ("api.notifications_list", "GET"): ALL, ("api.notifications_read", "POST"): ALL,
}
TEST_ONLY_BLUEPRINTS = ("authprobe", "perftest", "nplusone")
JSON_PAGE_ENDPOINTS = ("training.sync",)  # called by a page's script: 401 JSON when signed out, not a redirect
DESTRUCTIVE_LAST = ("delete", "revoke", "archive", "logout", "reset")


def _served(app) -> list[tuple[str, str, object]]:
    served = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] in TEST_ONLY_BLUEPRINTS or rule.endpoint.startswith("_"):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            served.append((rule.endpoint, method, rule))
    return sorted(served, key=lambda x: (any(w in x[0] for w in DESTRUCTIVE_LAST), x[0], x[1]))


def test_every_route_has_a_declared_policy(app):
    missing = [(e, m) for e, m, _ in _served(app) if (e, m) not in POLICY]
    assert not missing, f"add these routes to POLICY with the roles that may use them: {missing}"
    stale = set(POLICY) - {(e, m) for e, m, _ in _served(app)}
    assert not stale, f"POLICY names routes the app no longer serves: {stale}"


@pytest.fixture
def world(app):
    admin = make_user(A)
    cadet_user = make_user(C)
    staff = make_user(S)
    cadet = make_cadet(admin)
    day = make_training_day(admin)
    bulk_attendance(admin, {"training_day_id": day, "cadet_ids": [cadet], "status": "present"})
    log = record_merit(admin, {"cadet_id": cadet, "type": "merit", "points": 1, "reason": "x"})
    record = db.session.scalar(select(AttendanceRecord.id))
    users = {A: admin, S: staff, C: cadet_user}
    tokens = {role: issue_token(user) for role, user in users.items()}
    spare = {role: issue_token(user) for role, user in users.items()}
    for user in users.values():
        issue_token(user, "revoked-by-the-page-route")
    token_ids = {role: db.session.scalar(select(ApiToken.id).where(ApiToken.user_id == u.id,
                                                                   ApiToken.name == "revoked-by-the-page-route"))
                 for role, u in users.items()}
    values = {"cadet_id": cadet, "day_id": day, "user_id": staff.id, "log_id": log, "record_id": record,
              "stmt_id": "0", "filename": "css/muster.css", "letter_id": 999999, "decision": "approve"}
    return users, tokens, spare, token_ids, values


def _path(app, endpoint: str, rule, values: dict, role: str | None, token_ids: dict) -> str:
    args = {name: values[name] for name in rule.arguments if name in values}
    if "token_id" in rule.arguments:
        args["token_id"] = token_ids.get(role or A)
    with app.test_request_context():
        return url_for(endpoint, **args)


def _client_for(app, role, users):
    client = app.test_client()
    if role is not None:
        client.post("/login", data={"username": users[role].username, "password": PASSWORD})
    return client


def test_authorization_matrix_every_route_every_role(app, world):
    users, tokens, spare, token_ids, values = world
    failures = []
    for role in (None, C, S, A):
        client = _client_for(app, role, users)
        for endpoint, method, rule in _served(app):
            allowed = POLICY[(endpoint, method)]
            path = _path(app, endpoint, rule, values, role, token_ids)
            is_api = path.startswith("/api/") or path == "/metrics" or endpoint in JSON_PAGE_ENDPOINTS
            headers = {}
            if is_api and role is not None:
                # the token DELETE revokes the token it is sent with: use a spare one
                headers["Authorization"] = f"Bearer {(spare if endpoint == 'api.token_revoke' else tokens)[role]}"
            body = {} if is_api and method != "GET" else None
            response = client.open(path, method=method, headers=headers, json=body)
            status = response.status_code
            if allowed is None:
                ok = status != 403 and status < 500  # e.g. 401 for a sign-in with no credentials
            elif role is None:
                ok = status == 401 if is_api else (status == 302 and "/login" in response.headers["Location"])
            elif role not in allowed:
                ok = status == 403
            else:
                ok = status not in (401, 403) and status < 500
            if not ok:
                failures.append((role, method, path, status))
            if endpoint == "auth.logout" and role is not None:
                client = _client_for(app, role, users)
    assert not failures, failures


def test_a_cadet_reads_only_their_own_record(app, world):
    users, tokens, *_ = world
    other = make_cadet(users[A], first_name="Someone", last_name="Else")
    me = app.test_client().get("/api/me", headers={"Authorization": f"Bearer {tokens[C]}"})
    assert me.status_code == 200
    assert me.json["data"]["cadet"]["id"] == users[C].cadet_id
    assert "Someone" not in me.get_data(as_text=True)
    client = _client_for(app, C, users)
    assert client.get(f"/cadets/{other}").status_code == 403
    assert client.get(f"/cadets/{users[C].cadet_id}").status_code == 403  # their record lives at /me
    assert client.get("/me").status_code == 200
    for path in ("/api/cadets", f"/api/cadets/{other}", f"/api/grades/{other}", "/api/grades",
                 f"/api/attendance?cadet_id={other}", "/api/merit-demerits", "/cadets/export.csv"):
        r = client.get(path, headers={"Authorization": f"Bearer {tokens[C]}"})
        assert r.status_code == 403, path


def test_csrf_is_required_on_every_form(app, world):
    users, *_ = world
    strict = create_app({"MUSTER_ENV": "testing", "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                         "CACHE_KEY_PREFIX": app.config["CACHE_KEY_PREFIX"], "WTF_CSRF_ENABLED": True,
                         "SECRET_KEY": "csrf-test-secret-key-xxxxx"})
    client = strict.test_client()
    assert client.post("/login", data={"username": users[A].username, "password": PASSWORD}).status_code == 400
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    assert client.post("/login", data={"username": users[A].username, "password": PASSWORD,
                                       "csrf_token": token}).status_code == 302
    for path in ("/account/preferences", "/cadets/new", "/admin/settings", "/logout"):
        assert client.post(path, data={}).status_code == 400, path


def test_cookies_and_security_headers(app, world):
    users, *_ = world
    client = app.test_client()
    response = client.post("/login", data={"username": users[A].username, "password": PASSWORD})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = client.get("/cadets/")
    csp = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp and "script-src 'self'" in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert "<script>" not in page.get_data(as_text=True) and " style=" not in page.get_data(as_text=True)
    assert load_config({"MUSTER_ENV": "production", "SECRET_KEY": "p" * 32})["SESSION_COOKIE_SECURE"] is True


def test_tokens_and_passwords_never_reach_logs_audit_or_errors(app, world, caplog):
    users, tokens, *_ = world
    caplog.set_level(logging.DEBUG)
    client = app.test_client()
    issued = client.post("/api/auth/token", json={"username": users[S].username, "password": PASSWORD})
    new_token = issued.json["data"]["token"]
    wrong = client.post("/api/auth/token", json={"username": users[S].username, "password": "guess-" + PASSWORD})
    assert wrong.status_code == 401 and PASSWORD not in wrong.get_data(as_text=True)
    bad = client.get("/api/cadets", headers={"Authorization": f"Bearer {new_token}x"})
    assert bad.status_code == 401 and new_token not in bad.get_data(as_text=True)
    secrets = [PASSWORD, new_token, *tokens.values()]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    audited = " ".join(str(a.payload) for a in db.session.scalars(select(AuditLog)))
    for secret in secrets:
        assert secret not in logged and secret not in audited


@pytest.mark.parametrize(("path", "as_json"), [("/login", False), ("/api/auth/token", True)])
def test_sign_in_is_throttled_per_address_and_account(app, path, as_json):
    """Rapid guessing is slowed (429) before the 5-failure lockout; other accounts are unaffected."""
    app.config["SIGNIN_LIMIT_PER_ACCOUNT"] = "3 per minute"
    try:
        victim, bystander = make_user(S), make_user(S)
        client = app.test_client()

        def attempt(user, password):
            data = {"username": user.username, "password": password}
            return client.post(path, json=data) if as_json else client.post(path, data=data)

        statuses = [attempt(victim, "wrong-password").status_code for _ in range(4)]
        assert statuses == [401, 401, 401, 429]
        assert attempt(bystander, PASSWORD).status_code in (200, 201, 302)
    finally:
        app.config["SIGNIN_LIMIT_PER_ACCOUNT"] = "10 per minute"


@pytest.mark.parametrize(("path", "as_json"), [("/login", False), ("/api/auth/token", True)])
def test_every_spelling_of_a_name_counts_against_one_account_throttle(app, path, as_json):
    """Leading spaces, case or full-width letters do not buy an attacker a fresh per-account budget."""
    app.config["SIGNIN_LIMIT_PER_ACCOUNT"] = "3 per minute"
    try:
        name = make_user(S).username
        full_width = "".join(chr(ord(c) + 0xFEE0) for c in name)
        client = app.test_client()
        statuses = []
        for spelling in (name, " " + name, name.upper() + " ", full_width):
            data = {"username": spelling, "password": "wrong-password"}
            statuses.append((client.post(path, json=data) if as_json else client.post(path, data=data)).status_code)
        assert statuses == [401, 401, 401, 429]
    finally:
        app.config["SIGNIN_LIMIT_PER_ACCOUNT"] = "10 per minute"
