"""The role matrix: every page route x (signed out, cadet, training_staff, admin) -> expected status."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from flask import g

from blueprints.core.operations.merits import record_merit
from blueprints.core.operations.tokens import issue_token
from blueprints.core.reads.tokens import list_tokens
from tests.factories import login, make_cadet, make_training_day, make_user

A, S, C = "admin", "training_staff", "cadet"
ALL, STAFF, ADMIN = (A, S, C), (A, S), (A,)
MY_BLUEPRINTS = {"home", "cadets", "grades", "training", "merits", "admin", "account"}

# (method, path, roles allowed). POSTs run after GETs, destructive ones last.
MATRIX = [
    ("GET", "/", ALL),
    ("GET", "/me", (C,)),
    ("GET", "/account", ALL),
    ("GET", "/account/tokens", ALL),
    ("GET", "/notifications", ALL),
    ("GET", "/cadets/", STAFF),
    ("GET", "/cadets/export.csv", STAFF),
    ("GET", "/cadets/export.xlsx", STAFF),
    ("GET", "/cadets/import", ADMIN),
    ("GET", "/cadets/new", ADMIN),
    ("GET", "/cadets/{cadet}", STAFF),
    ("GET", "/cadets/{cadet}/edit", ADMIN),
    ("GET", "/grades/", STAFF),
    ("GET", "/grades/export.csv", STAFF),
    ("GET", "/merits/", STAFF),
    ("GET", "/training-days/", STAFF),
    ("GET", "/training-days/new", STAFF),
    ("GET", "/training-days/{day}", STAFF),
    ("GET", "/training-days/{day}/edit", STAFF),
    ("GET", "/training-days/{day}/sheet", STAFF),
    ("GET", "/training-days/{day}/sheet/sync", STAFF),
    ("GET", "/training-days/{day}/delete", ADMIN),
    ("GET", "/admin/users", ADMIN),
    ("GET", "/admin/users/new", ADMIN),
    ("GET", "/admin/users/{user}", ADMIN),
    ("GET", "/admin/settings", ADMIN),
    ("GET", "/admin/audit", ADMIN),
    ("POST", "/account/preferences", ALL),
    ("POST", "/account/password", ALL),
    ("POST", "/account/tokens", ALL),
    ("POST", "/account/tokens/{token}/revoke", ALL),
    ("POST", "/notifications/read", ALL),
    ("POST", "/me/excuse-letters", (C,)),
    ("POST", "/cadets/new", ADMIN),
    ("POST", "/cadets/{cadet}/edit", ADMIN),
    ("POST", "/cadets/{cadet}/grades", ADMIN),
    ("POST", "/cadets/{cadet}/merits", STAFF),
    ("POST", "/cadets/bulk", ADMIN),
    ("POST", "/cadets/import", ADMIN),
    ("POST", "/cadets/import/review", ADMIN),
    ("POST", "/training-days/new", STAFF),
    ("POST", "/training-days/{day}/edit", STAFF),
    ("POST", "/training-days/{day}/sheet", STAFF),
    ("POST", "/training-days/{day}/sheet/quick", STAFF),
    ("POST", "/training-days/{day}/sheet/sync", STAFF),
    ("POST", "/admin/users/new", ADMIN),
    ("POST", "/admin/users/{user}", ADMIN),
    ("POST", "/admin/users/{user}/password", ADMIN),
    ("POST", "/admin/settings", ADMIN),
    ("POST", "/merits/{log}/delete", ADMIN),
    ("POST", "/training-days/{day}/delete", ADMIN),
]


def _expected(method: str, path: str, allowed: tuple[str, ...], role: str | None) -> str:
    if role is None:
        return "login"
    if role not in allowed:
        return "403"
    if method == "GET":
        return "302" if (path, role) == ("/", C) else "200"
    return "handled"  # any answer but 403/login/5xx: the view ran (422 for an empty form, 303 after a save)


def _outcome(response) -> str:
    if response.status_code == 302 and response.headers["Location"].startswith("/login?next="):
        return "login"
    if response.status_code == 401 and response.is_json:  # a page's JSON endpoint: "sign in again"
        return "login"
    if response.status_code in (200, 302, 403):
        return str(response.status_code)
    return "handled" if response.status_code < 500 else str(response.status_code)


@pytest.mark.parametrize("role", [None, C, S, A])
def test_role_matrix(client, role):
    other = make_user(S)
    cadet = make_cadet()
    log = record_merit(other, {"cadet_id": cadet, "type": "merit", "points": 1, "reason": "r"})
    ids = {"cadet": cadet, "day": make_training_day(), "user": other.id, "log": log}
    if role is not None:
        g.pop("_login_user", None)
        user = make_user(role)
        login(client, user)
        issue_token(user, "t")
        ids["token"] = list_tokens(user.id)[0]["id"]
    else:
        ids["token"] = 1
    wrong = []
    for method, path, allowed in MATRIX:
        url = path.format(**ids)
        response = client.open(url, method=method, data={})
        expected, got = _expected(method, path, allowed, role), _outcome(response)
        if got != expected:
            wrong.append(f"{method} {url}: expected {expected}, got {response.status_code}")
    assert wrong == []


def test_matrix_covers_every_page_route(app):
    covered = {(m, p.replace("{cadet}", "<id:cadet_id>").replace("{day}", "<id:day_id>")
                .replace("{user}", "<id:user_id>").replace("{log}", "<id:log_id>")
                .replace("{token}", "<id:token_id>")) for m, p, _ in MATRIX}
    missing = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] not in MY_BLUEPRINTS:
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if (method, rule.rule) not in covered:
                missing.append(f"{method} {rule.rule}")
            view = app.view_functions[rule.endpoint]
            assert hasattr(view, "allowed_roles"), f"{rule.endpoint} is not decorated with page_route"
    assert missing == []


def test_signed_out_user_goes_to_login_and_back(client):
    user = make_user(S)
    target = "/cadets/?company=Alpha&sort=-name"
    first = client.get(target)
    assert first.status_code == 302
    assert first.headers["Location"] == "/login?next=" + quote(target, safe="")
    back = client.post(first.headers["Location"], data={"username": user.username,
                                                       "password": "correct-horse-battery"})
    assert back.status_code == 302 and back.headers["Location"] == target
    evil = client.post("/login?next=//evil.example/", data={"username": user.username,
                                                           "password": "correct-horse-battery"})
    assert evil.headers["Location"] == "/"


def test_forbidden_page_is_a_friendly_403(client):
    g.pop("_login_user", None)
    login(client, make_user(S))
    response = client.get("/admin/users")
    assert response.status_code == 403 and "You do not have permission" in response.text
    assert "Back to Muster" in response.text
