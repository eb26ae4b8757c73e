"""Excuse letters and notifications on the pages: send from My record, review in the queue, decide,
see the notification with its unread count in the navigation and mark it read."""

from __future__ import annotations

import io
import os

from flask import g
from PIL import Image
from sqlalchemy import select

from app import create_app
from blueprints.core.operations.attendance import bulk_attendance
from models import AttendanceRecord, ExcuseLetter, Notification, db
from tests.factories import PASSWORD, login, make_training_day, make_user
from tests.test_api_support import count
from tests.test_excuses import EXECUTABLE, photo


def _absent_cadet(app):
    admin = make_user("admin")
    cadet = make_user("cadet")
    day = make_training_day(admin)
    bulk_attendance(admin, {"training_day_id": day, "cadet_ids": [cadet.cadet_id], "status": "absent"})
    return admin, cadet, day


def as_(client):
    """The client, with the test's long-lived app context forgetting the last request's user."""
    g.pop("_login_user", None)
    return client


def _send(client, day, content, name="letter.jpg", reason="Fever"):
    return as_(client).post("/me/excuse-letters", data={"training_day_id": str(day), "reason": reason,
                                                   "file": (io.BytesIO(content), name)},
                       content_type="multipart/form-data")


def test_cadet_sends_from_my_record_and_staff_approve_in_the_queue(app):
    admin, cadet, day = _absent_cadet(app)
    cadet_client, staff_client = app.test_client(), app.test_client()
    login(cadet_client, cadet)
    page = as_(cadet_client).get("/me").get_data(as_text=True)
    assert "Excuse letters" in page and "Notifications (1)" in page  # marked absent
    assert f'<option value="{day}"' in page
    res = _send(cadet_client, day, photo((120, 90)))
    assert res.status_code == 303
    letter = db.session.scalar(select(ExcuseLetter.id))
    assert "pending" in as_(cadet_client).get("/me").get_data(as_text=True)

    login(staff_client, admin)
    queue = as_(staff_client).get("/excuse-letters/?status=pending").get_data(as_text=True)
    assert f'data-id="{letter}"' in queue
    shown = as_(staff_client).get(f"/excuse-letters/{letter}").get_data(as_text=True)
    assert "absent" in shown and "Approve" in shown
    assert as_(staff_client).post(f"/excuse-letters/{letter}/approve", data={"note": ""}).status_code == 303
    assert db.session.scalar(select(AttendanceRecord.status)) == "excused"
    again = as_(staff_client).post(f"/excuse-letters/{letter}/reject", data={"note": "late"})
    assert again.status_code == 409

    notes = as_(cadet_client).get("/notifications").get_data(as_text=True)
    assert "was approved" in notes and "Notifications (2)" in notes
    assert as_(cadet_client).post("/notifications/read", data={}).status_code == 303
    assert "Notifications (" not in as_(cadet_client).get("/notifications").get_data(as_text=True)
    assert db.session.scalar(select(Notification.id).where(Notification.read_at.is_(None))) is None


def test_bad_file_on_the_page_is_shown_beside_the_field(app):
    _, cadet, day = _absent_cadet(app)
    client = app.test_client()
    login(client, cadet)
    res = _send(client, day, EXECUTABLE, name="photo.jpg")
    assert res.status_code == 422
    page = res.get_data(as_text=True)
    assert 'id="e-file"' in page and "not a photo" in page
    res = _send(client, day, b"\x00" * (8 * 1024 * 1024))  # past the request cap: a form error, not a 413 page
    assert res.status_code == 422 and "5 MB" in res.get_data(as_text=True)
    assert count(ExcuseLetter) == 0


def test_rejecting_needs_a_note_and_the_file_is_private(app):
    admin, cadet, day = _absent_cadet(app)
    client, staff, stranger = app.test_client(), app.test_client(), app.test_client()
    login(client, cadet)
    _send(client, day, photo((60, 60)))
    letter = db.session.scalar(select(ExcuseLetter.id))
    login(staff, admin)
    res = as_(staff).post(f"/excuse-letters/{letter}/reject", data={"note": ""})
    assert res.status_code == 422 and 'id="e-note"' in res.get_data(as_text=True)
    login(stranger, make_user("cadet"))
    assert as_(stranger).get(f"/excuse-letters/{letter}/file").status_code == 404
    assert as_(stranger).get(f"/excuse-letters/{letter}").status_code == 404
    assert as_(stranger).get("/excuse-letters/").status_code == 403
    view = as_(client).get(f"/excuse-letters/{letter}/file?view=1")
    assert view.status_code == 200 and view.mimetype == "image/jpeg"
    assert view.headers["X-Content-Type-Options"] == "nosniff"


def test_a_3_mb_photo_passes_csrf_and_the_default_body_cap(app):
    """The app's body cap is 2 MB; the letter route raises it before CSRF reads the form."""
    _, cadet, day = _absent_cadet(app)
    strict = create_app({"MUSTER_ENV": "testing", "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                         "CACHE_KEY_PREFIX": app.config["CACHE_KEY_PREFIX"], "WTF_CSRF_ENABLED": True,
                         "SECRET_KEY": "csrf-test-secret-key-xxxxx"})
    client = strict.test_client()
    token = client.get("/login").get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    client.post("/login", data={"username": cadet.username, "password": PASSWORD, "csrf_token": token})
    noise = io.BytesIO()
    Image.frombytes("RGB", (1000, 1000), os.urandom(3_000_000)).save(noise, "PNG")
    assert 2.5e6 < len(noise.getvalue()) < 5e6
    res = client.post("/me/excuse-letters", data={"training_day_id": str(day), "reason": "Fever", "csrf_token": token,
                                                   "file": (io.BytesIO(noise.getvalue()), "big.png")},
                      content_type="multipart/form-data")
    assert res.status_code == 303, res.get_data(as_text=True)[:500]
    assert count(ExcuseLetter) == 1
