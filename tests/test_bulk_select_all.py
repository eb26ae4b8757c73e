"""Bulk actions on "all N matching this filter", not just the ticked rows; the confirm page names the
cadets (the first 20 by name) and posts exactly the ids it confirmed."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from blueprints.core.operations.cadets import archive_cadets
from models import AuditLog, Cadet, db
from tests.factories import make_cadet, make_cadets, signed_in


def _archived() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count(Cadet.id)).where(Cadet.is_archived.is_(True)))


def test_the_list_offers_all_matching_with_the_filter(client):
    signed_in(client)
    make_cadets(30, company="Alpha")
    make_cadets(5, company="Bravo")
    html = client.get("/cadets/?company=Alpha&per_page=10").get_data(as_text=True)
    assert "Or all 30 cadets matching this filter" in html
    assert re.search(r'name="match" value="company=Alpha"', html)


def test_confirm_lists_the_first_20_names_then_archives_every_match(client):
    admin = signed_in(client)
    make_cadets(30, company="Alpha")
    make_cadets(5, company="Bravo")
    form = {"action": "archive", "all_matching": "1", "match": "company=Alpha", "next": "/cadets/?company=Alpha"}
    ask = client.post("/cadets/bulk", data=form).get_data(as_text=True)
    assert "Archive 30 cadets?" in ask
    names = re.findall(r"<li>(L\d{4}, F\d{4})", ask)
    assert names == [f"L{i:04d}, F{i:04d}" for i in range(20)]
    assert "and 10 more." in ask
    ids = re.findall(r'<input type="hidden" name="ids" value="(\d+)">', ask)
    assert len(ids) == 30 and _archived() == 0  # nothing written before confirming
    done = client.post("/cadets/bulk", data={"action": "archive", "ids": ids, "confirm": "yes",
                                             "next": form["next"]}, follow_redirects=True)
    assert "Archived 30 cadets." in done.get_data(as_text=True)
    assert _archived() == 30
    audit = db.session.scalars(select(AuditLog).where(AuditLog.table_name == "cadets",
                                                      AuditLog.user_id == admin.id)).all()
    assert [a.payload.get("count") for a in audit if a.payload.get("action") == "archive"] == [30]


def test_all_matching_respects_search_and_the_archived_filter(client):
    admin = signed_in(client)
    keep = make_cadet(admin, last_name="Castro", first_name="Liza")
    gone = make_cadet(admin, last_name="Castro", first_name="Lito")
    make_cadet(admin, last_name="Santos", first_name="Liza")
    archive_cadets(admin, [gone])
    ask = client.post("/cadets/bulk", data={"action": "restore", "all_matching": "1",
                                            "match": "archived=archived&search=castro"}).get_data(as_text=True)
    assert "Restore 1 cadet?" in ask and "Castro, Lito" in ask and "Castro, Liza" not in ask
    ask = client.post("/cadets/bulk", data={"action": "archive", "all_matching": "1",
                                            "match": "search=Castro, Liza"}).get_data(as_text=True)
    assert re.findall(r'name="ids" value="(\d+)"', ask) == [str(keep)]


def test_too_many_matching_is_refused_without_writing(client, monkeypatch):
    import blueprints.cadets as cadet_pages

    signed_in(client)
    make_cadets(12)
    monkeypatch.setattr(cadet_pages, "MAX_BULK", 10)
    res = client.post("/cadets/bulk", data={"action": "archive", "all_matching": "1", "match": "",
                                            "confirm": "yes"}, follow_redirects=True)
    assert "At most 10 cadets at once" in res.get_data(as_text=True)
    assert _archived() == 0
