"""Browser tests (Chromium) for the attendance sheet with no signal: marks queued offline are sent once,
survive a server killed mid-sync, never overwrite a mark changed on the server, wait for their own user,
and a signed-out phone shows the next user no cached sheet.

The server is waitress in a process of its own (tests/offline_server.py) with CSRF on, so it can be
killed and started again on the same origin (the service worker and IndexedDB are per origin).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from blueprints.core.operations.attendance import save_sheet
from models import AttendanceRecord, AuditLog, Cadet, IdempotencyKey, User, db
from tests.factories import PASSWORD, make_cadet, make_cadets, make_training_day, make_user
from tests.test_browser import ARGS, CHROMIUM

pytestmark = pytest.mark.browser
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Server:
    """The app in a subprocess on a fixed loopback port: start(), stop(), start(die_after=N)."""

    def __init__(self, app, tmp_path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.down_file = str(tmp_path / "sync-down")
        self.env = {**os.environ, "OFFLINE_TEST_DATABASE": app.config["SQLALCHEMY_DATABASE_URI"],
                    "OFFLINE_TEST_CACHE_PREFIX": app.config["CACHE_KEY_PREFIX"]}
        self.process: subprocess.Popen | None = None

    def start(self, die_after: int = 0) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "tests.offline_server", str(self.port),
                                         str(die_after), self.down_file], cwd=ROOT, env=self.env)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the test server did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture
def server(app, tmp_path):
    if not os.path.exists(CHROMIUM):
        pytest.skip("Chromium is not installed at /usr/bin/chromium")
    db.session.commit()
    srv = Server(app, tmp_path)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def context(server):
    """A phone-sized browser context (one profile: its service worker, caches and IndexedDB)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        ctx = browser.new_context(**PHONE)
        ctx.set_default_timeout(15_000)
        ctx.base = server.base
        yield ctx
        browser.close()


def _sign_in(page, user: User, path: str) -> None:
    page.goto(page.context.base + path)
    assert "/login" in page.url
    page.fill("#username", user.username)
    page.fill("#password", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(re.compile(re.escape(path.split("?")[0])))


def _open_for_offline(page, path: str) -> None:
    """Open the sheet online and wait until the service worker keeps it."""
    page.goto(page.context.base + path)
    _until(page, "navigator.serviceWorker.ready.then(() => true)")
    _until(page, "caches.open('muster-sheets').then(c => c.keys()).then(k => k.length > 0)")


def _until(page, expression: str, timeout: float = 15.0) -> None:
    """Poll an expression from outside the page (wait_for_function evaluates strings, which the CSP forbids)."""
    _wait_for(lambda: page.evaluate(expression), timeout)


def _shows(page, text: str) -> None:
    page.locator(".offline-status", has_text=text).wait_for()


def _mark(page, cadet_ids, status: str) -> None:
    for cadet in cadet_ids:
        page.select_option(f"#status-{cadet}", status)


def _save(page) -> None:
    page.click("form.sheet > .form-buttons button")


def _status(page) -> str:
    return page.inner_text(".offline-status")


def _records(day_id: int) -> dict[int, str]:
    db.session.expire_all()
    found = dict(db.session.execute(select(AttendanceRecord.cadet_id, AttendanceRecord.status)
                                    .where(AttendanceRecord.training_day_id == day_id)).all())
    db.session.rollback()  # no open transaction: the server process writes to the same database
    return found


def _offline_audits(user_id: int | None = None) -> list[AuditLog]:
    db.session.expire_all()
    stmt = select(AuditLog).where(AuditLog.table_name == "attendance_records")
    rows = [a for a in db.session.scalars(stmt) if a.payload.get("action") == "offline_sheet"]
    db.session.rollback()
    return [a for a in rows if user_id is None or a.user_id == user_id]


def _wait_for(check, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out waiting")


def _thirty_cadets_opened(context, title: str):
    """A staff member opens the sheet of 30 cadets online, so it is kept: (staff, day, cadet ids, page, path)."""
    staff = make_user("training_staff")
    make_cadets(30, company="Alpha")
    day = make_training_day(title=title)
    cadets = list(db.session.scalars(select(Cadet.id).where(Cadet.company == "Alpha").order_by(Cadet.id)))
    db.session.rollback()
    page = context.new_page()
    sheet = f"/training-days/{day}/sheet?company=Alpha"
    _sign_in(page, staff, sheet)
    _open_for_offline(page, sheet)
    return staff, day, cadets, page, sheet


def test_marks_made_offline_are_stored_exactly_once(app, server, context):
    staff, day, cadets, page, sheet = _thirty_cadets_opened(context, "Field day")

    context.set_offline(True)
    _mark(page, cadets[:25], "present")
    _mark(page, cadets[25:], "late")
    _save(page)
    _shows(page, "30 marks waiting")
    assert _records(day) == {}
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # fits 390 px

    page.reload()  # no connection: the kept sheet, with the marks made so far
    _shows(page, "30 marks waiting")
    assert page.input_value(f"#status-{cadets[0]}") == "present"
    assert page.input_value(f"#status-{cadets[29]}") == "late"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.close()

    context.set_offline(False)
    again = context.new_page()
    again.goto(context.base + sheet)
    records = _wait_for(lambda: (r := _records(day)) and len(r) == 30 and r)
    assert records == {**dict.fromkeys(cadets[:25], "present"), **dict.fromkeys(cadets[25:], "late")}
    _until(again, "!document.querySelector('.offline-status').textContent.includes('waiting')")
    audits = _offline_audits()
    assert [(a.user_id, a.payload["created"]) for a in audits] == [(staff.id, 30)]  # once, by the marking user
    assert db.session.scalar(select(func.count()).select_from(IdempotencyKey)) == 1


def test_a_server_killed_during_the_sync_loses_no_batch_and_applies_none_twice(app, server, context):
    staff, day, cadets, page, sheet = _thirty_cadets_opened(context, "Storm day")

    context.set_offline(True)
    for n, chunk in enumerate((cadets[:10], cadets[10:20], cadets[20:])):  # three saves: three batches
        _mark(page, chunk, "present")
        _save(page)
        _shows(page, f"{10 * (n + 1)} marks waiting")
    server.stop()
    server.start(die_after=2)  # the second batch is committed, then the server dies before answering
    context.set_offline(False)
    _wait_for(lambda: server.process.poll() is not None)
    assert len(_records(day)) == 20
    _shows(page, "20 marks waiting")

    server.start()
    page.reload()  # the next page load sends what is left
    _wait_for(lambda: len(_records(day)) == 30)
    _until(page, "!document.querySelector('.offline-status').textContent.includes('waiting')")
    assert len(_offline_audits(staff.id)) == 3  # the resent second batch was answered from its key
    assert sum(a.payload["created"] for a in _offline_audits()) == 30


def test_a_mark_changed_on_the_server_while_offline_is_shown_not_overwritten(app, server, context):
    staff = make_user("training_staff")
    admin = make_user("admin")
    ana = make_cadet(last_name="Aquino", first_name="Ana", company="Alpha")
    ben = make_cadet(last_name="Bautista", first_name="Ben", company="Alpha")
    day = make_training_day(title="Parade")
    save_sheet(admin, day, {f"status-{ana}": "present"})
    page = context.new_page()
    sheet = f"/training-days/{day}/sheet?company=Alpha"
    _sign_in(page, staff, sheet)
    _open_for_offline(page, sheet)

    context.set_offline(True)
    _mark(page, [ana], "absent")
    _mark(page, [ben], "late")
    _save(page)
    _shows(page, "2 marks waiting")
    save_sheet(admin, day, {f"status-{ana}": "excused"})  # meanwhile, on the server
    db.session.rollback()

    context.set_offline(False)
    conflict = page.locator(".offline-conflicts li")
    conflict.wait_for()
    assert "Aquino, Ana: saved as excused; you marked absent." in conflict.inner_text()
    assert _records(day) == {ana: "excused", ben: "late"}  # the server's mark was kept
    assert page.locator(f"tr[data-cadet-id='{ana}'].conflict").count() == 1

    page.reload()  # the choice waits across page loads
    page.locator(".offline-conflicts li").wait_for()
    page.click(".offline-conflicts button:has-text('Use absent')")
    _wait_for(lambda: _records(day)[ana] == "absent")
    _until(page, "document.querySelector('.offline-conflicts').hidden")


def test_queued_marks_wait_for_their_user_and_the_next_user_sees_no_cached_sheet(app, server, context):
    first = make_user("training_staff")
    second = make_user("training_staff")
    cadets = [make_cadet(last_name=f"Secret{i}", company="Alpha") for i in range(5)]
    day = make_training_day(title="Shared phone")
    page = context.new_page()
    sheet = f"/training-days/{day}/sheet?company=Alpha"
    _sign_in(page, first, sheet)
    _open_for_offline(page, sheet)

    context.set_offline(True)
    _mark(page, cadets, "present")
    _save(page)
    _shows(page, "5 marks waiting")
    open(server.down_file, "w").close()  # the connection returns, but the server answers 503 for now
    context.set_offline(False)
    _wait_for(lambda: open(server.down_file).read().count("503") >= 1)
    page.click("form.signout button")  # sign out with the batch still queued
    page.wait_for_url(re.compile("/login"))
    os.remove(server.down_file)
    assert page.evaluate("""async () => (await (await caches.open('muster-sheets')).keys()).length""") == 0

    page.fill("#username", second.username)  # another user of the same phone
    page.fill("#password", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_load_state()
    context.set_offline(True)
    page.goto(context.base + sheet)
    assert "Secret0" not in page.content() and "not opened on this device" in page.content()
    context.set_offline(False)
    page.goto(context.base + sheet)
    _until(page, "navigator.serviceWorker.ready.then(() => true)")
    page.wait_for_timeout(1000)  # the page load syncs: not the other user's batch
    assert _records(day) == {} and _offline_audits() == []
    assert "waiting" not in _status(page)

    page.click("form.signout button")
    page.wait_for_url(re.compile("/login"))
    _sign_in(page, first, sheet)  # its own user again: now the batch is sent
    _wait_for(lambda: len(_records(day)) == 5)
    assert [a.user_id for a in _offline_audits()] == [first.id]


def test_a_save_posted_while_the_server_cannot_be_reached_is_queued_not_lost(app, server, context):
    staff = make_user("training_staff")
    cadets = [make_cadet(last_name=f"Field{i}", company="Alpha") for i in range(4)]
    day = make_training_day(title="Lie-fi")
    page = context.new_page()
    sheet = f"/training-days/{day}/sheet?company=Alpha"
    _sign_in(page, staff, sheet)
    _open_for_offline(page, sheet)

    server.stop()  # the phone still believes it has signal (navigator.onLine), but nothing gets through
    _mark(page, cadets, "late")
    _save(page)  # the ordinary form post, which fails
    _shows(page, "4 marks waiting")
    assert page.input_value(f"#status-{cadets[3]}") == "late"

    server.start()
    page.reload()
    _wait_for(lambda: _records(day) == dict.fromkeys(cadets, "late"))
    assert [a.user_id for a in _offline_audits()] == [staff.id]
