"""Print-ready grade sheets (pages of 40 cadets) and a cadet's one-page record."""

from __future__ import annotations

from datetime import date
from typing import Any

from blueprints.core.errors import ValidationError
from blueprints.core.reads.cadets import get_cadet, shape_cadet
from blueprints.core.reads.selects import select_cadets_with_grades
from blueprints.core.reads.settings import get_settings
from models import Cadet, db

ROWS_PER_PAGE = 40
MAX_PRINTED_CADETS = 2000  # 50 pages; a whole unit of 100,000 cadets is not a print job
RECORD_MERITS = 12  # the latest entries that still fit the one-page record...
RECORD_REASON_CHARS = 80  # ...each on one line


def _chunks(rows: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [rows[i:i + size] for i in range(0, len(rows), size)] or [[]]


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "\u2026"


def grade_sheet(company: str, platoon: str | None, today: date) -> dict[str, Any]:
    """Active cadets of a company (or one of its platoons) by platoon and name, in pages of 40."""
    stmt = (select_cadets_with_grades()
            .where(Cadet.is_archived.is_(False), Cadet.company == company)
            .order_by(Cadet.platoon, Cadet.last_name, Cadet.first_name, Cadet.id)
            .limit(MAX_PRINTED_CADETS + 1))
    if platoon:
        stmt = stmt.where(Cadet.platoon == platoon)
    rows = [shape_cadet(dict(r)) for r in db.session.execute(stmt).mappings()]
    if len(rows) > MAX_PRINTED_CADETS:
        raise ValidationError("Too many cadets for one print job; choose a platoon.",
                              {"platoon": [f"a sheet holds at most {MAX_PRINTED_CADETS:,} cadets"]})
    for number, row in enumerate(rows, 1):
        row["number"] = number
    pages = _chunks(rows, ROWS_PER_PAGE)
    return {"settings": get_settings(), "company": company, "platoon": platoon, "total": len(rows),
            "pages": pages, "page_count": len(pages), "printed_on": today}


def cadet_record(cadet_id: int, today: date) -> dict[str, Any]:
    """A cadet's profile, grades, latest merits and attendance, sized for one page."""
    cadet = get_cadet(cadet_id)
    merits = cadet["merit_logs"]
    cadet["merit_logs"] = [{**m, "reason": _shorten(m["reason"], RECORD_REASON_CHARS)} for m in merits[:RECORD_MERITS]]
    cadet["merits_not_shown"] = max(0, len(merits) - RECORD_MERITS)
    return {"cadet": cadet, "settings": get_settings(), "printed_on": today}
