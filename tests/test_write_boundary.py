"""Every write is an operation: driving every write route (and every page and API read) through the
test client sends no INSERT, UPDATE or DELETE from outside blueprints/core/operations/.

An engine listener looks at each statement's Python stack. A write counts as an operation's when a
function of a domain operations module is on the stack: its own statements, the audit rows and
recounts it calls, and its changes that unit_of_work flushes on commit. operations/__init__.py (the
transaction machinery) does not count, so a write that merely runs inside unit_of_work from
elsewhere is caught.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest
from flask import g, url_for
from sqlalchemy import event, select

from blueprints.core import auth
from blueprints.core.checkin_codes import sign_code
from blueprints.core.operations.attendance import bulk_attendance
from blueprints.core.operations.excuses import submit_excuse
from blueprints.core.operations.merits import record_merit
from blueprints.core.operations.tokens import issue_token
from models import ApiToken, AttendanceRecord, Cadet, TrainingDay, User, db
from tests.factories import PASSWORD, login, make_cadet, make_training_day, make_user
from tests.test_checkin import make_day_today
from tests.test_excuses import photo
from tests.test_roster_import import _csv, _import, _roster
from tests.test_security import TEST_ONLY_BLUEPRINTS

ROOT = Path(__file__).resolve().parents[1]
OPERATIONS = ROOT / "blueprints" / "core" / "operations"
TRANSACTIONS = OPERATIONS / "__init__.py"

# Writes that are bookkeeping, not a domain change, sent from outside operations/ on purpose.
# Matched on the innermost function of ours that sent the statement ("path:qualified name").
ALLOWED = {
    # The durable outbox of cache clears: written in the write's own transaction (outbox.record), or
    # after a commit whose clear Redis missed (_record_failed_clear); applied and deleted by the pollers.
    "blueprints/core/cache.py:_record_failed_clear",
    "blueprints/core/outbox.py:apply_recorded",
    "blueprints/core/outbox.py:record",
    # The Idempotency-Key replay record must commit in the same transaction as the write it replays,
    # which the decorator around the API view opens (request_transaction) before any operation runs.
    "blueprints/core/idempotency.py:_Claim.run",
    # Expired replay records, deleted now and then after a keyed request (housekeeping).
    "blueprints/core/idempotency.py:prune_idempotency_keys",
}

_WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE|MERGE|TRUNCATE|COPY)\b", re.I)
_CTE_WRITE = re.compile(r"\s*WITH\b.*\b(INSERT\s+INTO|UPDATE\s+\S+\s+SET|DELETE\s+FROM)\b", re.I | re.S)


def is_write(statement: str) -> bool:
    """INSERT/UPDATE/DELETE, also inside a WITH; SELECT ... FOR UPDATE and EXPLAIN are reads."""
    return bool(_WRITE.match(statement) or _CTE_WRITE.match(statement))


@cache
def _ours(filename: str) -> str | None:
    """The file's path relative to the project, for our app code only (not tests, libraries, stdlib)."""
    if filename.startswith("<"):  # code SQLAlchemy generates at run time
        return None
    path = Path(filename).resolve()
    if not path.is_relative_to(ROOT) or "site-packages" in path.parts or path.parts[len(ROOT.parts)] in (
            "tests", ".venv"):
        return None
    return path.relative_to(ROOT).as_posix()


@cache
def _in_an_operation(filename: str) -> bool:
    path = Path(filename).resolve()
    return path.is_relative_to(OPERATIONS) and path != TRANSACTIONS


@dataclass
class WriteLog:
    inside: int = 0  # writes sent by operations
    allowed: list[str] = field(default_factory=list)  # bookkeeping in ALLOWED, by its sender
    outside: list[tuple[str, str]] = field(default_factory=list)  # (sender, statement) of any other write

    def record(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if not is_write(statement):
            return
        senders, frame = [], sys._getframe(1)
        while frame is not None:
            code = frame.f_code
            if _in_an_operation(code.co_filename):
                self.inside += 1
                return
            if (path := _ours(code.co_filename)) is not None:
                senders.append(f"{path}:{code.co_qualname}")
            frame = frame.f_back
        # Allowed only when the bookkeeping function sent it itself: a flush on commit inside
        # request_transaction (operations/__init__.py) under _Claim.run is not the replay record.
        if senders and senders[0] in ALLOWED:
            self.allowed.append(senders[0])
            return
        caller = next((s for s in senders if not s.startswith("blueprints/core/operations/__init__.py")), "?")
        self.outside.append((caller, " ".join(statement.split())[:90]))


@contextmanager
def watching_writes() -> Iterator[WriteLog]:
    log = WriteLog()
    event.listen(db.engine, "before_cursor_execute", log.record)
    try:
        yield log
    finally:
        event.remove(db.engine, "before_cursor_execute", log.record)


def test_the_statement_classifier():
    assert is_write("INSERT INTO cadets (id) VALUES (1)") and is_write("  update grades set x = 1")
    assert is_write("DELETE FROM api_tokens") and is_write("WITH x AS (SELECT 1) UPDATE grades SET a = 1")
    assert not is_write("SELECT grades.id FROM grades ORDER BY grades.cadet_id FOR UPDATE")
    assert not is_write("WITH x AS (SELECT id FROM grades FOR UPDATE) SELECT count(*) FROM x")
    assert not is_write("PREPARE muster_explain AS UPDATE grades SET a = 1")  # EXPLAIN's plan: nothing runs


# --- driving the app ------------------------------------------------------------------------------------


@dataclass
class World:
    admin: User
    staff: User  # changes their own password, then signs out
    editee: User  # edited by the admin
    cadet_user: User
    cadet: int
    day: int
    today: int  # open for check-in
    ids: dict


@pytest.fixture
def world(app) -> World:
    admin, staff, editee = make_user("admin"), make_user("training_staff"), make_user("training_staff")
    cadet_user = make_user("cadet")
    cadet = make_cadet(admin)
    day = make_training_day(admin)
    today = make_day_today(title="Today")  # check-in runs on the unit's dates
    bulk_attendance(admin, {"training_day_id": day, "cadet_ids": [cadet], "status": "present"})
    log = record_merit(admin, {"cadet_id": cadet, "type": "merit", "points": 1, "reason": "x"})
    issue_token(admin, "revoked-by-the-page")
    ids = {"cadet_id": cadet, "day_id": day, "user_id": editee.id, "log_id": log, "stmt_id": "0",
           "filename": "css/muster.css", "record_id": db.session.scalar(select(AttendanceRecord.id)),
           "token_id": db.session.scalar(select(ApiToken.id).where(ApiToken.name == "revoked-by-the-page")),
           **_letters(admin, cadet_user)}
    return World(admin, staff, editee, cadet_user, cadet, day, today, ids)


def _letters(admin: User, cadet_user: User) -> dict:
    """Four pending excuse letters of the cadet account, for the decision routes, and two past days
    with no letter yet (one marked absent, one with no record), for the two submit routes."""
    days = [make_training_day(admin, offset=10 + i) for i in range(6)]
    bulk_attendance(admin, {"training_day_id": days[0], "cadet_ids": [cadet_user.cadet_id], "status": "absent"})
    letters = [submit_excuse(cadet_user, {"training_day_id": d, "reason": "ill"}, "a.png", photo((20, 20), "PNG"))
               for d in days[1:5]]
    return {"letters": letters, "letter_id": letters[0], "letter_days": (days[0], days[5])}


def _open(client, path: str, **kwargs):
    """One request. The tests share one app context, so forget the previous request's signed-in user."""
    g.pop("_login_user", None)
    return client.open(path, **kwargs)


def _code(day_id: int) -> str:
    db.session.expire_all()
    return sign_code(day_id, db.session.get(TrainingDay, day_id).checkin_nonce)


class Driver:
    """Sends requests and notes which (method, URL rule) each was; every write must change something."""

    def __init__(self, app, log: WriteLog) -> None:
        self.app, self.log, self.driven = app, log, set()

    def send(self, client, method: str, rule: str, path: str, status: int, *, writes: bool = True, **kwargs):
        before = self.log.inside
        response = _open(client, path, method=method, **kwargs)
        assert response.status_code == status, (method, path, response.status_code, response.get_data(True)[:300])
        if writes:  # else the route was driven without writing anything: the test would prove nothing
            assert self.log.inside > before, (method, path, "wrote nothing")
        self.driven.add((method, rule))
        return response

    def write_routes(self) -> set[tuple[str, str]]:
        return {(method, rule.rule) for rule in self.app.url_map.iter_rules()
                if rule.endpoint.split(".")[0] not in TEST_ONLY_BLUEPRINTS
                for method in rule.methods - {"GET", "HEAD", "OPTIONS"}}


def _read_everything(app, d: Driver, admin_client, cadet_client, w: World, bearer: dict) -> None:
    """Every GET route, once (as the admin; the check-in page as the cadet). The first API call with
    a fresh token records its use: that write is an operation too."""
    auth._last_touch.clear()  # the per-process throttle: token ids repeat from test to test
    before = d.log.inside
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint.split(".")[0] in TEST_ONLY_BLUEPRINTS:
            continue
        with app.test_request_context():
            path = url_for(rule.endpoint, **{name: w.ids[name] for name in rule.arguments})
        if rule.endpoint == "checkin.scan":
            response = _open(cadet_client, path, query_string={"t": _code(w.today)})
        else:
            response = _open(admin_client, path, headers=bearer if path.startswith(("/api/", "/metrics")) else {})
        assert response.status_code < 500, (path, response.status_code)
    assert d.log.inside > before  # the token's last use was recorded, by operations/tokens.py


def _drive_the_api(d: Driver, client, w: World, bearer: dict) -> None:
    api = {"headers": bearer}
    cid, day, record = w.cadet, w.day, w.ids["record_id"]
    d.send(client, "POST", "/api/cadets", "/api/cadets", 201,
           json={"student_id": "API-1", "first_name": "A", "last_name": "B"}, **api)
    keyed = {"headers": {**bearer, "Idempotency-Key": "boundary-1"}}
    d.send(client, "POST", "/api/cadets/import", "/api/cadets/import", 201,
           json={"cadets": [{"student_id": "API-2", "first_name": "C", "last_name": "D"}]}, **keyed)
    d.send(client, "POST", "/api/cadets/import", "/api/cadets/import", 201, writes=False,
           json={"cadets": [{"student_id": "API-2", "first_name": "C", "last_name": "D"}]}, **keyed)  # replayed
    d.send(client, "PATCH", "/api/cadets/<id:cadet_id>", f"/api/cadets/{cid}", 200, json={"company": "Zulu"}, **api)
    d.send(client, "DELETE", "/api/cadets/<id:cadet_id>", f"/api/cadets/{cid}", 200, **api)
    d.send(client, "POST", "/api/cadets/<id:cadet_id>/restore", f"/api/cadets/{cid}/restore", 200, **api)
    d.send(client, "POST", "/api/cadets/bulk-archive", "/api/cadets/bulk-archive", 200, json={"ids": [cid]}, **api)
    d.send(client, "POST", "/api/cadets/bulk-restore", "/api/cadets/bulk-restore", 200, json={"ids": [cid]}, **api)
    d.send(client, "PATCH", "/api/grades/<id:cadet_id>", f"/api/grades/{cid}", 200, json={"prelim_score": 81},
           **api)
    d.send(client, "POST", "/api/grades/bulk-update", "/api/grades/bulk-update", 200,
           json={"items": [{"cadet_id": cid, "midterm_score": 82}]}, **api)
    made = d.send(client, "POST", "/api/merit-demerits", "/api/merit-demerits", 201,
                  json={"cadet_id": cid, "type": "demerit", "points": 2, "reason": "late"}, **api)
    d.send(client, "DELETE", "/api/merit-demerits/<id:log_id>", f"/api/merit-demerits/{made.json['data']['id']}",
           204, **api)
    made = d.send(client, "POST", "/api/training-days", "/api/training-days", 201,
                  json={"date": "2026-10-01", "title": "API day"}, **api)
    d.send(client, "PATCH", "/api/training-days/<id:day_id>", f"/api/training-days/{day}", 200,
           json={"title": "Renamed"}, **api)
    d.send(client, "DELETE", "/api/training-days/<id:day_id>", f"/api/training-days/{made.json['data']['id']}", 204,
           **api)
    d.send(client, "PATCH", "/api/attendance/<id:record_id>", f"/api/attendance/{record}", 200,
           json={"status": "late"}, **api)
    d.send(client, "POST", "/api/attendance/bulk", "/api/attendance/bulk", 200,
           json={"training_day_id": day, "cadet_ids": [cid], "status": "absent", "on_conflict": "update"}, **api)
    d.send(client, "POST", "/api/attendance/check-in", "/api/attendance/check-in", 200,
           json={"token": _code(w.today), "student_id": db.session.get(Cadet, cid).student_id}, **api)
    letters = w.ids["letters"]
    d.send(client, "POST", "/api/excuse-letters", "/api/excuse-letters", 201,
           data={"training_day_id": str(w.ids["letter_days"][0]), "reason": "ill",
                 "cadet_id": str(w.cadet_user.cadet_id), "file": (io.BytesIO(photo((20, 20))), "a.jpg")},
           content_type="multipart/form-data", **api)
    d.send(client, "POST", "/api/excuse-letters/<id:letter_id>/approve", f"/api/excuse-letters/{letters[1]}/approve",
           200, json={}, **api)
    d.send(client, "POST", "/api/excuse-letters/<id:letter_id>/reject", f"/api/excuse-letters/{letters[2]}/reject",
           200, json={"note": "unsigned"}, **api)
    d.send(client, "POST", "/api/notifications/read", "/api/notifications/read", 200, json={"all": True},
           headers={"Authorization": f"Bearer {issue_token(w.cadet_user, 'notes')}"})
    d.send(client, "PUT", "/api/system-settings", "/api/system-settings", 200, json={"unit_name": "1st Bn"}, **api)
    d.send(client, "POST", "/api/system/slow-queries/reset", "/api/system/slow-queries/reset", 200, **api)
    d.send(client, "POST", "/api/auth/token", "/api/auth/token", 201,
           json={"username": w.admin.username, "password": PASSWORD, "name": "script"})
    spare = {"Authorization": f"Bearer {issue_token(w.admin, 'spare')}"}
    d.send(client, "DELETE", "/api/auth/token", "/api/auth/token", 204, headers=spare)


def _drive_the_pages(d: Driver, client, cadet_client, staff_client, w: World) -> None:
    cid, day, today = w.cadet, w.day, w.today
    d.send(client, "POST", "/cadets/new", "/cadets/new", 303,
           data={"student_id": "PAGE-1", "first_name": "E", "last_name": "F"})
    d.send(client, "POST", "/cadets/<id:cadet_id>/edit", f"/cadets/{cid}/edit", 303, data={"platoon": "2nd"})
    d.send(client, "POST", "/cadets/<id:cadet_id>/grades", f"/cadets/{cid}/grades", 303, data={"final_score": "83"})
    d.send(client, "POST", "/cadets/<id:cadet_id>/merits", f"/cadets/{cid}/merits", 303,
           data={"type": "merit", "points": "3", "reason": "drill"})
    for action in ("archive", "restore"):
        d.send(client, "POST", "/cadets/bulk", "/cadets/bulk", 303, data={"action": action, "confirm": "yes",
                                                                         "ids": [str(cid)]})
    preview = d.send(client, "POST", "/cadets/import", "/cadets/import", 200, writes=False,
                     data={"file": (io.BytesIO(_csv(_roster(2, start=500))), "roster.csv")},
                     content_type="multipart/form-data")
    assert 'name="sheet"' in preview.text
    before = d.log.inside
    g.pop("_login_user", None)
    assert _import(client, "roster.csv", _csv(_roster(2, start=600))).status_code == 303
    assert d.log.inside > before
    d.driven.add(("POST", "/cadets/import/review"))
    d.send(client, "POST", "/merits/<id:log_id>/delete", f"/merits/{w.ids['log_id']}/delete", 303)
    made = d.send(client, "POST", "/training-days/new", "/training-days/new", 303,
                  data={"date": "2026-10-02", "title": "Page day"})
    new_day = int(re.search(r"/training-days/(\d+)", made.headers["Location"]).group(1))
    d.send(client, "POST", "/training-days/<id:day_id>/edit", f"/training-days/{day}/edit", 303,
           data={"location": "Field"})
    d.send(client, "POST", "/training-days/<id:day_id>/sheet", f"/training-days/{day}/sheet", 303,
           data={f"status-{cid}": "excused"})
    d.send(client, "POST", "/training-days/<id:day_id>/sheet/quick", f"/training-days/{new_day}/sheet/quick", 303,
           data={"student_id": db.session.get(Cadet, cid).student_id})
    d.send(client, "POST", "/training-days/<id:day_id>/sheet/sync", f"/training-days/{day}/sheet/sync", 200,
           json={"user_id": w.admin.id, "marks": [{"cadet_id": cid, "status": "late", "base_version": 2}]},
           headers={"Idempotency-Key": "offline-sheet-1"})
    d.send(client, "POST", "/training-days/<id:day_id>/delete", f"/training-days/{new_day}/delete", 303)
    d.send(cadet_client, "POST", "/check-in/<id:day_id>", f"/check-in/{today}", 303, data={"t": _code(today)})
    d.send(client, "POST", "/training-days/<id:day_id>/qr/cutoff", f"/training-days/{today}/qr/cutoff", 303,
           data={"checkin_cutoff": "07:30"})
    d.send(client, "POST", "/training-days/<id:day_id>/qr/rotate", f"/training-days/{today}/qr/rotate", 303)
    d.send(client, "POST", "/admin/users/new", "/admin/users/new", 303,
           data={"username": "newbie", "email": "newbie@example.test", "role": "training_staff",
                 "password": "a-long-enough-password"})
    d.send(client, "POST", "/admin/users/<id:user_id>", f"/admin/users/{w.editee.id}", 303,
           data={"role": "admin", "email": "edited@example.test"})
    d.send(client, "POST", "/admin/users/<id:user_id>/password", f"/admin/users/{w.editee.id}/password", 303,
           data={"new_password": "another-long-password", "revoke_tokens": "1"})
    d.send(client, "POST", "/admin/settings", "/admin/settings", 303, data={"school_year": "2026-2027"})
    d.send(client, "POST", "/account/preferences", "/account/preferences", 303, data={"page_size": "25"})
    d.send(client, "POST", "/account/tokens", "/account/tokens", 201, data={"name": "page token"})
    d.send(client, "POST", "/account/tokens/<id:token_id>/revoke", f"/account/tokens/{w.ids['token_id']}/revoke",
           303)
    d.send(client, "POST", "/admin/performance/reset", "/admin/performance/reset", 302)
    d.send(client, "POST", "/excuse-letters/<id:letter_id>/<any(approve, reject):decision>",
           f"/excuse-letters/{w.ids['letters'][3]}/approve", 303, data={"note": "ok"})
    d.send(cadet_client, "POST", "/me/excuse-letters", "/me/excuse-letters", 303,
           data={"training_day_id": str(w.ids["letter_days"][1]), "reason": "ill",
                 "file": (io.BytesIO(photo((20, 20))), "a.jpg")}, content_type="multipart/form-data")
    d.send(cadet_client, "POST", "/notifications/read", "/notifications/read", 303)
    d.send(staff_client, "POST", "/account/password", "/account/password", 303,
           data={"current_password": PASSWORD, "new_password": "staff-new-password", "confirm_password":
                 "staff-new-password"})
    d.send(staff_client, "POST", "/logout", "/logout", 302)


def _drive_the_sign_ins(d: Driver, client, w: World) -> None:
    """Wrong passwords up to the lockout, for a real and an unknown name; then a right one elsewhere."""
    victim = make_user("training_staff")
    for name in (victim.username, "nobody-by-this-name"):
        for _ in range(5):
            d.send(client, "POST", "/login", "/login", 401, data={"username": name, "password": "wrong"})
        d.send(client, "POST", "/login", "/login", 401, data={"username": name, "password": PASSWORD})  # locked
    for _ in range(5):
        d.send(client, "POST", "/api/auth/token", "/api/auth/token", 401,
               json={"username": "another-nobody", "password": "wrong"})
    d.send(client, "POST", "/login", "/login", 302, data={"username": w.admin.username, "password": PASSWORD})


def test_no_write_route_writes_outside_operations(app, world):
    w = world
    admin_client, cadet_client, staff_client, anonymous = (app.test_client() for _ in range(4))
    login(admin_client, w.admin)
    login(cadet_client, w.cadet_user)
    login(staff_client, w.staff)
    bearer = {"Authorization": f"Bearer {issue_token(w.admin, 'driver')}"}
    with watching_writes() as log:
        d = Driver(app, log)
        _read_everything(app, d, admin_client, cadet_client, w, bearer)
        _drive_the_api(d, admin_client, w, bearer)
        _drive_the_pages(d, admin_client, cadet_client, staff_client, w)
        _drive_the_sign_ins(d, anonymous, w)
    missing = d.write_routes() - d.driven
    assert not missing, f"drive these write routes in this test too: {sorted(missing)}"
    assert not log.outside, "writes outside blueprints/core/operations/:\n" + "\n".join(map(str, log.outside))
    assert "blueprints/core/idempotency.py:_Claim.run" in log.allowed  # the allow-list is live, not stale
