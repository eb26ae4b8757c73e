"""Keyset cursors for every allow-listed sort, both directions: signed, bound to their list state,
and never skipping or repeating a row while rows are inserted and archived between page requests."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import update

from blueprints.core.operations.cadets import archive_cadets
from blueprints.core.reads.cadets import CADET_SORTS
from blueprints.core.reads.grades import GRADE_SORTS
from models import Cadet, Grade, db
from tests.factories import make_cadet, make_token, make_user
from tests.test_api_support import assert_error, body_of, call

PAGE = 4


@pytest.fixture
def admin(app):
    return make_user("admin")


@pytest.fixture
def token(admin):
    return make_token(admin)


def _varied_cadets(admin, n: int = 23) -> list[int]:
    """Cadets with ties, NULLs (company, platoon, course, year, transmuted grade) and equal names."""
    rng = random.Random(7)
    ids = [make_cadet(admin, last_name=rng.choice(("Cruz", "Reyes", "Santos")), first_name=rng.choice(("Ana", "Ben")),
                      company=rng.choice(("Alpha", "Bravo", None)), platoon=rng.choice(("1st", "2nd", None)),
                      course=rng.choice(("BSN", None)), year_level=rng.choice((1, 2, None)))
           for _ in range(n)]
    for cid in ids:
        db.session.execute(update(Grade).where(Grade.cadet_id == cid).values(
            final_grade=rng.choice((70.0, 85.5, 91.0)), transmuted_grade=rng.choice((1.5, 2.0, None)),
            attendance_score=rng.choice((10.0, 20.0))))
    db.session.commit()
    return ids


def _all_ids(client, token, path: str) -> list[int]:
    return [r["id"] for r in body_of(call(client, "GET", f"{path}&limit=100", token))["data"]]


def _walk(client, token, path: str, start: str = "after=0") -> tuple[list[int], list[dict]]:
    seen, bodies, query = [], [], start
    while query:
        body = body_of(call(client, "GET", f"{path}&limit={PAGE}&{query}", token))
        bodies.append(body)
        seen += [r["id"] for r in body["data"]]
        query = f"after={body['next_after']}" if body["next_after"] else None
    return seen, bodies


@pytest.mark.parametrize("table, sorts", [("cadets", CADET_SORTS), ("grades", GRADE_SORTS)])
def test_every_sort_walks_forward_and_back_in_list_order(client, admin, token, table, sorts):
    _varied_cadets(admin)
    for key in sorted(sorts):
        for sort in (key, f"-{key}"):
            path = f"/api/{table}?sort={sort}"
            expected = _all_ids(client, token, path)
            seen, bodies = _walk(client, token, path)
            assert seen == expected, sort
            if sort == "id":  # the id walk, as before: integer cursors, forward only
                continue
            assert bodies[0]["prev_before"] is None and bodies[-1]["next_after"] is None
            back, query = [], f"before={bodies[-1]['prev_before']}"  # from the last page backwards
            while query:
                body = body_of(call(client, "GET", f"{path}&limit={PAGE}&{query}", token))
                back = [r["id"] for r in body["data"]] + back
                query = f"before={body['prev_before']}" if body["prev_before"] else None
            assert back + [r["id"] for r in bodies[-1]["data"]] == expected, sort


def test_a_forged_or_foreign_cursor_is_a_400(client, admin, token):
    _varied_cadets(admin, 9)
    body = body_of(call(client, "GET", f"/api/cadets?sort=-final_grade&limit={PAGE}&after=0", token))
    cursor = body["next_after"]
    assert call(client, "GET", f"/api/cadets?sort=-final_grade&after={cursor}", token).status_code == 200
    for query in (f"sort=-final_grade&after={cursor[:-2]}xy", f"sort=final_grade&after={cursor}",
                  f"sort=-final_grade&company=Alpha&after={cursor}", f"sort=name&after={cursor}",
                  "sort=-name&after=abc$", "sort=-name&before=0x", "sort=-name&before=12"):
        payload = assert_error(call(client, "GET", f"/api/cadets?{query}", token), 400, "BAD_REQUEST")
        assert {"after", "before"} & set(payload["details"]), query
    assert call(client, "GET", f"/api/grades?sort=-final_grade&after={cursor}", token).status_code == 400


def test_pages_ignore_a_bad_cursor_and_keep_the_page_number(client, admin):
    from tests.factories import login

    _varied_cadets(admin, 9)
    login(client, admin)
    res = client.get("/cadets/?sort=-final_grade&page=2&per_page=5&after=forged.cursor", follow_redirects=True)
    assert res.status_code == 200 and "Showing 6" in res.get_data(as_text=True)


def test_cursor_pages_never_skip_or_repeat_while_rows_are_inserted_and_archived(client, admin, token):
    ids = _varied_cadets(admin, 30)
    rng = random.Random(3)
    for sort in ("name", "-final_grade", "platoon", "-transmuted_grade"):
        path = f"/api/cadets?sort={sort}"
        before = set(_all_ids(client, token, path))
        seen, query, archived, added = [], "after=0", set(), set()
        while query:
            body = body_of(call(client, "GET", f"{path}&limit={PAGE}&{query}", token))
            seen += [r["id"] for r in body["data"]]
            added.add(make_cadet(admin, last_name=rng.choice(("Aaron", "Cruz", "Zulu")), platoon=None))
            victim = rng.choice(sorted(before - archived))
            archive_cadets(admin, [victim])
            archived.add(victim)
            query = f"after={body['next_after']}" if body["next_after"] else None
        assert len(seen) == len(set(seen)), sort  # nothing twice
        assert before - archived <= set(seen), sort  # every row present throughout was seen
        assert set(seen) <= before | added, sort
        db.session.execute(update(Cadet).where(Cadet.id.in_(archived)).values(is_archived=False))
        db.session.commit()
    assert ids


def test_after_an_id_with_a_sort_continues_after_that_row(client, admin, token):
    _varied_cadets(admin, 11)
    expected = _all_ids(client, token, "/api/grades?sort=-final_grade")
    body = body_of(call(client, "GET", f"/api/grades?sort=-final_grade&limit=3&after={expected[4]}", token))
    assert [r["id"] for r in body["data"]] == expected[5:8]
    body = body_of(call(client, "GET", "/api/grades?sort=-final_grade&limit=3&after=99999", token))
    assert body["data"] == [] and body["next_after"] is None and body["total"] == 11


def test_the_id_walk_without_a_sort_is_unchanged(client, admin, token):
    _varied_cadets(admin, 7)
    body = body_of(call(client, "GET", "/api/cadets?after=0&limit=3", token))
    assert isinstance(body["next_after"], int) and "prev_before" not in body


def _row_ids(html: str) -> list[str]:
    import re

    return list(dict.fromkeys(re.findall(r'href="/cadets/(\d+)\?', html)))


def _link(html: str, rel: str) -> str:
    import re
    from html import unescape

    return unescape(re.search(rf'href="([^"]+)" rel="{rel}"', html).group(1))


@pytest.mark.parametrize("path", ["/cadets/?sort=-final_grade&per_page=10", "/grades/?sort=platoon&per_page=10"])
def test_page_links_next_and_previous_seek_by_cursor_and_match_the_numbered_pages(client, admin, path):
    from tests.factories import login

    _varied_cadets(admin, 25)
    login(client, admin)
    first = client.get(path).get_data(as_text=True)
    next_url = _link(first, "next")
    assert "after=" in next_url and "page=2" in next_url
    second = client.get(next_url).get_data(as_text=True)
    assert len(_row_ids(second)) == 10
    assert _row_ids(second) == _row_ids(client.get(path + "&page=2").get_data(as_text=True))
    assert "Showing 11" in second
    back = _link(second, "prev")
    assert "before=" in back
    assert _row_ids(client.get(back).get_data(as_text=True)) == _row_ids(first)
