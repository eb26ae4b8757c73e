"""Cadet search, as Django admin searches: split on spaces and commas, every word must match the name
or the student id. The cadets and grades pages, the API and the attendance list share the rule."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from sqlalchemy import text

from blueprints.core.operations.attendance import mark_attendance
from models import db
from tests.conftest import is_postgres
from tests.factories import make_cadet, make_training_day, make_user, row_ids, signed_in
from tests.test_api_support import body_of, call, tokens

FINDS_LIZA = ["Liza Castro", "castro liza", "Castro, Liza", "Castro, Liza R.", "  CASTRO ,, liza ", "2026-00777 liza",
              "castro 00777", "Liza Reyes Castro"]


@pytest.fixture
def people(app):
    return {
        "liza": make_cadet(student_id="2026-00777", last_name="Castro", first_name="Liza", middle_name="Reyes"),
        "lito": make_cadet(student_id="2026-00778", last_name="Castro", first_name="Lito"),
        "liza_other": make_cadet(student_id="2026-00779", last_name="Santos", first_name="Liza"),
        "percent": make_cadet(student_id="2026-00780", last_name="O'Brien", first_name="Ana_Maria"),
    }


@pytest.mark.parametrize("term", FINDS_LIZA)
def test_every_word_must_match_on_the_page(client, people, term):
    signed_in(client)
    html = client.get("/cadets/", query_string={"search": term}).get_data(as_text=True)
    assert row_ids(html) == [people["liza"]]


def test_one_word_still_finds_everyone_it_names(client, people):
    signed_in(client)
    html = client.get("/cadets/?search=castro").get_data(as_text=True)
    assert sorted(row_ids(html)) == sorted([people["liza"], people["lito"]])
    assert row_ids(client.get("/cadets/?search=liza+santos").get_data(as_text=True)) == [people["liza_other"]]


@pytest.mark.parametrize("term", ["Liza Cruz", "castro maria", "ana%", "liza_", "liza,castro,zzz"])
def test_a_word_that_matches_nobody_finds_nothing(client, people, term):
    signed_in(client)
    html = client.get("/cadets/", query_string={"search": term}).get_data(as_text=True)
    assert row_ids(html) == []


def test_wildcards_are_literal_and_only_commas_do_not_narrow(client, people):
    signed_in(client)
    assert row_ids(client.get("/cadets/", query_string={"search": "ana_maria"}).get_data(as_text=True)) == [
        people["percent"]]
    assert len(row_ids(client.get("/cadets/", query_string={"search": " , ,"}).get_data(as_text=True))) == 4


@pytest.mark.parametrize("term", FINDS_LIZA[:4])
def test_the_api_and_the_grades_page_share_the_rule(client, people, term):
    token = tokens()["admin"]
    res = call(client, "GET", "/api/cadets?" + urlencode({"search": term}), token)
    assert res.status_code == 200, res.data
    assert [c["id"] for c in body_of(res)["data"]] == [people["liza"]]
    signed_in(client)
    assert row_ids(client.get("/grades/", query_string={"search": term}).get_data(as_text=True)) == [people["liza"]]


def test_the_attendance_list_shares_the_rule(client, people):
    admin = make_user("admin")
    day = make_training_day(admin)
    mark_attendance(admin, day, {cid: "present" for cid in people.values()})
    signed_in(client)
    html = client.get(f"/training-days/{day}", query_string={"search": "Castro, Liza"}).get_data(as_text=True)
    assert len(row_ids(html)) == 1


def test_postgres_answers_word_search_from_the_trigram_index(app, people):
    if not is_postgres():
        pytest.skip("pg_trgm is PostgreSQL only")
    from blueprints.core.reads.cadets import CADET_SPEC, cadet_search
    from models import Cadet

    stmt = db.select(Cadet.id).where(cadet_search("castro liza"))
    sql = str(stmt.compile(db.engine, compile_kwargs={"literal_binds": True}))
    db.session.execute(text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(db.session.scalars(text("EXPLAIN " + sql)))
    db.session.rollback()
    assert "ix_cadets_search_trgm" in plan, plan
    assert CADET_SPEC.search is cadet_search
