"""Operations: constraints, one grades row per cadet, recounts, audit rows, all-or-nothing writes."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError

from blueprints.core.errors import Conflict, NotFound, ValidationError
from blueprints.core.operations.attendance import bulk_attendance, save_sheet, update_attendance
from blueprints.core.operations.cadets import archive_cadets, import_cadets, restore_cadets, update_cadet
from blueprints.core.operations.grades import bulk_update_grades, update_grade
from blueprints.core.operations.merits import delete_merit, record_merit
from blueprints.core.operations.settings import update_settings
from blueprints.core.operations.training import delete_training_day, update_training_day
from blueprints.core.operations.users import reset_password, update_user
from models import AttendanceRecord, AuditLog, Cadet, Grade, MeritDemeritLog, TrainingDay, db
from tests.factories import make_cadet, make_training_day, make_user


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def grade_of(cadet_id: int) -> Grade:
    db.session.expire_all()
    return db.session.scalar(select(Grade).where(Grade.cadet_id == cadet_id))


def last_audit() -> AuditLog:
    return db.session.scalar(select(AuditLog).order_by(AuditLog.id.desc()).limit(1))


@contextmanager
def fail_on(statement_start: str):
    """Make the database reject the first statement that starts with `statement_start` (fault injection)."""

    def boom(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(statement_start):
            raise RuntimeError(f"injected failure before: {statement_start}")

    event.listen(db.engine, "before_cursor_execute", boom)
    try:
        yield
    finally:
        event.remove(db.engine, "before_cursor_execute", boom)


@pytest.fixture
def admin(app):
    return make_user("admin")


def test_duplicate_student_id_is_a_field_conflict(admin):
    make_cadet(admin, student_id="2026-0001")
    with pytest.raises(Conflict) as exc:
        make_cadet(admin, student_id="2026-0001")
    assert "student_id" in exc.value.details
    assert count(Cadet) == 1


def test_database_enforces_unique_student_id_and_attendance(admin):
    a, b = make_cadet(admin), make_cadet(admin)
    db.session.add(Cadet(student_id=db.session.get(Cadet, a).student_id, first_name="x", last_name="y"))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()
    day = make_training_day(admin)
    db.session.add_all([AttendanceRecord(training_day_id=day, cadet_id=b, status="present"),
                        AttendanceRecord(training_day_id=day, cadet_id=b, status="late")])
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_student_id_format_and_lengths_are_validated(admin):
    with pytest.raises(ValidationError) as exc:
        make_cadet(admin, student_id="bad id!", first_name="x" * 101, year_level="nine")
    assert set(exc.value.details) == {"student_id", "first_name", "year_level"}
    assert count(Cadet) == 0


def test_exactly_one_grades_row_per_cadet(admin):
    make_cadet(admin)
    import_cadets(admin, [{"student_id": f"I-{i}", "first_name": "A", "last_name": "B"} for i in range(5)])
    assert count(Cadet) == count(Grade) == 6
    assert db.session.scalar(select(func.count(func.distinct(Grade.cadet_id)))) == 6
    cadet_id = db.session.scalar(select(Cadet.id).limit(1))
    db.session.add(Grade(cadet_id=cadet_id))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_attendance_present_is_recounted_not_incremented(admin):
    days = [make_training_day(admin, offset=i) for i in range(4)]
    cadet = make_cadet(admin)
    for _ in range(2):  # the same call twice must not double count
        bulk_attendance(admin, {"training_day_id": days[0], "cadet_ids": [cadet], "status": "present"})
    bulk_attendance(admin, {"training_day_id": days[1], "cadet_ids": [cadet], "status": "late"})
    bulk_attendance(admin, {"training_day_id": days[2], "cadet_ids": [cadet], "status": "absent"})
    g = grade_of(cadet)
    assert g.attendance_present == 2
    assert g.attendance_score == 2 * 30.0 / 4
    record = db.session.scalar(select(AttendanceRecord).where(AttendanceRecord.training_day_id == days[2]))
    update_attendance(admin, record.id, {"status": "excused"})
    assert grade_of(cadet).attendance_present == 3
    delete_training_day(admin, days[0])
    g = grade_of(cadet)
    assert (g.attendance_present, g.attendance_score) == (2, 2 * 30.0 / 3)


def test_bulk_attendance_counts_and_conflict_modes(admin):
    day = make_training_day(admin)
    ids = [make_cadet(admin) for _ in range(3)]
    assert bulk_attendance(admin, {"training_day_id": day, "cadet_ids": ids[:2], "status": "present"}) == \
        {"created": 2, "updated": 0, "skipped": 0}
    assert bulk_attendance(admin, {"training_day_id": day, "cadet_ids": ids, "status": "absent"}) == \
        {"created": 1, "updated": 0, "skipped": 2}
    assert bulk_attendance(admin, {"training_day_id": day, "cadet_ids": ids, "status": "late",
                                   "on_conflict": "update"}) == {"created": 0, "updated": 3, "skipped": 0}
    assert count(AttendanceRecord) == 3


def test_unknown_cadet_rejects_the_whole_bulk_call(admin):
    day = make_training_day(admin)
    cadet = make_cadet(admin)
    audits = count(AuditLog)
    with pytest.raises(NotFound):  # the API's bulk call: unknown ids are a 404, as in other bodies
        bulk_attendance(admin, {"training_day_id": day, "cadet_ids": [cadet, 999999], "status": "present"})
    assert count(AttendanceRecord) == 0 and count(AuditLog) == audits


def test_merit_totals_follow_the_logs_and_never_go_below_zero(admin):
    cadet = make_cadet(admin)
    m = record_merit(admin, {"cadet_id": cadet, "type": "merit", "points": 10, "reason": "Drill"})
    d = record_merit(admin, {"cadet_id": cadet, "type": "demerit", "points": 4, "reason": "Late"})
    g = grade_of(cadet)
    assert (g.merit_points, g.demerit_points, g.lifetime_merit_points) == (10, 4, 10)
    assert g.aptitude_score == 30.0  # merits restore what demerits took, capped at 100
    delete_merit(admin, m)
    g = grade_of(cadet)
    assert (g.merit_points, g.demerit_points, g.aptitude_score) == (0, 4, 96 * 3.0 / 10)
    delete_merit(admin, d)
    g = grade_of(cadet)
    assert (g.merit_points, g.demerit_points) == (0, 0)
    with pytest.raises(NotFound):
        delete_merit(admin, d)


def test_merit_issuer_is_the_acting_user_never_input(admin):
    staff = make_user("training_staff")
    cadet = make_cadet(admin)
    log_id = record_merit(staff, {"cadet_id": cadet, "type": "merit", "points": 3, "reason": "Help",
                                  "issued_by_name": "someone else", "issued_by_user_id": admin.id})
    log = db.session.get(MeritDemeritLog, log_id)
    assert (log.issued_by_user_id, log.issued_by_name) == (staff.id, staff.username)


def test_grade_version_guards_against_lost_updates(admin):
    cadet = make_cadet(admin)
    v1 = grade_of(cadet).version
    v2 = update_grade(admin, cadet, {"prelim_score": 80}, version=v1)
    assert v2 == v1 + 1
    with pytest.raises(Conflict):
        update_grade(admin, cadet, {"prelim_score": 10}, version=v1)
    g = grade_of(cadet)
    assert (g.prelim_score, g.version) == (80.0, v2)
    assert g.subject_score == 80 * 40.0 / 300


@pytest.mark.parametrize("bad", [{"prelim_score": 101}, {"prelim_score": -1}, {"status": "PASSED"},
                                 {"final_score": "abc"}, {"midterm_score": True}])
def test_grade_input_is_validated(admin, bad):
    cadet = make_cadet(admin)
    with pytest.raises(ValidationError):
        update_grade(admin, cadet, bad)
    assert grade_of(cadet).version == 1


def test_every_operation_writes_an_audit_row_with_the_actor(admin):
    cadet = make_cadet(admin)
    actions = [
        lambda: update_cadet(admin, cadet, {"first_name": "Renamed"}),
        lambda: archive_cadets(admin, [cadet]),
        lambda: restore_cadets(admin, [cadet]),
        lambda: update_grade(admin, cadet, {"final_score": 90}),
        lambda: bulk_update_grades(admin, [{"cadet_id": cadet, "midterm_score": 70}]),
        lambda: record_merit(admin, {"cadet_id": cadet, "type": "merit", "points": 1, "reason": "x"}),
        lambda: update_training_day(admin, make_training_day(admin, offset=3), {"title": "Renamed"}),
        lambda: bulk_attendance(admin, {"training_day_id": make_training_day(admin, offset=5),
                                        "cadet_ids": [cadet], "status": "present"}),
        lambda: update_settings(admin, {"unit_name": "Test Unit"}),
        lambda: update_user(admin, make_user("training_staff").id, {"role": "admin"}),
        lambda: reset_password(admin, make_user("training_staff").id, "a-new-long-password"),
        lambda: import_cadets(admin, [{"student_id": "AUD-1", "first_name": "A", "last_name": "B"}]),
    ]
    for action in actions:
        before = db.session.scalar(select(func.max(AuditLog.id))) or 0
        action()
        new = list(db.session.scalars(select(AuditLog).where(AuditLog.id > before).order_by(AuditLog.id)))
        assert new, action
        assert new[-1].user_id == admin.id
    assert not any("password" in str(a.payload) and "a-new-long-password" in str(a.payload)
                   for a in db.session.scalars(select(AuditLog)))


def test_import_is_all_or_nothing_with_per_row_errors(admin):
    rows = [{"student_id": "OK-1", "first_name": "A", "last_name": "B"},
            {"student_id": "bad id", "first_name": "", "last_name": "B"},
            {"student_id": "OK-1", "first_name": "A", "last_name": "B"}]
    with pytest.raises(ValidationError) as exc:
        import_cadets(admin, rows)
    assert {"cadets[1].student_id", "cadets[1].first_name", "cadets[2].student_id"} <= set(exc.value.details)
    assert count(Cadet) == 0 and count(Grade) == 0


@pytest.mark.parametrize("operation", ["import", "attendance", "grades", "archive"])
def test_a_failure_midway_through_a_bulk_operation_leaves_nothing(admin, operation):
    day = make_training_day(admin)
    ids = [make_cadet(admin) for _ in range(3)]
    snapshot = lambda: (count(Cadet), count(Grade), count(AttendanceRecord), count(AuditLog),  # noqa: E731
                        [(g.prelim_score, g.version) for g in db.session.scalars(select(Grade).order_by(Grade.id))],
                        [c.is_archived for c in db.session.scalars(select(Cadet).order_by(Cadet.id))])
    before = snapshot()
    plans = {
        "import": ("INSERT INTO GRADES", lambda: import_cadets(
            admin, [{"student_id": f"M-{i}", "first_name": "A", "last_name": "B"} for i in range(3)])),
        "attendance": ("INSERT INTO AUDIT_LOGS", lambda: bulk_attendance(
            admin, {"training_day_id": day, "cadet_ids": ids, "status": "present"})),
        "grades": ("INSERT INTO AUDIT_LOGS", lambda: bulk_update_grades(
            admin, [{"cadet_id": i, "prelim_score": 50} for i in ids])),
        "archive": ("INSERT INTO AUDIT_LOGS", lambda: archive_cadets(admin, ids)),
    }
    statement, action = plans[operation]
    with fail_on(statement), pytest.raises(RuntimeError):
        action()
    db.session.expire_all()
    assert snapshot() == before


def test_bulk_grade_update_is_all_or_nothing(admin):
    a, b = make_cadet(admin), make_cadet(admin)
    with pytest.raises(ValidationError):
        bulk_update_grades(admin, [{"cadet_id": a, "prelim_score": 50}, {"cadet_id": b, "prelim_score": 500}])
    with pytest.raises(NotFound):
        bulk_update_grades(admin, [{"cadet_id": a, "prelim_score": 50}, {"cadet_id": 99999, "prelim_score": 5}])
    with pytest.raises(Conflict):
        bulk_update_grades(admin, [{"cadet_id": a, "prelim_score": 50}, {"cadet_id": b, "prelim_score": 5,
                                                                           "version": 99}])
    assert grade_of(a).prelim_score is None and grade_of(b).prelim_score is None
    assert bulk_update_grades(admin, [{"cadet_id": a, "prelim_score": 50}, {"cadet_id": b, "final_score": 60}]) == 2
    assert (grade_of(a).prelim_score, grade_of(b).final_score) == (50.0, 60.0)


def test_archive_and_restore_count_only_real_changes(admin):
    ids = [make_cadet(admin) for _ in range(3)]
    assert archive_cadets(admin, ids[:2]) == 2
    assert archive_cadets(admin, ids) == 1
    assert restore_cadets(admin, ids) == 3
    with pytest.raises(ValidationError):
        archive_cadets(admin, ["1"])


def test_attendance_sheet_saves_all_statuses_in_one_go(admin):
    day = make_training_day(admin)
    a, b = make_cadet(admin), make_cadet(admin)
    assert save_sheet(admin, day, {f"status-{a}": "present", f"status-{b}": "absent", "csrf_token": "x"}) == \
        {"created": 2, "updated": 0, "skipped": 0}
    with pytest.raises(ValidationError):
        save_sheet(admin, day, {f"status-{a}": "late", f"status-{b}": "asleep"})
    statuses = dict(db.session.execute(select(AttendanceRecord.cadet_id, AttendanceRecord.status)).all())
    assert statuses == {a: "present", b: "absent"}


def test_training_day_changes_every_cadets_attendance_score(admin):
    day = make_training_day(admin)
    cadet = make_cadet(admin)
    bulk_attendance(admin, {"training_day_id": day, "cadet_ids": [cadet], "status": "present"})
    assert grade_of(cadet).attendance_score == 30.0
    make_training_day(admin, offset=1)
    assert grade_of(cadet).attendance_score == 15.0
    assert count(TrainingDay) == 2
