"""Session cookies end when they should: logout, password change, admin reset, deactivation, role change.

The session cookie is signed, not stored on the server, so a copy taken before logout stays valid unless
the server can tell it is old: every user has a session version that these events bump.
"""

from __future__ import annotations

import pytest
from flask import g
from sqlalchemy import select

from blueprints.core.auth import user_for_token
from blueprints.core.operations.tokens import issue_token
from blueprints.core.operations.users import reset_password, update_user
from models import AuditLog, db
from tests.factories import PASSWORD, login, make_user

NEW_PASSWORD = "a-new-long-password"


def _get(client, path: str = "/"):
    """A request that loads its user from the cookie (tests share one app context, and so Flask-Login's g)."""
    g.pop("_login_user", None)
    return client.get(path)


def _signed_in(client) -> bool:
    response = _get(client)
    assert response.status_code in (200, 302)
    return response.status_code == 200


def _cookie(client) -> str:
    return client.get_cookie("session").value


def _replay(client, cookie: str) -> None:
    client.set_cookie("session", cookie)


def _signed_in_client(app, user):
    client = app.test_client()
    g.pop("_login_user", None)
    assert login(client, user).status_code == 302
    assert _signed_in(client)
    return client


def _audited(action: str) -> list[dict]:
    rows = db.session.scalars(select(AuditLog).where(AuditLog.payload["action"].as_string() == action))
    return [row.payload for row in rows]


def test_a_cookie_captured_before_logout_is_refused_afterwards(app):
    user = make_user("training_staff")
    client = _signed_in_client(app, user)
    captured = _cookie(client)
    g.pop("_login_user", None)
    assert client.post("/logout").status_code == 302
    _replay(client, captured)
    response = _get(client)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert len(_audited("sign-out")) == 1


def test_logout_ends_the_users_other_sessions_too(app):
    user = make_user("training_staff")
    laptop, phone = _signed_in_client(app, user), _signed_in_client(app, user)
    g.pop("_login_user", None)
    laptop.post("/logout")
    assert not _signed_in(phone)


def test_a_password_change_ends_other_sessions_but_keeps_the_one_that_made_it(app):
    user = make_user("training_staff")
    other, changer = _signed_in_client(app, user), _signed_in_client(app, user)
    g.pop("_login_user", None)
    response = changer.post("/account/password", data={"current_password": PASSWORD, "new_password": NEW_PASSWORD,
                                                        "confirm_password": NEW_PASSWORD})
    assert response.status_code == 303
    assert _signed_in(changer)
    assert not _signed_in(other)


@pytest.mark.parametrize("revoke", [True, False], ids=["revoke-tokens", "keep-tokens"])
def test_an_admin_reset_ends_sessions_and_revokes_tokens_unless_told_not_to(app, revoke):
    admin, user = make_user("admin"), make_user("training_staff")
    token = issue_token(user, "script")
    victim, admin_client = _signed_in_client(app, user), _signed_in_client(app, admin)
    form = {"new_password": NEW_PASSWORD, **({"revoke_tokens": "1"} if revoke else {})}
    g.pop("_login_user", None)
    assert admin_client.post(f"/admin/users/{user.id}/password", data=form).status_code == 303
    assert not _signed_in(victim)
    assert _signed_in(admin_client)
    assert (user_for_token(token) is None) is revoke
    [payload] = _audited("reset-password")
    assert payload["revoke_tokens"] is revoke and payload["tokens_revoked"] == (1 if revoke else 0)


def test_the_reset_form_offers_token_revocation_ticked_by_default_and_keeps_the_choice_on_error(app):
    admin, user = make_user("admin"), make_user("training_staff")
    token = issue_token(user)
    client = _signed_in_client(app, admin)
    assert 'name="revoke_tokens" value="1" checked' in _get(client, f"/admin/users/{user.id}").text
    g.pop("_login_user", None)
    short = client.post(f"/admin/users/{user.id}/password", data={"new_password": "short"})
    assert short.status_code == 422 and 'id="e-new_password"' in short.text
    assert 'name="revoke_tokens" value="1">' in short.text  # left unticked, as sent
    assert user_for_token(token) is not None and not _audited("reset-password")  # nothing written


def test_reset_password_revokes_tokens_by_default(app):
    admin, user = make_user("admin"), make_user("training_staff")
    token = issue_token(user)
    assert user_for_token(token) is not None  # cached now: the reset must clear the "users" domain
    reset_password(admin, user.id, NEW_PASSWORD)
    assert user_for_token(token) is None


def test_an_admin_resetting_their_own_password_stays_signed_in(app):
    admin = make_user("admin")
    client = _signed_in_client(app, admin)
    g.pop("_login_user", None)
    assert client.post(f"/admin/users/{admin.id}/password", data={"new_password": NEW_PASSWORD}).status_code == 303
    assert _signed_in(client)


@pytest.mark.parametrize("change", [{"is_active": False}, {"role": "admin"}], ids=["deactivation", "role-change"])
def test_deactivation_and_role_change_end_sessions_for_good(app, change):
    admin, user = make_user("admin"), make_user("training_staff")
    client = _signed_in_client(app, user)
    captured = _cookie(client)
    update_user(admin, user.id, change)
    update_user(admin, user.id, {"is_active": True, "role": "training_staff"})  # reactivated, role back
    _replay(client, captured)
    assert not _signed_in(client)
    assert login(client, user).status_code == 302  # signing in again works
    assert _signed_in(client)


def test_a_session_from_before_session_versions_is_refused(app):
    user = make_user("training_staff")
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)  # the old format: the id alone
    assert not _signed_in(client)
