"""Sign-in for pages, Bearer tokens for scripts, inactive users, lockout, roles on the server."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from blueprints.core.auth import authenticate, issue_token, revoke_token, user_for_token
from blueprints.core.errors import RateLimited, Unauthorized
from blueprints.core.operations.users import update_user
from models import ApiToken, AuditLog, db
from tests.factories import PASSWORD, login, make_user


def test_login_and_logout(client):
    user = make_user("training_staff")
    assert client.get("/").status_code == 302
    response = login(client, user)
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert client.post("/logout").status_code == 302
    assert client.get("/").headers["Location"].startswith("/login")


def test_wrong_password_is_refused_without_saying_which_part(client):
    user = make_user("training_staff")
    response = login(client, user, "not-the-password")
    assert response.status_code == 401
    assert b"Wrong username or password" in response.data
    assert client.get("/").status_code == 302


def test_login_redirects_only_to_same_site_paths(client):
    user = make_user("training_staff")
    r = client.post("/login?next=https://evil.example/x", data={"username": user.username, "password": PASSWORD})
    assert r.headers["Location"] == "/"
    client.post("/logout")
    r = client.post("/login?next=/some/page", data={"username": user.username, "password": PASSWORD})
    assert r.headers["Location"] == "/some/page"


def test_inactive_user_cannot_sign_in_or_use_a_token(client, app):
    admin = make_user("admin")
    user = make_user("training_staff")
    token = issue_token(user)
    update_user(admin, user.id, {"is_active": False})
    assert login(client, user).status_code == 401
    assert user_for_token(token) is None


def test_an_existing_session_ends_when_the_user_is_deactivated(client):
    admin = make_user("admin")
    user = make_user("training_staff")
    login(client, user)
    assert client.get("/").status_code == 200
    update_user(admin, user.id, {"is_active": False})
    assert client.get("/").status_code == 302


def test_five_failures_lock_the_account(app):
    user = make_user("training_staff")
    for _ in range(5):
        with pytest.raises(Unauthorized):
            authenticate(user.username, "wrong")
    with pytest.raises(RateLimited):
        authenticate(user.username, PASSWORD)  # even the right password, while locked
    assert db.session.scalar(select(AuditLog).where(AuditLog.payload["action"].as_string() == "lockout"))


def test_tokens_are_stored_hashed_and_can_be_revoked(app):
    user = make_user("training_staff")
    token = issue_token(user, "script")
    row = db.session.scalar(select(ApiToken))
    assert token.startswith("mst_") and token not in (row.token_hash, row.prefix)
    assert user_for_token(token)[0].id == user.id
    assert user_for_token(token + "x") is None
    revoke_token(user, row.id)
    assert user_for_token(token) is None


def test_bearer_token_auth_and_roles(client):
    probe = "/api/_probe/staff"
    staff, cadet = make_user("training_staff"), make_user("cadet")
    r = client.get(probe)
    assert r.status_code == 401 and r.json["code"] == "UNAUTHORIZED" and "Set-Cookie" not in r.headers
    assert client.get(probe, headers={"Authorization": "Bearer mst_nope"}).status_code == 401
    r = client.get(probe, headers={"Authorization": f"Bearer {issue_token(staff)}"})
    assert r.status_code == 200 and r.json["data"]["user"] == staff.username
    assert "Set-Cookie" not in r.headers
    r = client.get(probe, headers={"Authorization": f"Bearer {issue_token(cadet)}"})
    assert r.status_code == 403 and r.json["error"] is True
