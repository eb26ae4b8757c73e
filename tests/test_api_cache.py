"""The response cache of the list endpoints: gzip bodies served as stored, strong ETags, 304s,
and a write followed by a read returns the new value at once."""

from __future__ import annotations

import gzip

import orjson
import pytest

from tests.factories import make_cadet, make_cadets, make_training_day
from tests.test_api_support import body_of, call, tokens

CACHED = ("/api/cadets", "/api/grades", "/api/training-days", "/api/system-settings")
GZIP = {"Accept-Encoding": "gzip, deflate, br"}


@pytest.fixture
def tok(app):
    make_cadets(30)
    make_training_day()
    return tokens()["admin"]


@pytest.mark.parametrize("path", CACHED)
def test_gzip_body_etag_and_304(client, tok, path):
    first = call(client, "GET", path, tok, headers=GZIP)
    assert first.status_code == 200
    assert first.headers["Content-Encoding"] == "gzip"  # gzip once, not again by Flask-Compress
    assert "Accept-Encoding" in first.headers["Vary"]
    etag = first.headers["ETag"]
    assert etag.startswith('"') and etag.endswith(':gzip"') and not etag.startswith("W/")
    payload = orjson.loads(gzip.decompress(first.data))
    assert "data" in payload
    again = call(client, "GET", path, tok, headers=GZIP)
    assert again.headers["ETag"] == etag and again.data == first.data
    not_modified = call(client, "GET", path, tok, headers={**GZIP, "If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.data == b""
    assert not_modified.headers["ETag"] == etag
    # A client that does not take gzip gets the plain body under the plain-body ETag.
    plain = call(client, "GET", path, tok, headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    assert orjson.loads(plain.data) == payload
    assert plain.headers["ETag"] == etag.replace(":gzip", "")
    assert call(client, "GET", path, tok, headers={"If-None-Match": plain.headers["ETag"]}).status_code == 304
    assert call(client, "GET", path, tok, headers={"If-None-Match": '"other"'}).status_code == 200


def test_a_hit_runs_no_query_but_the_token_lookup(client, tok, count_queries):
    call(client, "GET", "/api/cadets?limit=20&sort=-final_grade", tok, headers=GZIP)
    with count_queries() as log:
        res = call(client, "GET", "/api/cadets?limit=20&sort=-final_grade", tok, headers=GZIP)
    assert res.status_code == 200
    assert not log.matching(r"FROM cadets"), log
    # A different but equivalent query string is the same entry (normalised list state).
    with count_queries() as log:
        call(client, "GET", "/api/cadets?sort=-final_grade&limit=20&page=1", tok, headers=GZIP)
    assert not log.matching(r"FROM cadets")


def _fetch(client, tok, path):
    res = call(client, "GET", path, tok, headers=GZIP)
    return res.headers["ETag"], body_of(res)


def test_cadets_write_then_read(client, tok):
    cid = make_cadet(last_name="Aaron")
    etag, before = _fetch(client, tok, "/api/cadets?search=aaron")
    assert before["data"][0]["company"] == "Alpha"
    call(client, "PATCH", f"/api/cadets/{cid}", tok, {"company": "Echo"})
    new_etag, after = _fetch(client, tok, "/api/cadets?search=aaron")
    assert after["data"][0]["company"] == "Echo" and new_etag != etag
    assert call(client, "GET", "/api/cadets?search=aaron", tok, headers={**GZIP, "If-None-Match": etag}
                ).status_code == 200
    call(client, "DELETE", f"/api/cadets/{cid}", tok)
    assert _fetch(client, tok, "/api/cadets?search=aaron")[1]["total"] == 0


def test_grades_write_then_read(client, tok):
    cid = make_cadet(last_name="Zed")
    _, before = _fetch(client, tok, "/api/grades?search=zed")
    call(client, "PATCH", f"/api/grades/{cid}", tok, {"final_score": 88})
    _, after = _fetch(client, tok, "/api/grades?search=zed")
    assert before["data"][0]["grades"]["final_score"] is None
    assert after["data"][0]["grades"]["final_score"] == 88.0
    assert after["data"][0]["grades"]["final_grade"] > before["data"][0]["grades"]["final_grade"]
    call(client, "POST", "/api/grades/bulk-update", tok, {"items": [{"cadet_id": cid, "final_score": 10}]})
    assert _fetch(client, tok, "/api/grades?search=zed")[1]["data"][0]["grades"]["final_score"] == 10.0
    call(client, "POST", "/api/merit-demerits", tok, {"cadet_id": cid, "type": "merit", "points": 4, "reason": "x"})
    assert _fetch(client, tok, "/api/cadets?search=zed")[1]["data"][0]["grades"]["merit_points"] == 4


def test_training_days_write_then_read(client, tok):
    _, before = _fetch(client, tok, "/api/training-days")
    res = call(client, "POST", "/api/training-days", tok, {"date": "2027-01-05", "title": "New"})
    day = body_of(res)["data"]["id"]
    _, after = _fetch(client, tok, "/api/training-days")
    assert after["total"] == before["total"] + 1 and after["data"][0]["id"] == day
    cadet = make_cadet()
    call(client, "POST", "/api/attendance/bulk", tok, {"training_day_id": day, "cadet_ids": [cadet],
                                                       "status": "present"})
    assert _fetch(client, tok, "/api/training-days")[1]["data"][0]["present_count"] == 1
    call(client, "PATCH", f"/api/training-days/{day}", tok, {"title": "Renamed"})
    assert _fetch(client, tok, "/api/training-days")[1]["data"][0]["title"] == "Renamed"


def test_settings_write_then_read(client, tok):
    assert _fetch(client, tok, "/api/system-settings")[1]["data"]["unit_name"] == "ROTC Unit"
    call(client, "PUT", "/api/system-settings", tok, {"unit_name": "Bravo Battalion"})
    assert _fetch(client, tok, "/api/system-settings")[1]["data"]["unit_name"] == "Bravo Battalion"


def test_with_caching_off_lists_are_still_served_and_fresh(client, tok, app):
    app.config["MUSTER_CACHE"] = False
    cid = make_cadet(last_name="Off")
    first = call(client, "GET", "/api/cadets?search=off", tok, headers=GZIP)
    assert first.headers["Content-Encoding"] == "gzip"
    call(client, "PATCH", f"/api/cadets/{cid}", tok, {"platoon": "P9"})
    assert body_of(call(client, "GET", "/api/cadets?search=off", tok))["data"][0]["platoon"] == "P9"
