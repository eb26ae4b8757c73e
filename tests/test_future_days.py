"""Training days count once their date has come (unit time zone) or once attendance is taken.

"Today" is pinned with the MUSTER_TODAY config value (blueprints/core/clock.py), never by patching
the database. The factories' days are dated from 2026-09-01.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from blueprints.core.operations.attendance import mark_attendance
from blueprints.core.operations.held_days import ensure_grades_current, refresh_held_days
from blueprints.core.operations.training import update_training_day
from models import AuditLog, Grade, db
from tests.factories import login, make_cadet, make_training_day, make_user

TODAY = date(2026, 9, 10)


@pytest.fixture
def today(app):
    """Pin the unit's today; afterwards the real date again, with this process's check redone."""
    app.config["MUSTER_TODAY"] = TODAY
    yield TODAY
    app.config.pop("MUSTER_TODAY", None)
    with app.test_request_context("/"):
        ensure_grades_current()


def _grade(cadet_id: int) -> Grade:
    db.session.expire_all()
    return db.session.scalar(select(Grade).where(Grade.cadet_id == cadet_id))


def _attend_all_past(staff, cadet_id: int, offsets: range) -> None:
    for offset in offsets:
        mark_attendance(staff, make_training_day(staff, offset=offset), {cadet_id: "present"})


def test_a_day_dated_tomorrow_changes_nobodys_grade(app, today):
    staff = make_user("admin")
    present, absent = make_cadet(staff), make_cadet(staff)
    _attend_all_past(staff, present, range(0, 9))  # 2026-09-01 .. 09-09, all held
    before = {c: (_grade(c).attendance_score, _grade(c).final_grade, _grade(c).remarks) for c in (present, absent)}
    assert before[present][0] == 30.0

    make_training_day(staff, offset=10)  # 2026-09-11: tomorrow
    after = {c: (_grade(c).attendance_score, _grade(c).final_grade, _grade(c).remarks) for c in (present, absent)}
    assert after == before


def test_the_day_counts_once_its_date_has_come_and_the_list_shows_it(app, client, today):
    admin = make_user("admin")
    cadet = make_cadet(admin, last_name="Castro", first_name="Liza")
    _attend_all_past(admin, cadet, range(0, 9))
    make_training_day(admin, offset=10)
    login(client, admin)
    first = client.get("/grades/?search=Castro").get_data(as_text=True)
    assert "30.00" in first  # full attendance score, list cached now

    app.config["MUSTER_TODAY"] = date(2026, 9, 11)  # the day comes; nobody writes anything
    page = client.get("/grades/?search=Castro").get_data(as_text=True)
    expected = 9 * 30.0 / 10
    assert _grade(cadet).attendance_score == pytest.approx(expected)
    assert f"{expected:.2f}" in page  # the cached list did not serve the old grade
    audit = db.session.scalars(select(AuditLog).where(AuditLog.table_name == "grades")).all()
    assert any(a.payload.get("action") == "held-days" for a in audit)


def test_refresh_is_idempotent_and_only_runs_when_a_day_crossed(app, today):
    admin = make_user("admin")
    cadet = make_cadet(admin)
    _attend_all_past(admin, cadet, range(0, 3))
    make_training_day(admin, offset=20)  # 2026-09-21
    refresh_held_days(TODAY)
    assert refresh_held_days(TODAY) is False  # same day again: nothing to do
    assert refresh_held_days(date(2026, 9, 15)) is False  # no day crossed
    assert _grade(cadet).attendance_score == 30.0
    assert refresh_held_days(date(2026, 9, 21)) is True
    assert _grade(cadet).attendance_score == pytest.approx(3 * 30.0 / 4)


def test_attendance_taken_early_makes_the_day_count_for_everyone(app, today):
    admin = make_user("admin")
    early, other = make_cadet(admin), make_cadet(admin)
    _attend_all_past(admin, other, range(0, 2))
    mark_attendance(admin, _first_day_id(), {early: "present"})
    future = make_training_day(admin, offset=30)
    mark_attendance(admin, future, {early: "present"})
    assert _grade(other).attendance_score == pytest.approx(2 * 30.0 / 3)  # the future day now counts
    assert _grade(early).attendance_present == 2


def _first_day_id() -> int:
    from models import TrainingDay

    return db.session.scalar(select(TrainingDay.id).order_by(TrainingDay.date, TrainingDay.id))


def test_moving_a_day_into_the_future_stops_it_counting(app, today):
    admin = make_user("admin")
    cadet = make_cadet(admin)
    _attend_all_past(admin, cadet, range(0, 2))
    unattended = make_training_day(admin, offset=5)
    assert _grade(cadet).attendance_score == pytest.approx(2 * 30.0 / 3)
    update_training_day(admin, unattended, {"date": "2026-10-01"})
    assert _grade(cadet).attendance_score == 30.0


def test_my_record_lists_exactly_the_days_that_count(app, client, today):
    admin = make_user("admin")
    user = make_user("cadet")
    _attend_all_past(admin, user.cadet_id, range(0, 2))
    make_training_day(admin, offset=3, title="Unrecorded Drill")  # held, no record for this cadet
    make_training_day(admin, offset=12, title="Future Drill")  # not yet
    login(client, user)
    page = client.get("/me").get_data(as_text=True)
    assert "2 of 3 training days attended" in page
    assert "Unrecorded Drill" in page and "not recorded" in page
    assert "Future Drill" not in page


def test_refresh_grades_command(app, runner, today):
    admin = make_user("admin")
    cadet = make_cadet(admin)
    _attend_all_past(admin, cadet, range(0, 1))
    make_training_day(admin, offset=1)
    app.config["MUSTER_TODAY"] = date(2026, 8, 31)  # the clock set back: neither day has come, one is attended
    result = runner.invoke(args=["refresh-grades"])
    assert result.exit_code == 0, result.output
    assert _grade(cadet).attendance_score == 30.0
