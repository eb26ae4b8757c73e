"""QR self check-in: a day's code (token, URL, SVG), which day a scanned code opens, and who a scan is for."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import segno
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from blueprints.core.checkin_codes import read_code, sign_code
from blueprints.core.errors import Forbidden, NotFound, ValidationError
from blueprints.core.reads.cadets import full_name
from blueprints.core.routing import public_url_for
from models import CADET_ROLE, AttendanceRecord, Cadet, TrainingDay, User, db

# There is no time-zone setting yet, so a day's code is valid on its date in UTC and the late
# cut-off is a UTC time; a unit far from UTC needs that setting before relying on the QR code.
UNIT_ZONE = UTC


class CheckInRefused(ValidationError):
    """A code that cannot check anyone in: forged, replaced, expired, not yet open or for another day."""

    message = "This check-in code cannot be used."


def _refuse(message: str, reason: str) -> CheckInRefused:
    return CheckInRefused(message, {"token": [reason]})


def usable_day(session: Session, token: Any, day_id: int | None, now: datetime) -> TrainingDay:
    """The training day a scanned code opens now, or CheckInRefused saying plainly why not."""
    if token is None or token == "":
        raise CheckInRefused("No check-in code was given; scan the day's QR code again.", {"token": ["is required"]})
    code = read_code(token)
    if code is None:
        raise _refuse("This is not a genuine Muster check-in code.", "is not a genuine check-in code")
    code_day, nonce = code
    if day_id is not None and code_day != day_id:
        raise _refuse("This code is for another training day.", "is for another training day")
    day = session.get(TrainingDay, code_day)
    if day is None:
        raise _refuse("The training day of this code no longer exists.", "names a deleted training day")
    if not hmac.compare_digest(day.checkin_nonce, nonce):
        raise _refuse("This code was replaced by a newer one; scan the code shown now.", "was replaced")
    today = now.astimezone(UNIT_ZONE).date()
    if today > day.date:
        raise _refuse(f"This code has expired: it was for {day.date.isoformat()}.", "has expired")
    if today < day.date:
        raise _refuse(f"Check-in for this day opens on {day.date.isoformat()}.", "is not open yet")
    return day


def cadet_to_check_in(session: Session, actor: User, student_id: str | None) -> Cadet:
    """A cadet account checks in only its own cadet; staff (a kiosk) name the cadet by student ID."""
    if actor.role == CADET_ROLE:
        cadet = session.get(Cadet, actor.cadet_id) if actor.cadet_id else None
        if cadet is None:
            raise Forbidden("Your account is not linked to a cadet record; ask the training staff.")
        if student_id is not None and student_id != cadet.student_id:
            raise Forbidden("You can only check yourself in.", {"student_id": ["must be your own or left out"]})
    else:
        if student_id is None:
            raise ValidationError("Name the cadet to check in.", {"student_id": ["is required for staff"]})
        cadet = session.scalar(select(Cadet).where(Cadet.student_id == student_id))
        if cadet is None:
            raise ValidationError("No cadet has that student ID.", {"student_id": ["does not exist"]})
    if cadet.is_archived:
        raise ValidationError("This cadet is archived and cannot check in.", {"student_id": ["is archived"]})
    return cadet


def existing_check_in(session: Session, day_id: int, cadet_id: int) -> dict[str, Any] | None:
    row = session.execute(
        select(AttendanceRecord.id.label("record_id"), AttendanceRecord.status, AttendanceRecord.time_in)
        .where(AttendanceRecord.training_day_id == day_id, AttendanceRecord.cadet_id == cadet_id)
    ).mappings().first()
    return dict(row) if row else None


def check_in_page(actor: User, token: Any, day_id: int, now: datetime) -> dict[str, Any]:
    """What the scan page shows before the cadet confirms: the day, who they are, any record already there."""
    session = db.session
    day = usable_day(session, token, day_id, now)
    cadet = cadet_to_check_in(session, actor, None)
    return {"day": {"id": day.id, "title": day.title, "date": day.date, "location": day.location},
            "cadet": {"id": cadet.id, "student_id": cadet.student_id,
                      "full_name": full_name({"last_name": cadet.last_name, "first_name": cadet.first_name,
                                              "middle_name": cadet.middle_name, "suffix": cadet.suffix})},
            "record": existing_check_in(session, day.id, cadet.id), "token": token}


def get_checkin_code(day_id: int) -> dict[str, Any]:
    """A day's current code: the absolute check-in URL, its QR code as inline SVG, the cut-off and count."""
    row = db.session.execute(
        select(TrainingDay.id, TrainingDay.date, TrainingDay.checkin_nonce, TrainingDay.checkin_cutoff)
        .where(TrainingDay.id == day_id)
    ).first()
    if row is None:
        raise NotFound("No training day with that id.")
    url = public_url_for("checkin.scan", day_id=day_id, t=sign_code(day_id, row.checkin_nonce))
    checked_in = db.session.scalar(select(func.count(AttendanceRecord.id)).where(
        AttendanceRecord.training_day_id == day_id, AttendanceRecord.time_in.is_not(None)))
    return {"url": url, "svg": qr_svg(url), "cutoff": row.checkin_cutoff, "date": row.date,
            "checked_in": checked_in}


@lru_cache(maxsize=128)  # pure, and redrawn on every view of a training day's page otherwise
def qr_svg(url: str) -> str:
    """The QR code of `url` as scalable inline SVG (no size attributes: CSS sizes it)."""
    return segno.make(url, error="m").svg_inline(scale=1, omitsize=True, border=4, svgclass="qr", light="#fff",
                                                 lineclass=None, title="Check-in QR code")
