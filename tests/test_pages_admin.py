"""Admin pages: users (create, role, deactivate, reset password, link a cadet), settings, audit log;
and everyone's profile: preferences, password, personal API tokens, a cadet's own record."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from blueprints.core.auth import authenticate
from models import ApiToken, AuditLog, User, db
from tests.factories import PASSWORD, make_cadet, make_user, row_ids, signed_in


def test_create_user_validation_errors_beside_fields(client):
    signed_in(client)
    bad = client.post("/admin/users/new", data={"username": "bad name", "email": "x", "role": "general",
                                                "password": "short"})
    assert bad.status_code == 422
    for field in ("username", "email", "role"):
        assert f'id="e-{field}"' in bad.text
    assert 'value="short"' not in bad.text  # passwords are never echoed back
    short = client.post("/admin/users/new", data={"username": "ok", "email": "ok@x.test", "role": "admin",
                                                  "password": "short"})
    assert short.status_code == 422 and 'id="e-password"' in short.text and 'value="ok@x.test"' in short.text
    cadet = client.post("/admin/users/new", data={"username": "kid", "email": "kid@x.test", "role": "cadet",
                                                  "password": PASSWORD})
    assert cadet.status_code == 422 and "is required for cadets" in cadet.text
    make_user("training_staff", "taken")
    dup = client.post("/admin/users/new", data={"username": "taken", "email": "new@x.test",
                                                "role": "training_staff", "password": PASSWORD})
    assert dup.status_code == 409 and 'id="e-username"' in dup.text


def test_users_create_set_role_deactivate_reset_and_link(client):
    signed_in(client)
    cadet_id = make_cadet(last_name="Linked")
    created = client.post("/admin/users/new", data={"username": "newstaff", "email": "ns@x.test",
                                                    "role": "training_staff", "password": PASSWORD,
                                                    "next": "/admin/users?role=training_staff"})
    assert created.status_code == 303 and created.headers["Location"] == "/admin/users?role=training_staff"
    user = db.session.scalar(select(User).where(User.username == "newstaff"))
    assert user.id in row_ids(client.get("/admin/users?role=training_staff").text)
    assert user.id not in row_ids(client.get("/admin/users?role=admin").text)
    assert row_ids(client.get("/admin/users?search=NEWST").text) == [user.id]

    client.post(f"/admin/users/{user.id}", data={"role": "cadet", "email": "ns@x.test", "cadet_id": str(cadet_id),
                                                 "is_active": "1"})
    db.session.refresh(user)
    assert (user.role, user.cadet_id, user.is_active) == ("cadet", cadet_id, True)
    client.post(f"/admin/users/{user.id}", data={"role": "cadet", "email": "ns@x.test", "cadet_id": str(cadet_id)})
    db.session.refresh(user)
    assert user.is_active is False  # unticked: deactivated
    assert user.id in row_ids(client.get("/admin/users?is_active=false").text)

    bad_link = client.post(f"/admin/users/{user.id}", data={"role": "cadet", "email": "ns@x.test",
                                                            "cadet_id": "999999", "is_active": "1"})
    assert bad_link.status_code == 422 and 'id="e-cadet_id"' in bad_link.text

    short = client.post(f"/admin/users/{user.id}/password", data={"new_password": "abc"})
    assert short.status_code == 422 and 'id="e-new_password"' in short.text
    reset = client.post(f"/admin/users/{user.id}/password", data={"new_password": "a-brand-new-password"})
    assert reset.status_code == 303
    client.post(f"/admin/users/{user.id}", data={"role": "cadet", "email": "ns@x.test", "cadet_id": str(cadet_id),
                                                 "is_active": "1"})
    assert authenticate("newstaff", "a-brand-new-password").id == user.id


def test_admin_cannot_demote_themselves(client):
    admin = signed_in(client)
    response = client.post(f"/admin/users/{admin.id}", data={"role": "cadet", "email": admin.email,
                                                             "is_active": "1"})
    assert response.status_code == 422 and "You cannot demote or deactivate yourself." in response.text


def test_settings_validate_and_save(client):
    signed_in(client)
    bad = client.post("/admin/settings", data={"school_year": "next year", "semester": "4th",
                                               "unit_name": "Keep"})
    assert bad.status_code == 422
    assert 'id="e-school_year"' in bad.text and 'id="e-semester"' in bad.text and 'value="Keep"' in bad.text
    ok = client.post("/admin/settings", data={"school_year": "2027-2028", "semester": "2nd",
                                              "unit_name": "Bravo Battalion"}, follow_redirects=True)
    assert "Settings saved." in ok.text and 'value="2027-2028"' in ok.text
    assert "Bravo Battalion" in client.get("/").text  # no stale cached settings


def test_audit_log_filters_and_counts(client):
    admin = signed_in(client)
    make_cadet(admin)
    make_cadet(admin, student_id="AUD-2")
    client.post("/admin/settings", data={"unit_name": "Audited"})
    html = client.get("/admin/audit").text
    assert "Showing 1\u2013" in html
    all_ids = row_ids(html)
    assert all_ids == sorted(all_ids, reverse=True)  # newest first
    cadets = row_ids(client.get("/admin/audit?table=cadets&operation=CREATE").text)
    expected = set(db.session.scalars(select(AuditLog.id).where(AuditLog.table_name == "cadets",
                                                                AuditLog.operation == "CREATE")))
    assert set(cadets) == expected and len(expected) == 2
    mine = set(row_ids(client.get(f"/admin/audit?user_id={admin.id}").text))
    assert mine == set(db.session.scalars(select(AuditLog.id).where(AuditLog.user_id == admin.id)))
    assert row_ids(client.get("/admin/audit?date_to=2000-01-01").text) == []
    assert set(row_ids(client.get("/admin/audit?date_from=2000-01-01").text)) == set(all_ids)
    assert client.get("/admin/audit?date_from=yesterday&operation=DROP").status_code == 200
    assert f'href="/admin/audit?per_page=50&amp;user_id={admin.id}"' in html  # click a user to filter


# --- profile, tokens, my record -----------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "training_staff", "cadet"])
def test_preferences_apply_page_size_dark_and_compact(client, role):
    user = signed_in(client, role)
    bad = client.post("/account/preferences", data={"page_size": "7"})
    assert bad.status_code == 422 and 'id="e-page_size"' in bad.text
    client.post("/account/preferences", data={"page_size": "25", "dark_mode": "1", "compact_mode": "1"})
    db.session.refresh(user.settings)
    assert (user.settings.page_size, user.settings.dark_mode, user.settings.compact_mode) == (25, True, True)
    assert re.search(r'<body class="dark compact', client.get("/account").text)
    client.post("/account/preferences", data={"page_size": "25"})
    assert '<body class=" ' in client.get("/account").text


def test_change_password_errors_and_success(client):
    user = signed_in(client, "training_staff")
    wrong = client.post("/account/password", data={"current_password": "nope", "new_password": "x" * 12,
                                                   "confirm_password": "x" * 12})
    assert wrong.status_code == 422 and 'id="e-current_password"' in wrong.text
    mismatch = client.post("/account/password", data={"current_password": PASSWORD, "new_password": "x" * 12,
                                                      "confirm_password": "y" * 12})
    assert mismatch.status_code == 422 and 'id="e-confirm_password"' in mismatch.text
    short = client.post("/account/password", data={"current_password": PASSWORD, "new_password": "short",
                                                   "confirm_password": "short"})
    assert short.status_code == 422 and 'id="e-new_password"' in short.text
    ok = client.post("/account/password", data={"current_password": PASSWORD, "new_password": "x" * 12,
                                                "confirm_password": "x" * 12})
    assert ok.status_code == 303
    assert authenticate(user.username, "x" * 12).id == user.id


def test_tokens_are_shown_once_and_can_be_revoked(client):
    signed_in(client, "cadet")
    created = client.post("/account/tokens", data={"name": "door-reader"})
    assert created.status_code == 201 and created.headers["Cache-Control"] == "no-store"
    token = re.search(r'id="new-token">(mst_[^<]+)<', created.text).group(1)
    listing = client.get("/account/tokens").text
    assert token not in listing and "door-reader" in listing and token[:10] in listing
    api = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200
    too_long = client.post("/account/tokens", data={"name": "n" * 101})
    assert too_long.status_code == 422 and 'id="e-name"' in too_long.text
    token_id = db.session.scalar(select(ApiToken.id).where(ApiToken.name == "door-reader"))
    revoked = client.post(f"/account/tokens/{token_id}/revoke", follow_redirects=True)
    assert "Token revoked." in revoked.text and "door-reader" not in revoked.text
    assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert client.post(f"/account/tokens/{token_id}/revoke").status_code == 404


def test_cadet_sees_only_their_own_record(client):
    user = signed_in(client, "cadet")
    other = make_cadet(last_name="Someone", first_name="Else")
    home = client.get("/")
    assert home.status_code == 302 and home.headers["Location"].endswith("/me")
    me = client.get("/me")
    cadet_name = db.session.scalar(select(User).where(User.id == user.id)).cadet_id
    assert me.status_code == 200 and "Grade breakdown" in me.text and f"Last{cadet_name}" not in "Someone"
    assert "Someone" not in me.text
    assert ">My record<" in me.text and ">Cadets<" not in me.text  # navigation by role
    assert client.get(f"/cadets/{other}").status_code == 403
    assert client.get(f"/cadets/{user.cadet_id}").status_code == 403
