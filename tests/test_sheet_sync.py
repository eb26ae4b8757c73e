"""The offline sheet's sync endpoint: one queued batch under its Idempotency-Key, applied once, only for
the user who made it, with marks changed on the server since the sheet's copy returned as conflicts."""

from __future__ import annotations

from sqlalchemy import func, select

from blueprints.core.operations.attendance import save_sheet, update_attendance
from models import AttendanceRecord, AuditLog, db
from tests.factories import login, make_cadet, make_training_day, make_user


def _sync(client, day: int, body, key: str | None = "k-1"):
    return client.post(f"/training-days/{day}/sheet/sync", json=body,
                       headers={"Idempotency-Key": key} if key else {})


def _record(day: int, cadet: int) -> tuple[str, int] | None:
    db.session.expire_all()
    row = db.session.execute(select(AttendanceRecord.status, AttendanceRecord.version).where(
        AttendanceRecord.training_day_id == day, AttendanceRecord.cadet_id == cadet)).first()
    return tuple(row) if row else None


def _offline_audits() -> int:
    return sum(1 for a in db.session.scalars(select(AuditLog).where(AuditLog.table_name == "attendance_records"))
               if a.payload.get("action") == "offline_sheet")


def test_a_batch_is_applied_once_whatever_the_retries(app, client):
    staff = make_user("training_staff")
    cadets = [make_cadet() for _ in range(3)]
    day = make_training_day()
    login(client, staff)
    state = client.get(f"/training-days/{day}/sheet/sync")
    assert state.status_code == 200 and state.json["data"]["user_id"] == staff.id and state.json["data"]["csrf_token"]
    body = {"user_id": staff.id, "marks": [{"cadet_id": c, "status": "present", "base_version": 0} for c in cadets]}
    first = _sync(client, day, body)
    assert first.status_code == 200
    assert first.json["data"] | {"versions": None} == {"created": 3, "updated": 0, "skipped": 0, "conflicts": [],
                                                       "versions": None}
    assert first.json["data"]["versions"] == {str(c): 1 for c in cadets}
    again = _sync(client, day, body)  # the answer was lost: the same batch is sent again
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json and _offline_audits() == 1
    assert [_record(day, c) for c in cadets] == [("present", 1)] * 3
    audit = db.session.scalar(select(AuditLog).where(AuditLog.user_id == staff.id,
                                                     AuditLog.table_name == "attendance_records"))
    assert audit.payload["action"] == "offline_sheet" and audit.payload["conflicts"] == 0


def test_a_mark_changed_since_the_sheet_was_drawn_is_a_conflict_not_an_overwrite(app, client):
    staff, admin = make_user("training_staff"), make_user("admin")
    ana, ben, cy = make_cadet(), make_cadet(), make_cadet()
    day = make_training_day()
    save_sheet(admin, day, {f"status-{ana}": "present", f"status-{ben}": "present", f"status-{cy}": "present"})
    save_sheet(admin, day, {f"status-{ana}": "excused", f"status-{cy}": "late"})  # after the sheet was cached
    login(client, staff)
    marks = [{"cadet_id": ana, "status": "absent", "base_version": 1},   # changed since: a conflict
             {"cadet_id": ben, "status": "late", "base_version": 1},     # unchanged since: applied
             {"cadet_id": cy, "status": "late", "base_version": 1}]      # changed to the same: nothing to do
    answer = _sync(client, day, {"user_id": staff.id, "marks": marks})
    assert answer.status_code == 200
    data = answer.json["data"]
    assert data["conflicts"] == [{"cadet_id": ana, "status": "absent", "base_version": 1,
                                  "server_status": "excused", "server_version": 2}]
    assert (data["updated"], data["versions"]) == (1, {str(ana): 2, str(ben): 2, str(cy): 2})
    assert _record(day, ana) == ("excused", 2) and _record(day, ben) == ("late", 2)
    chosen = _sync(client, day, {"user_id": staff.id, "marks": [{"cadet_id": ana, "status": "absent",
                                                                 "base_version": 2}]}, key="k-2")
    assert chosen.json["data"]["conflicts"] == [] and _record(day, ana) == ("absent", 3)


def test_every_change_of_a_record_moves_its_version(app):
    admin = make_user("admin")
    cadet = make_cadet()
    day = make_training_day()
    save_sheet(admin, day, {f"status-{cadet}": "present"})
    record = db.session.scalar(select(AttendanceRecord.id))
    update_attendance(admin, record, {"remarks": "came back"})
    assert _record(day, cadet) == ("present", 2)
    save_sheet(admin, day, {f"status-{cadet}": "present"})  # the same status: not a change
    assert _record(day, cadet) == ("present", 2)


def test_a_batch_waits_for_its_own_user_and_a_signed_in_session(app, client):
    staff, other = make_user("training_staff"), make_user("training_staff")
    cadet = make_cadet()
    day = make_training_day()
    body = {"user_id": staff.id, "marks": [{"cadet_id": cadet, "status": "present", "base_version": 0}]}
    signed_out = _sync(client, day, body)
    assert signed_out.status_code == 401 and signed_out.json["code"] == "UNAUTHORIZED"
    assert client.get(f"/training-days/{day}/sheet/sync").status_code == 401  # JSON, not a redirect
    login(client, other)
    refused = _sync(client, day, body)
    assert refused.status_code == 409 and refused.json["code"] == "OTHER_USER"
    assert _record(day, cadet) is None
    login(client, make_user("cadet"))
    assert _sync(client, day, body).status_code == 403


def test_bad_batches_are_refused_whole(app, client):
    staff = make_user("training_staff")
    cadet = make_cadet()
    day = make_training_day()
    login(client, staff)
    good = {"cadet_id": cadet, "status": "present", "base_version": 0}
    assert _sync(client, day, {"user_id": staff.id, "marks": [good]}, key=None).status_code == 400
    for n, (marks, field) in enumerate([
        ([good, good], "marks[1].cadet_id"),
        ([{**good, "status": "asleep"}], "marks[0].status"),
        ([{**good, "cadet_id": True}], "marks[0].cadet_id"),
        ([{**good, "base_version": -1}], "marks[0].base_version"),
        ([good, "x"], "marks[1].cadet_id"),
    ]):
        answer = _sync(client, day, {"user_id": staff.id, "marks": marks}, key=f"bad-{n}")
        assert answer.status_code == 422 and field in answer.json["details"], (marks, answer.json)
    assert _sync(client, day, {"user_id": staff.id, "marks": "all"}, key="bad-x").status_code == 422
    assert _sync(client, day, ["not", "an", "object"], key="bad-y").status_code == 422
    unknown = _sync(client, day, {"user_id": staff.id, "marks": [{**good, "cadet_id": 999_999}]}, key="bad-z")
    assert unknown.status_code == 404
    assert db.session.scalar(select(func.count()).select_from(AttendanceRecord)) == 0
