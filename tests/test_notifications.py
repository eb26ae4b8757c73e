"""Notifications: written by the operations in constant statements, listed and marked read through the
API; emailed through the outbox to a real local SMTP sink (aiosmtpd), with nothing lost or sent twice
across an SMTP outage, and nothing for users who turned email off."""

from __future__ import annotations

import email
import threading
import time
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from blueprints.core.mailer import message_id, send_due_emails, start_sender, stop_sender
from blueprints.core.operations.attendance import bulk_attendance
from blueprints.core.operations.emails import MAX_ATTEMPTS, retry_delay
from blueprints.core.operations.grades import bulk_update_grades
from blueprints.core.operations.users import create_user, update_preferences
from models import Cadet, EmailOutbox, Notification, User, db, utcnow
from tests.conftest import is_postgres
from tests.factories import PASSWORD, make_cadets, make_token, make_training_day, make_user
from tests.test_api_support import assert_error, body_of, call, count
from tests.test_concurrency import run_together
from tests.test_reliability import _free_port


class Sink:
    """Collects every message it accepts; `refuse` answers the next N messages with a temporary error."""

    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []
        self.refuse = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        with self.lock:
            if self.refuse:
                self.refuse -= 1
                return "451 Try again later"
            self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp(app):
    """SMTP_URL pointing at a free loopback port; `start()` puts a real sink there."""
    port = _free_port()
    app.config["SMTP_URL"] = f"smtp+plain://127.0.0.1:{port}"
    app.config["MAIL_FROM"] = "muster@unit.example"
    state = {}

    def start() -> Sink:
        sink = Sink()
        state["controller"] = Controller(sink, hostname="127.0.0.1", port=port)
        state["controller"].start()
        return sink

    yield start
    if "controller" in state:
        state["controller"].stop()
    app.config["SMTP_URL"] = ""


def _accounts(n: int) -> list[int]:
    """n cadets, each with an account; returns the cadet ids."""
    make_cadets(n)
    ids = list(db.session.scalars(select(Cadet.id).order_by(Cadet.id)))
    for cid in ids:
        create_user(None, {"username": f"c{cid}", "email": f"c{cid}@unit.example", "role": "cadet",
                           "password": PASSWORD, "cadet_id": cid})
    return ids


def _make_due() -> None:
    """Bring every retry forward to now (instead of waiting out the backoff)."""
    db.session.execute(update(EmailOutbox).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()


def test_bulk_writes_notify_in_a_constant_number_of_statements(app, count_queries, smtp):
    admin = make_user("admin")
    small_day, big_day = make_training_day(admin), make_training_day(admin, offset=1)
    ids = _accounts(300)
    statements = {}
    for name, day, cadets in (("small", small_day, ids[:3]), ("big", big_day, ids)):
        with count_queries() as log:
            bulk_attendance(admin, {"training_day_id": day, "cadet_ids": cadets, "status": "absent"})
        statements[name] = len(log)
        assert len(log.matching(r"^\s*INSERT INTO notifications")) == 1
        assert len(log.matching(r"^\s*INSERT INTO email_outbox")) == 1
    assert statements["small"] == statements["big"]
    assert count(Notification) == 303 and count(EmailOutbox) == 303
    with count_queries() as log:
        bulk_update_grades(admin, [{"cadet_id": c, "prelim_score": 80} for c in ids])
    assert len(log.matching(r"^\s*INSERT INTO notifications")) == 1
    assert count(Notification) == 603


def test_notifications_api_list_and_mark_read(app):
    admin = make_user("admin")
    cadet = make_user("cadet")
    token = make_token(cadet)
    client = app.test_client()
    day = make_training_day(admin)
    bulk_attendance(admin, {"training_day_id": day, "cadet_ids": [cadet.cadet_id], "status": "absent"})
    bulk_update_grades(admin, [{"cadet_id": cadet.cadet_id, "final_score": 90}])
    listed = body_of(call(client, "GET", "/api/notifications", token))
    assert listed["total"] == 2 and listed["data"][0]["message"] == "Your grades were updated."
    first = listed["data"][1]["id"]
    assert body_of(call(client, "POST", "/api/notifications/read", token, {"ids": [first]}))["data"] == {"updated": 1}
    assert body_of(call(client, "GET", "/api/notifications?unread=true", token))["total"] == 1
    assert body_of(call(client, "POST", "/api/notifications/read", token, {"all": True}))["data"] == {"updated": 1}
    assert body_of(call(client, "GET", "/api/notifications?unread=true", token))["total"] == 0
    assert_error(call(client, "POST", "/api/notifications/read", token, {}), 422)
    assert_error(call(client, "POST", "/api/notifications/read", token, {"ids": ["x"]}), 422)
    # Someone else's token sees and marks none of them.
    other = make_token(make_user("cadet"))
    assert body_of(call(client, "GET", "/api/notifications", other))["total"] == 0
    assert body_of(call(client, "POST", "/api/notifications/read", other, {"ids": [first]}))["data"]["updated"] == 0


def test_smtp_outage_loses_nothing_and_sends_nothing_twice(app, smtp):
    admin = make_user("admin")
    ids = _accounts(5)
    day = make_training_day(admin)
    bulk_attendance(admin, {"training_day_id": day, "cadet_ids": ids, "status": "absent"})
    assert count(EmailOutbox) == 5

    # 1. Nothing listens on the port: every email fails, stays in the outbox, due again later.
    assert send_due_emails() == {"sent": 0, "failed": 5, "left": 0}
    rows = db.session.scalars(select(EmailOutbox)).all()
    assert {(r.status, r.attempts) for r in rows} == {("pending", 1)}
    assert all(r.next_attempt_at > utcnow() + retry_delay(1) - timedelta(seconds=5) for r in rows)
    assert send_due_emails()["sent"] == 0  # not due yet: no hammering a server that is down

    # 2. The server is back but turns the first two away (451): three go out, two wait.
    sink = smtp()
    sink.refuse = 2
    _make_due()
    assert send_due_emails() == {"sent": 3, "failed": 2, "left": 0}

    # 3. Next round: the last two; then nothing is left to send.
    _make_due()
    assert send_due_emails() == {"sent": 2, "failed": 0, "left": 0}
    _make_due()
    assert send_due_emails() == {"sent": 0, "failed": 0, "left": 0}

    received = sorted(m["To"] for m in sink.messages)
    assert received == sorted(f"c{c}@unit.example" for c in ids)  # each exactly once
    db.session.expire_all()
    sent = db.session.scalars(select(EmailOutbox).order_by(EmailOutbox.id)).all()
    assert {r.status for r in sent} == {"sent"}
    assert sorted(m["Message-ID"] for m in sink.messages) == sorted(message_id(r.id, "muster@unit.example")
                                                                    for r in sent)
    assert "marked absent" in sink.messages[0].get_payload(decode=True).decode()


def test_an_email_given_up_after_the_last_attempt_is_kept_as_failed(app, smtp):
    admin = make_user("admin")
    ids = _accounts(1)
    bulk_attendance(admin, {"training_day_id": make_training_day(admin), "cadet_ids": ids, "status": "absent"})
    for _ in range(MAX_ATTEMPTS):
        _make_due()
        send_due_emails()
    row = db.session.scalar(select(EmailOutbox))
    db.session.refresh(row)
    assert (row.status, row.attempts) == ("failed", MAX_ATTEMPTS) and "ConnectionRefused" in row.last_error


def test_users_who_turned_email_off_get_no_email_but_still_the_notification(app, smtp):
    admin = make_user("admin")
    ids = _accounts(2)
    quiet = db.session.scalar(select(User).where(User.cadet_id == ids[0]))
    update_preferences(quiet, {"email_notifications": False})
    bulk_attendance(admin, {"training_day_id": make_training_day(admin), "cadet_ids": ids, "status": "absent"})
    assert count(Notification) == 2
    assert db.session.scalars(select(EmailOutbox.to_address)).all() == [f"c{ids[1]}@unit.example"]


def test_without_smtp_url_no_outbox_rows(app):
    admin = make_user("admin")
    ids = _accounts(2)
    bulk_attendance(admin, {"training_day_id": make_training_day(admin), "cadet_ids": ids, "status": "absent"})
    assert count(Notification) == 2 and count(EmailOutbox) == 0


@pytest.mark.postgres
def test_two_senders_at_once_send_each_email_once(app, smtp):
    if not is_postgres():
        pytest.skip("SKIP LOCKED claims are tested against PostgreSQL")
    admin = make_user("admin")
    ids = _accounts(40)
    bulk_attendance(admin, {"training_day_id": make_training_day(admin), "cadet_ids": ids, "status": "absent"})
    sink = smtp()
    db.session.commit()

    def drain() -> int:
        total = 0
        while (sent := send_due_emails(limit=5)["sent"]):
            total += sent
        return total

    results = run_together(app, [drain, drain, drain])
    assert sum(results) == 40, results
    assert len(sink.messages) == 40 and len({m["Message-ID"] for m in sink.messages}) == 40


def test_the_background_sender_delivers_after_commit(app, smtp):
    """The request only wrote the outbox row; the process's sender thread delivers it on its own."""
    admin = make_user("admin")
    ids = _accounts(2)
    sink = smtp()
    bulk_attendance(admin, {"training_day_id": make_training_day(admin), "cadet_ids": ids, "status": "absent"})
    db.session.commit()
    thread = start_sender(app, interval=0.05)
    try:
        deadline = time.monotonic() + 10
        while len(sink.messages) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop_sender(app)
        thread.join(5)
    assert sorted(m["To"] for m in sink.messages) == sorted(f"c{c}@unit.example" for c in ids)
    db.session.expire_all()
    assert {s for s in db.session.scalars(select(EmailOutbox.status))} == {"sent"}
