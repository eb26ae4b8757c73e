"""Bad input on pages and the API: unicode digits, ids past PostgreSQL INTEGER, NUL and CR/LF answer a 4xx
or a valid page, never a 500."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from blueprints.core.auth import issue_token
from blueprints.core.validation import MAX_ID
from models import AttendanceRecord, AuditLog, Cadet, db
from tests.factories import login, make_cadet, make_training_day, make_user

TOO_BIG = str(MAX_ID + 1)  # 2**31: PostgreSQL refuses it as an INTEGER parameter


@pytest.fixture
def signed_in(app, client):
    """An admin signed in on `client`, with an API token, one cadet and one training day."""
    admin = make_user("admin")
    login(client, admin)
    cadet = make_cadet(admin)
    day = make_training_day(admin)
    return client, {"Authorization": f"Bearer {issue_token(admin)}"}, cadet, day


# --- item 7: unicode digits in paging ------------------------------------------------------------

@pytest.mark.parametrize("param", ["page", "per_page", "after"])
@pytest.mark.parametrize("path", ["/cadets/", "/grades/", "/training-days/", "/merits/", "/admin/users",
                                  "/admin/audit"])
def test_unicode_digits_in_paging_are_ignored_on_pages(signed_in, path, param):
    client = signed_in[0]
    assert client.get(path, query_string={param: "²"}).status_code == 200


@pytest.mark.parametrize("param", ["page", "limit", "after"])
@pytest.mark.parametrize("value", ["²", "١٢", "12²"])
def test_unicode_digits_in_paging_are_a_400_naming_the_parameter_in_the_api(signed_in, param, value):
    client, headers, *_ = signed_in
    response = client.get("/api/cadets", query_string={param: value}, headers=headers)
    assert response.status_code == 400 and param in response.json["details"]


# --- item 8: ids of 2**31 and above --------------------------------------------------------------

def test_keyset_cursor_past_the_largest_id_is_a_400(signed_in):
    client, headers, *_ = signed_in
    response = client.get("/api/cadets", query_string={"after": TOO_BIG}, headers=headers)
    assert response.status_code == 400 and "after" in response.json["details"]
    last = client.get("/api/cadets", query_string={"after": str(MAX_ID)}, headers=headers)
    assert last.status_code == 200 and last.json["data"] == []


@pytest.mark.parametrize(("method", "path", "form"), [
    ("GET", "/cadets/{big}", None),
    ("GET", "/cadets/{big}/edit", None),
    ("POST", "/cadets/{big}/edit", {"first_name": "A"}),
    ("POST", "/cadets/{big}/grades", {"prelim_score": "50"}),
    ("POST", "/cadets/{big}/merits", {"type": "merit", "points": "1", "reason": "x"}),
    ("GET", "/training-days/{big}", None),
    ("GET", "/training-days/{big}/sheet", None),
    ("POST", "/training-days/{big}/sheet", {"status-1": "present"}),
    ("POST", "/training-days/{big}/edit", {"title": "x"}),
    ("POST", "/training-days/{big}/delete", {}),
    ("GET", "/admin/users/{big}", None),
    ("POST", "/admin/users/{big}", {"role": "admin"}),
    ("POST", "/admin/users/{big}/password", {"new_password": "long-enough-password"}),
    ("POST", "/merits/{big}/delete", {}),
    ("POST", "/account/tokens/{big}/revoke", {}),
])
def test_page_ids_past_the_largest_id_are_404(signed_in, method, path, form):
    client = signed_in[0]
    audits = db.session.scalar(select(func.count(AuditLog.id)))
    for big in (TOO_BIG, "9999999999", "99999999999"):
        response = client.open(path.format(big=big), method=method, data=form)
        assert response.status_code == 404, (big, response.status_code)
    assert db.session.scalar(select(func.count(AuditLog.id))) == audits


def test_bulk_ids_that_are_not_ascii_or_too_big_are_ignored(signed_in):
    client, _, cadet, _ = signed_in
    response = client.post("/cadets/bulk", data={"action": "archive", "confirm": "yes", "ids": ["²", TOO_BIG]})
    assert response.status_code == 303  # "tick at least one cadet first"
    assert not db.session.get(Cadet, cadet).is_archived


@pytest.mark.parametrize("name", [f"status-{TOO_BIG}", "status-99999999999", "status-²", "status-١"])
def test_sheet_fields_with_bad_cadet_ids_are_a_form_error(signed_in, name):
    client, _, cadet, day = signed_in
    response = client.post(f"/training-days/{day}/sheet", data={name: "present", f"status-{cadet}": "present"})
    assert response.status_code == 422 and 'class="field-error"' in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(AttendanceRecord.id))) == 0


# --- item 9: NUL and CR/LF ------------------------------------------------------------------------

@pytest.mark.parametrize("param", ["company", "platoon"])
def test_nul_in_the_sheet_filters_is_ignored(signed_in, param):
    client, _, _, day = signed_in
    response = client.get(f"/training-days/{day}/sheet", query_string={param: "Alpha\x00"})
    assert response.status_code == 200


@pytest.mark.parametrize("username", ["ad\x00min", "\x00", "ad\r\nmin"])
def test_nul_in_the_sign_in_username_is_a_form_error(client, app, username):
    response = client.post("/login", data={"username": username, "password": "correct-horse-battery"})
    assert response.status_code == 422 and "control characters" in response.get_data(as_text=True)


@pytest.mark.parametrize("target", ["/cadets/\r\nSet-Cookie: x=y", "/cadets/%0d%0a", "/\nLocation: //evil.test",
                                    "/x\x00y"])
def test_cr_lf_in_next_falls_back_to_a_safe_redirect(signed_in, target):
    client = signed_in[0]
    response = client.post("/training-days/new", query_string={"next": target},
                           data={"date": "2026-10-01", "title": "Drill"})
    assert response.status_code == 303
    location = response.headers["Location"]
    assert "\r" not in location and "\n" not in location and "evil" not in location
    signed_out = client.post("/logout")
    assert signed_out.status_code == 302
    user = make_user("admin")
    login_page = client.post("/login", query_string={"next": target},
                             data={"username": user.username, "password": "correct-horse-battery"})
    assert login_page.status_code == 302 and "\n" not in login_page.headers["Location"]
