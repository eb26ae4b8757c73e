"""Sign-in for pages, Bearer tokens for scripts, inactive users, lockout, roles on the server."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from blueprints.core.auth import authenticate, user_for_token
from blueprints.core.errors import Conflict, RateLimited, Unauthorized
from blueprints.core.operations.lockout import LOCKOUT, prune_signin_failures
from blueprints.core.operations.tokens import issue_token, revoke_token
from blueprints.core.operations.users import update_user
from config import load_config
from models import ApiToken, AuditLog, SignInFailure, db, utcnow
from tests.conftest import is_postgres
from tests.factories import PASSWORD, login, make_user
from tests.test_concurrency import run_together


def test_login_and_logout(client):
    user = make_user("training_staff")
    assert client.get("/").status_code == 302
    response = login(client, user)
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert client.post("/logout").status_code == 302
    assert client.get("/").headers["Location"].startswith("/login")


def test_outside_the_tests_passwords_are_hashed_with_scrypt(app, client):
    """The tests hash with a cheap method (conftest); the app's own setting, which no environment
    variable changes, is scrypt, and a user made with it signs in."""
    setting = load_config({"MUSTER_ENV": "production", "SECRET_KEY": "s" * 32, "PASSWORD_HASH_METHOD": "plain"})
    assert setting["PASSWORD_HASH_METHOD"] == "scrypt"
    cheap, app.config["PASSWORD_HASH_METHOD"] = app.config["PASSWORD_HASH_METHOD"], setting["PASSWORD_HASH_METHOD"]
    try:
        user = make_user("training_staff")
        assert user.password_hash.startswith("scrypt:")
        assert login(client, user).status_code == 302 and client.get("/").status_code == 200
    finally:
        app.config["PASSWORD_HASH_METHOD"] = cheap


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


# --- Lockout: counted atomically, for real and unknown names alike (issue 11, items 3, 4, 6) ----------


def _token_attempts(client, username: str, passwords: list[str]) -> list[tuple[int, dict]]:
    answers = [client.post("/api/auth/token", json={"username": username, "password": p}) for p in passwords]
    return [(r.status_code, r.json) for r in answers]


def test_the_sixth_attempt_is_refused_and_an_unknown_name_answers_exactly_alike(client):
    user = make_user("training_staff")
    attempts = ["wrong"] * 5 + [PASSWORD]
    real = _token_attempts(client, user.username, attempts)
    unknown = _token_attempts(client, "nobody-by-this-name", attempts)
    assert [status for status, _ in real] == [401] * 5 + [429]
    assert unknown == real  # same statuses, same bodies: a 429 does not tell which names exist


def test_only_the_lockout_of_an_unknown_name_is_audited_and_expired_counts_are_pruned(app):
    for _ in range(5):
        with pytest.raises(Unauthorized):
            authenticate("ghost", "wrong")
    with pytest.raises(RateLimited):
        authenticate("ghost", "wrong")
    lockouts = db.session.scalars(select(AuditLog).where(AuditLog.payload["action"].as_string() == "lockout")).all()
    assert [(a.table_name, a.user_id) for a in lockouts] == [("signin_failures", None)]
    with pytest.raises(Unauthorized):
        authenticate("another-ghost", "wrong")
    later = utcnow() + LOCKOUT + timedelta(seconds=1)
    assert prune_signin_failures(later) == 2  # window and lockout over: nothing left to remember
    assert db.session.scalar(select(func.count()).select_from(SignInFailure)) == 0


def test_spellings_of_a_name_are_one_account(app):
    user = make_user("training_staff", username="Maria.Cruz")
    assert authenticate("  maria.cruz ", PASSWORD).id == user.id
    assert authenticate("ＭＡＲＩＡ.ＣＲＵＺ", PASSWORD).id == user.id  # full-width letters (NFKC)
    for spelling in ("maria.cruz", " MARIA.CRUZ", "Maria.Cruz\t", "mArIa.cRuZ", "\u3000maria.cruz"):
        with pytest.raises(Unauthorized):
            authenticate(spelling, "wrong")
    with pytest.raises(RateLimited):
        authenticate("Maria.Cruz", PASSWORD)


def test_a_correct_password_before_the_fifth_failure_clears_the_count(app):
    user = make_user("training_staff")
    for _ in range(4):
        with pytest.raises(Unauthorized):
            authenticate(user.username, "wrong")
    assert authenticate(user.username, PASSWORD).id == user.id
    for _ in range(4):
        with pytest.raises(Unauthorized):
            authenticate(user.username, "wrong")
    assert authenticate(user.username, PASSWORD).id == user.id


def test_a_deactivated_account_says_so_only_after_the_right_password(app):
    admin, user = make_user("admin"), make_user("training_staff")
    update_user(admin, user.id, {"is_active": False})
    with pytest.raises(Unauthorized, match="Wrong username or password"):
        authenticate(user.username, "wrong")
    with pytest.raises(Unauthorized, match="deactivated"):
        authenticate(user.username, PASSWORD)


@pytest.mark.postgres
@pytest.mark.parametrize("real", [True, False], ids=["real-name", "unknown-name"])
def test_forty_parallel_wrong_passwords_lock_the_name_and_then_the_right_one_is_refused(app, real):
    if not is_postgres():
        pytest.skip("concurrency is tested against PostgreSQL")
    username = make_user("training_staff").username if real else "no-such-user"
    results = run_together(app, [lambda: authenticate(username, "wrong")] * 40)
    kinds = sorted(type(r).__name__ for r in results)
    assert kinds == ["RateLimited"] * 35 + ["Unauthorized"] * 5, kinds  # only 5 passwords were ever checked
    with pytest.raises(RateLimited):
        authenticate(username, PASSWORD)
    with pytest.raises(RateLimited):
        authenticate(username, "wrong")
    lockouts = db.session.scalars(select(AuditLog).where(AuditLog.payload["action"].as_string() == "lockout")).all()
    assert len(lockouts) == 1


def test_a_username_differing_only_in_case_is_taken(app):
    make_user("training_staff", username="Jose.Rizal")
    with pytest.raises(Conflict) as refused:
        make_user("training_staff", username="jose.RIZAL")  # would share the lookup of Jose.Rizal
    assert refused.value.details == {"username": ["is already taken"]}
