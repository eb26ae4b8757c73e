"""Excuse letters through the API: submit (multipart), list, see the file, approve or reject once;
every bad input refused with a clear error and nothing written; two deciders at once, one wins."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from pypdf import PdfWriter
from sqlalchemy import select

from blueprints.core.errors import Conflict
from blueprints.core.operations.excuses import decide_excuse
from models import AttendanceRecord, AuditLog, ExcuseFile, ExcuseLetter, Grade, Notification, User, db
from tests.conftest import is_postgres
from tests.factories import make_cadet, make_token, make_training_day, make_user
from tests.test_api_support import assert_error, body_of, call, count
from tests.test_concurrency import run_together


def photo(size=(3000, 2000), fmt="JPEG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 180, 160)).save(out, fmt)
    return out.getvalue()


def pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(612, 792)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def send(client, token, day, content=b"", name="letter.jpg", reason="Sick with fever", **extra):
    data = {"training_day_id": str(day), "reason": reason, **extra}
    if content is not None:
        data["file"] = (io.BytesIO(content), name)
    return client.post("/api/excuse-letters", data=data, content_type="multipart/form-data",
                       headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def world(app):
    """An admin and a cadet account marked absent on a past day."""
    admin = make_user("admin")
    cadet_user = make_user("cadet")
    day = make_training_day(admin)
    admin_token, cadet_token = make_token(admin), make_token(cadet_user)
    client = app.test_client()
    res = call(client, "POST", "/api/attendance/bulk", admin_token,
               {"training_day_id": day, "cadet_ids": [cadet_user.cadet_id], "status": "absent"})
    assert res.status_code == 200
    return {"client": client, "admin": admin_token, "cadet": cadet_token, "cadet_id": cadet_user.cadet_id,
            "day": day, "admin_id": admin.id}


def _grade(cadet_id):
    db.session.expire_all()
    return db.session.scalar(select(Grade).where(Grade.cadet_id == cadet_id))


def test_cadet_submits_staff_approves_day_becomes_excused_and_grade_recomputed(world):
    client, cadet_id = world["client"], world["cadet_id"]
    before = _grade(cadet_id).attendance_score
    res = send(client, world["cadet"], world["day"], photo())
    assert res.status_code == 201, res.data
    letter = body_of(res)["data"]
    assert (letter["status"], letter["cadet_id"], letter["content_type"]) == ("pending", cadet_id, "image/jpeg")
    stored = db.session.scalar(select(ExcuseFile).where(ExcuseFile.letter_id == letter["id"]))
    view = Image.open(io.BytesIO(stored.view_content))
    assert view.format == "JPEG" and max(view.size) == 1600  # the 3000 px photo shrunk for viewing

    listed = body_of(call(client, "GET", "/api/excuse-letters?status=pending", world["admin"]))
    assert [r["id"] for r in listed["data"]] == [letter["id"]] and listed["total"] == 1

    res = call(client, "POST", f"/api/excuse-letters/{letter['id']}/approve", world["admin"], {"note": "Seen"})
    assert res.status_code == 200, res.data
    assert body_of(res)["data"]["status"] == "approved"
    record = db.session.scalar(select(AttendanceRecord).where(AttendanceRecord.cadet_id == cadet_id))
    assert record.status == "excused"
    assert _grade(cadet_id).attendance_score > before
    assert db.session.scalar(select(AuditLog).where(AuditLog.table_name == "excuse_letters",
                                                    AuditLog.operation == "UPDATE")).payload["after"]["status"] \
        == "approved"
    notes = body_of(call(client, "GET", "/api/notifications", world["cadet"]))["data"]
    assert any("excuse letter" in n["message"] and "approved" in n["message"] for n in notes)

    again = call(client, "POST", f"/api/excuse-letters/{letter['id']}/reject", world["admin"], {"note": "No"})
    assert_error(again, 409, "CONFLICT")
    assert body_of(call(client, "GET", f"/api/excuse-letters/{letter['id']}", world["admin"]))["data"]["status"] \
        == "approved"


def test_approval_creates_the_missing_record_of_a_past_day(world):
    client, cadet_id = world["client"], world["cadet_id"]
    other_day = make_training_day(offset=3)
    letter = body_of(send(client, world["cadet"], other_day, pdf(), name="scan.pdf"))["data"]
    assert letter["content_type"] == "application/pdf" and letter["file_name"] == "scan.pdf"
    assert call(client, "POST", f"/api/excuse-letters/{letter['id']}/approve", world["admin"], {}).status_code == 200
    status = db.session.scalar(select(AttendanceRecord.status).where(
        AttendanceRecord.cadet_id == cadet_id, AttendanceRecord.training_day_id == other_day))
    assert status == "excused"


def test_rejection_needs_a_note_and_leaves_attendance_alone(world):
    client = world["client"]
    letter = body_of(send(client, world["cadet"], world["day"], photo((40, 30), "PNG"), name="a.png"))["data"]
    assert_error(call(client, "POST", f"/api/excuse-letters/{letter['id']}/reject", world["admin"], {}), 422)
    res = call(client, "POST", f"/api/excuse-letters/{letter['id']}/reject", world["admin"], {"note": "Unsigned"})
    assert body_of(res)["data"]["decision_note"] == "Unsigned"
    assert db.session.scalar(select(AttendanceRecord.status)) == "absent"
    # Rejected: the cadet may send a better letter for the same day.
    assert send(client, world["cadet"], world["day"], photo((40, 30))).status_code == 201


def test_file_goes_only_to_its_cadet_and_staff_with_safe_headers(world):
    client = world["client"]
    letter = body_of(send(client, world["cadet"], world["day"], photo((400, 300), "PNG"), name="../x\".png"))["data"]
    url = f"/api/excuse-letters/{letter['id']}/file"
    for token in (world["cadet"], world["admin"]):
        res = client.get(url, headers={"Authorization": f"Bearer {token}"})
        assert res.status_code == 200 and res.mimetype == "image/png"
        assert res.headers["Content-Disposition"] == 'attachment; filename="x.png"'
        assert res.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in res.headers["Content-Security-Policy"]
    view = client.get(url + "?view=1", headers={"Authorization": f"Bearer {world['cadet']}"})
    assert view.mimetype == "image/jpeg" and view.headers["Content-Disposition"].startswith("inline;")
    stranger = make_token(make_user("cadet"))
    assert_error(client.get(url, headers={"Authorization": f"Bearer {stranger}"}), 404)
    assert_error(call(client, "GET", f"/api/excuse-letters/{letter['id']}", stranger), 404)
    assert body_of(call(client, "GET", "/api/excuse-letters", stranger))["total"] == 0
    assert body_of(call(client, "GET", "/api/excuse-letters", world["cadet"]))["total"] == 1


EXECUTABLE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200 + b"This program cannot"


@pytest.mark.parametrize(("content", "name", "expect"), [
    (EXECUTABLE, "photo.jpg", "not a photo"),
    (b"#!/bin/sh\nrm -rf /\n", "letter.pdf", "not a photo"),
    (b"", "empty.jpg", "empty"),
    (b"\xff\xd8\xff" + b"\x00" * (6 * 1024 * 1024), "big.jpg", "limit is 5 MB"),
    (None, None, "Attach"),
    (photo((800, 600))[:3000], "cut.jpg", "damaged"),
    (b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage", "broken.pdf", "damaged"),
    (b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", "x.svg", "not a photo"),
])
def test_bad_files_are_refused_and_nothing_is_written(world, content, name, expect):
    audits = count(AuditLog)
    res = send(world["client"], world["cadet"], world["day"], content, name=name)
    body = assert_error(res, 422, "VALIDATION_ERROR")
    assert expect in body["message"] and "file" in body["details"]
    assert count(ExcuseLetter) == 0 and count(ExcuseFile) == 0 and count(AuditLog) == audits


def test_bad_days_and_other_cadets_are_refused(world):
    client, token = world["client"], world["cadet"]
    future = make_training_day(offset=4000)
    other = make_cadet()
    present_day = make_training_day(offset=5)
    call(client, "POST", "/api/attendance/bulk", world["admin"],
         {"training_day_id": present_day, "cadet_ids": [world["cadet_id"]], "status": "present"})
    audits = count(AuditLog)
    assert "future" in str(assert_error(send(client, token, future, photo((50, 50))), 422)["details"])
    assert_error(send(client, token, 99999, photo((50, 50))), 404, "NOT_FOUND")
    assert_error(send(client, token, world["day"], photo((50, 50)), cadet_id=str(other)), 403, "FORBIDDEN")
    assert "present" in assert_error(send(client, token, present_day, photo((50, 50))), 422)["message"]
    assert_error(send(client, token, "x", photo((50, 50))), 422)
    assert_error(send(client, token, world["day"], photo((50, 50)), reason=" "), 422)
    assert_error(call(client, "POST", "/api/excuse-letters", token, {"training_day_id": world["day"]}), 415)
    assert count(ExcuseLetter) == 0 and count(AuditLog) == audits
    assert send(client, token, world["day"], photo((50, 50))).status_code == 201
    assert_error(send(client, token, world["day"], photo((50, 50))), 409)  # one pending letter per day


def test_a_cadet_token_cannot_decide(world):
    letter = body_of(send(world["client"], world["cadet"], world["day"], photo((50, 50))))["data"]
    for action in ("approve", "reject"):
        res = call(world["client"], "POST", f"/api/excuse-letters/{letter['id']}/{action}", world["cadet"],
                   {"note": "mine"})
        assert_error(res, 403, "FORBIDDEN")
    assert db.session.scalar(select(ExcuseLetter.status)) == "pending"
    assert db.session.scalar(select(AttendanceRecord.status)) == "absent"
    assert_error(call(world["client"], "POST", "/api/excuse-letters/99999/approve", world["admin"], {}), 404)


def test_staff_submit_for_a_named_cadet(world):
    res = send(world["client"], world["admin"], world["day"], photo((50, 50)))
    assert "cadet_id" in assert_error(res, 422)["details"]
    res = send(world["client"], world["admin"], world["day"], photo((50, 50)), cadet_id=str(world["cadet_id"]))
    assert res.status_code == 201


def test_heic_photos_are_read(world):
    pillow_heif = pytest.importorskip("pillow_heif")
    out = io.BytesIO()
    try:
        pillow_heif.from_pillow(Image.new("RGB", (64, 48), (10, 20, 30))).save(out, quality=50)
    except (ValueError, RuntimeError, OSError):
        pytest.skip("this pillow-heif build has no HEIC encoder to make a sample with")
    res = send(world["client"], world["cadet"], world["day"], out.getvalue(), name="IMG_0001.HEIC")
    assert res.status_code == 201, res.data
    assert body_of(res)["data"]["content_type"] == "image/heic"


@pytest.mark.postgres
def test_two_staff_deciding_at_once_exactly_one_wins(app, world):
    if not is_postgres():
        pytest.skip("concurrency is tested against PostgreSQL")
    letter = body_of(send(world["client"], world["cadet"], world["day"], photo((50, 50))))["data"]["id"]
    second = make_user("training_staff")
    ids = [world["admin_id"], second.id]
    db.session.commit()
    results = run_together(app, [
        lambda: decide_excuse(db.session.get(User, ids[0]), letter, True, {"note": "ok"}),
        lambda: decide_excuse(db.session.get(User, ids[1]), letter, False, {"note": "no"}),
    ])
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "dict"], results
    winner = next(r for r in results if isinstance(r, dict))
    assert isinstance(next(r for r in results if not isinstance(r, dict)), Conflict)
    db.session.expire_all()
    assert db.session.scalar(select(ExcuseLetter.status)) == winner["status"]
    status = db.session.scalar(select(AttendanceRecord.status))
    assert status == ("excused" if winner["status"] == "approved" else "absent")
    assert count(Notification) == 2  # marked absent, then the one decision
    assert len(db.session.scalars(select(AuditLog).where(AuditLog.table_name == "excuse_letters",
                                                         AuditLog.operation == "UPDATE")).all()) == 1
