"""The merit/demerit log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_

from blueprints.core.cache import Read
from blueprints.core.errors import NotFound
from blueprints.core.liststate import Filter, ListSpec, ListState
from blueprints.core.reads import fetch_page
from blueprints.core.reads.selects import select_merit_logs
from models import MERIT_TYPES, Cadet, MeritDemeritLog, db

MERIT_SPEC = ListSpec(
    "merits",
    {"date_recorded": (MeritDemeritLog.date_recorded,), "points": (MeritDemeritLog.points,),
     "type": (MeritDemeritLog.type,), "name": (Cadet.last_name, Cadet.first_name), "id": (MeritDemeritLog.id,)},
    "date_recorded", MeritDemeritLog.id, default_desc=True,
    filters={
        "cadet_id": Filter("int", lambda v: MeritDemeritLog.cadet_id == v, label="Cadet"),
        "type": Filter("choice", lambda v: MeritDemeritLog.type == v, MERIT_TYPES, label="Type"),
        "company": Filter("text", lambda v: Cadet.company == v, label="Company"),
    },
    search=lambda t: or_(Cadet.last_name.icontains(t, autoescape=True), Cadet.student_id.icontains(t, autoescape=True),
                         MeritDemeritLog.reason.icontains(t, autoescape=True)),
)


MERITS_LIST = Read("merits:list", ("merits", "cadets"))


def list_merits(state: ListState, *, clamp_page: bool = False) -> dict[str, Any]:
    return MERITS_LIST.get((state.cache_args(), clamp_page),
                           lambda: fetch_page(select_merit_logs(), state, clamp_page=clamp_page))


def get_merit(log_id: int) -> dict[str, Any]:
    """One log entry, with its cadet's name."""
    row = db.session.execute(select_merit_logs().where(MeritDemeritLog.id == log_id)).mappings().first()
    if row is None:
        raise NotFound("No merit/demerit entry with that id.")
    return dict(row)
