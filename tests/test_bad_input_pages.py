"""Bad input on every route: unicode digits, ids past PostgreSQL INTEGER, NUL and CR/LF, overlong text and
the hostile strings of test_bad_input.py answer a 4xx or a valid page, never a 500; and a signed-in page
answers the 503 page (not a raw 500) when the database is down."""

from __future__ import annotations

import pytest
from flask import url_for
from sqlalchemy import func, select

from blueprints.core.operations.attendance import bulk_attendance
from blueprints.core.operations.merits import record_merit
from blueprints.core.operations.tokens import issue_token
from blueprints.core.validation import MAX_ID
from models import ApiToken, AttendanceRecord, AuditLog, Cadet, db
from tests.factories import login, make_cadet, make_training_day, make_user
from tests.test_bad_input import NASTY
from tests.test_reliability import _app_like, _free_port
from tests.test_security import _served

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


# --- item 10: the whole battery on every page and API route -------------------------------------

BATTERY = ["²", "١٢", TOO_BIG, "9" * 400, "-1", "1e999", "a\x00b", "/\r\nLocation: //evil.test", "x" * 5000,
           *dict.fromkeys(text for pair in NASTY for text in pair)]
FIELDS = ("page", "per_page", "limit", "after", "sort", "search", "q", "next", "company", "platoon", "course",
          "status", "year_level", "is_archived", "remarks", "type", "date", "date_from", "date_to", "operation",
          "table_name", "role", "ids", "cadet_id", "training_day_id", "student_id", "first_name", "last_name",
          "email", "points", "reason", "title", "location", "prelim_score", "midterm_score", "final_score",
          "version", "username", "password", "new_password", "name", "page_size", "school_year", "semester",
          "unit_name", "action", "confirm", "mark_all", "on_conflict", "status-1", "status-²", f"status-{TOO_BIG}")
_ID_ARGS = {"cadet_id", "day_id", "user_id", "log_id", "record_id", "token_id"}
_MARK = 987654321  # stands in for an id in url_for, then becomes TOO_BIG in the path
SKIPPED = {"auth.logout", "api.token_revoke", "static"}  # they end the session or token the walk signs in with


@pytest.fixture
def world(app):
    admin = make_user("admin")
    staff = make_user("training_staff")
    cadet = make_cadet(admin)
    day = make_training_day(admin)
    bulk_attendance(admin, {"training_day_id": day, "cadet_ids": [cadet], "status": "present"})
    log = record_merit(admin, {"cadet_id": cadet, "type": "merit", "points": 1, "reason": "x"})
    issue_token(admin, "revoked-by-the-walk")
    ids = {"cadet_id": cadet, "day_id": day, "user_id": staff.id, "log_id": log, "stmt_id": "0",
           "record_id": db.session.scalar(select(AttendanceRecord.id)),
           "token_id": db.session.scalar(select(ApiToken.id).where(ApiToken.name == "revoked-by-the-walk")),
           "letter_id": 1, "decision": "approve"}  # no letter: every letter route answers 404 or 4xx, never 5xx
    return admin, ids


def _requests(app, ids: dict) -> list[tuple[str, str, str]]:
    """(method, path, value) for every route and battery value, ids filled in, destructive routes last;
    a route with an id in its path once more with that id past the largest one."""
    out = []
    for endpoint, method, rule in _served(app):
        if endpoint in SKIPPED:
            continue
        with app.test_request_context():
            path = url_for(endpoint, **{name: ids[name] for name in rule.arguments})
            out += [(method, path, value) for value in BATTERY]
            if rule.arguments & _ID_ARGS:
                marked = url_for(endpoint, **{name: _MARK if name in _ID_ARGS else ids[name]
                                              for name in rule.arguments})
                out.append((method, marked.replace(str(_MARK), TOO_BIG), TOO_BIG))
    return out


def _send(client, method: str, path: str, value: str, headers: dict):
    query = {name: value for name in FIELDS}
    if method == "GET":
        return client.open(path, method=method, query_string=query, headers=headers)
    if path.startswith("/api/"):
        body = {name: value for name in FIELDS} | {"cadet_ids": [value], "cadets": [{"student_id": value}],
                                                    "items": [{"cadet_id": value}]}
        return client.open(path, method=method, query_string=query, json=body, headers=headers)
    return client.open(path, method=method, query_string=query, data=query, headers=headers)


def test_the_battery_on_every_route_is_never_a_server_error(app, client, world):
    admin, ids = world
    login(client, admin)
    headers = {"Authorization": f"Bearer {issue_token(admin)}"}
    failures = []
    for method, path, value in _requests(app, ids):
        try:  # the test app propagates exceptions instead of answering 500
            response = _send(client, method, path, value, headers)
            status = response.status_code
            response.close()  # a streamed CSV left open is collected later, inside another request's context
        except Exception as exc:  # noqa: BLE001 - every crash is collected, then reported together
            status = f"{type(exc).__name__}: {str(exc)[:80]}"
        if not isinstance(status, int) or status >= 500:
            failures.append((method, path, value[:30], status))
    assert not failures, "\n".join(map(str, failures))


# --- item 15: database down while signed in -------------------------------------------------------

def test_signed_in_pages_answer_the_503_page_when_the_database_is_down(app, client):
    admin = make_user("admin")
    login(client, admin)
    token = issue_token(admin)
    session_cookie = client.get_cookie("session").value
    down = _app_like(app, SQLALCHEMY_DATABASE_URI=f"postgresql+psycopg://postgres@127.0.0.1:{_free_port()}/x",
                     DB_CONNECT_TIMEOUT=2)
    down_client = down.test_client()
    down_client.set_cookie("session", session_cookie)
    for path in ("/", "/cadets/", "/account"):
        page = down_client.get(path)
        assert page.status_code == 503, (path, page.status_code)
        assert page.mimetype == "text/html" and b"unavailable" in page.data
    api = down_client.get("/api/cadets", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 503 and api.json["code"] == "SERVICE_UNAVAILABLE"
