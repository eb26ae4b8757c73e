"""What the outside scan found: odd validators, a forged Host, bodies not declared as JSON, bad
monitoring parameters, and the caching headers of signed-in pages, anonymous pages and assets."""

from __future__ import annotations

import re

import pytest

from blueprints.api.fastpath import FastPath
from blueprints.api.openapi import OPERATIONS
from blueprints.core.etags import none_match_hits, parse_etag_list
from config import ConfigError, load_config
from models import AuditLog
from tests.factories import login, make_cadet, make_cadets, make_token, make_training_day, make_user
from tests.test_api_support import assert_error, body_of, call, count

CACHED_LISTS = ["/api/cadets?limit=5", "/api/grades?limit=5", "/api/training-days", "/api/system-settings"]
# If-None-Match values: what each means for the current representation ("{tag}" is its ETag as sent).
NO_MATCH = ['""', 'W/""', '"x", ""', '"x"', 'W/"x"', ",", '"", ""', '"x" , W/"y"']
MATCH = ["*", "{tag}", "W/{tag}", '"x", {tag}', '{plain}', '"{digest}:br"', ' {tag} ', '"", {tag}']
MALFORMED = ["abc", '"unterminated', "W/", '"a" junk', '*, "x"', '"a"b"', "W/ \"a\"", '"\u00e9"'.encode().decode(
    "latin-1")]


@pytest.fixture
def admin_token(app):
    make_cadets(8)
    make_training_day()
    return make_token(make_user("admin"))


def _get(client, path, token, **headers):
    return call(client, "GET", path, token, headers={"Accept-Encoding": "gzip", **headers})


@pytest.mark.parametrize("cache_on", [True, False], ids=["cache-on", "cache-off"])
@pytest.mark.parametrize("path", CACHED_LISTS)
def test_if_none_match_values_never_fail_and_match_as_rfc_9110_says(app, client, admin_token, path, cache_on):
    app.config["MUSTER_CACHE"] = cache_on
    first = _get(client, path, admin_token)
    assert first.status_code == 200
    tag = first.headers["ETag"]
    digest = tag.strip('"').partition(":")[0]
    values = {"match": [v.format(tag=tag, plain=f'"{digest}"', digest=digest) for v in MATCH],
              "no match": NO_MATCH, "malformed (ignored)": MALFORMED}
    for _ in range(2):  # the second round is answered by the fast path where it is installed (warm entries)
        for meaning, headers in values.items():
            for value in headers:
                res = _get(client, path, admin_token, **{"If-None-Match": value})
                expected = 304 if meaning == "match" else 200
                assert res.status_code == expected, (meaning, value, res.data[:200])
                assert res.headers["ETag"] == tag and res.headers["Cache-Control"] == "private, no-cache"
                if expected == 304:
                    assert res.data == b""
                else:
                    assert body_of(res) == body_of(first)


def test_the_fast_path_answers_a_matching_validator_itself(app, client, admin_token):
    if not isinstance(app.wsgi_app, FastPath):
        pytest.skip("the fast path is installed only with Redis")
    tag = _get(client, "/api/cadets?limit=5", admin_token).headers["ETag"]
    _get(client, "/api/cadets?limit=5", admin_token)  # the token's last-used touch is done: fast from here
    reached: list[str] = []
    handed_on = app.wsgi_app.next
    app.wsgi_app.next = lambda environ, start: reached.append(environ["PATH_INFO"]) or handed_on(environ, start)
    try:
        assert _get(client, "/api/cadets?limit=5", admin_token, **{"If-None-Match": tag}).status_code == 304
        assert _get(client, "/api/cadets?limit=5", admin_token, **{"If-None-Match": '""'}).status_code == 200
    finally:
        app.wsgi_app.next = handed_on
    assert reached == []


def test_etag_list_parser_keeps_empty_and_weak_tags():
    assert parse_etag_list('"", W/"", "a:gzip"').tags == ("", "", "a:gzip")
    assert parse_etag_list("*").star and not parse_etag_list('"*"').star
    assert not parse_etag_list('"a", b').well_formed
    assert none_match_hits('W/"abc:zstd"', "abc") and not none_match_hits('"abcd"', "abc")
    assert not none_match_hits(None, "abc") and not none_match_hits("", "abc")


@pytest.mark.parametrize("header", ['""', 'W/""', '"v{v}", ""', '"", "v{v}"', "W/", '"v{v}" junk'])
def test_grade_if_match_odd_values_are_a_400_and_change_nothing(client, admin_token, header):
    cadet = make_cadet()
    got = call(client, "GET", f"/api/grades/{cadet}", admin_token)
    version = body_of(got)["data"]["version"]
    audits = count(AuditLog)
    res = call(client, "PATCH", f"/api/grades/{cadet}", admin_token, {"final_score": 1},
               headers={"If-Match": header.format(v=version)})
    assert_error(res, 400)
    assert body_of(call(client, "GET", f"/api/grades/{cadet}", admin_token))["data"]["version"] == version
    assert count(AuditLog) == audits


@pytest.mark.parametrize("value", ['""', 'W/""', '"x", ""', "*", "abc"])
def test_other_etag_senders_survive_odd_validators(client, admin_token, value):
    cadet = make_cadet()
    detail = call(client, "GET", f"/api/grades/{cadet}", admin_token, headers={"If-None-Match": value})
    assert detail.status_code == 200 and detail.headers["ETag"]
    asset = client.get("/static/css/muster.css", headers={"If-None-Match": value})
    assert asset.status_code in (200, 304) and asset.headers["ETag"]
    assert asset.status_code == (304 if value == "*" else 200)


# --- the Host a client names ----------------------------------------------------------------------

def test_a_forged_host_is_refused_on_the_qr_page_and_a_redirect(client):
    login(client, make_user("training_staff"))
    day = make_training_day()
    forged = client.get(f"/training-days/{day}/qr", headers={"Host": "evil.example"})
    assert forged.status_code == 400 and b"evil.example" not in forged.data
    signed_out = client.application.test_client()
    redirect = signed_out.get("/cadets", headers={"Host": "evil.example"})
    assert redirect.status_code == 400 and "evil.example" not in redirect.headers.get("Location", "")
    api = call(client, "GET", "/api/cadets", None, headers={"Host": "evil.example"})
    assert_error(api, 400)
    # Loopback names keep working with no configuration.
    for host in ("localhost", "127.0.0.1:8000"):
        assert client.get(f"/training-days/{day}/qr", headers={"Host": host}).status_code == 200


def test_the_fast_path_refuses_a_forged_host_like_flask(app, client, admin_token):
    _get(client, "/api/cadets?limit=5", admin_token)
    _get(client, "/api/cadets?limit=5", admin_token)
    assert_error(_get(client, "/api/cadets?limit=5", admin_token, Host="evil.example"), 400)


def test_the_qr_link_is_built_from_public_url(app, client):
    login(client, make_user("training_staff"))
    day = make_training_day()
    app.config["PUBLIC_URL"] = "https://muster.example.edu"
    try:
        html = client.get(f"/training-days/{day}/qr").get_data(as_text=True)
    finally:
        app.config["PUBLIC_URL"] = ""
    url = re.search(r'id="checkin-url" href="([^"]+)"', html)[1]
    assert url.startswith(f"https://muster.example.edu/check-in/{day}?t=")


def test_public_url_and_trusted_hosts_are_read_from_the_environment():
    assert load_config({})["TRUSTED_HOSTS"] == ["localhost", "127.0.0.1"]
    assert load_config({})["PUBLIC_URL"] == ""
    config = load_config({"PUBLIC_URL": "https://Muster.example.edu/", "TRUSTED_HOSTS": ".corps.example, a.b"})
    assert config["PUBLIC_URL"] == "https://Muster.example.edu"
    assert config["TRUSTED_HOSTS"] == ["localhost", "127.0.0.1", "muster.example.edu", ".corps.example", "a.b"]
    assert load_config({"TRUSTED_HOSTS": "*"})["TRUSTED_HOSTS"] is None
    for bad in ({"PUBLIC_URL": "muster.example.edu"}, {"PUBLIC_URL": "ftp://x.example"},
                {"PUBLIC_URL": "https://x.example/?a=1"}, {"TRUSTED_HOSTS": "evil.example/path"}):
        with pytest.raises(ConfigError):
            load_config(bad)


# --- bodies not declared as JSON ------------------------------------------------------------------

def _path_for(path: str, ids: dict[str, int]) -> str:
    return "/api" + re.sub(r"\{(\w+)\}", lambda m: str(ids.get(m.group(1), 1)), path)  # 415 comes first


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_every_json_write_refuses_a_body_not_declared_as_json(app, client, content_type):
    admin = make_user("admin")
    token = make_token(admin)
    cadet = make_cadet(admin)
    day = make_training_day(admin)
    call(client, "POST", "/api/attendance/bulk", token, {"training_day_id": day, "cadet_ids": [cadet],
                                                          "status": "present"})
    record = body_of(call(client, "GET", f"/api/attendance?training_day_id={day}", token))["data"][0]["id"]
    ids = {"cadet_id": cadet, "day_id": day, "record_id": record, "log_id": 1}
    writes = [op for op in OPERATIONS if op.body]
    assert len(writes) >= 10
    audits = count(AuditLog)
    for op in writes:
        headers = {"Authorization": f"Bearer {token}"}
        if content_type:
            headers["Content-Type"] = content_type
        res = client.open(_path_for(op.path, ids), method=op.method.upper(), data=b'{"name": "x"}', headers=headers)
        payload = assert_error(res, 415, "UNSUPPORTED_MEDIA_TYPE")
        assert "Content-Type" in payload["details"], op.endpoint
    assert count(AuditLog) == audits


def test_415_is_documented_for_every_json_write(client):
    doc = body_of(client.get("/api/openapi.json"))
    for op in OPERATIONS:
        if op.body:
            assert "415" in doc["paths"]["/api" + op.path][op.method]["responses"], op.endpoint


# --- monitoring parameters ------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "name", "value"), [
    ("/api/metrics", "window", "nan"), ("/api/metrics", "window", "-5"), ("/api/metrics", "window", "1e999"),
    ("/api/metrics", "window", ""), ("/api/metrics", "sort", "p100"), ("/api/metrics", "direction", "up"),
    ("/api/metrics", "windows", "1h"), ("/api/system/slow-queries", "window", "nan"),
    ("/api/system/slow-queries", "sort", "p95"), ("/api/cache/stats", "window", "1h"),
    ("/api/metrics/database", "x", "1"),
])
def test_bad_monitoring_parameters_are_a_400_naming_them(client, path, name, value):
    token = make_token(make_user("admin"))
    payload = assert_error(call(client, "GET", f"{path}?{name}={value}", token), 400, "BAD_REQUEST")
    assert name in payload["details"] and name in payload["message"]


def test_good_monitoring_parameters_still_answer(client):
    token = make_token(make_user("admin"))
    for query in ("window=5m&sort=p99&direction=asc", "window=1d", ""):
        assert call(client, "GET", f"/api/metrics?{query}", token).status_code == 200
    assert body_of(call(client, "GET", "/api/system/slow-queries?window=5m", token))["data"]["window"] == "5m"
    # The dashboard page stays lenient: a bad window falls back to the default.
    login(client, make_user("admin", username="dash-admin"))
    assert client.get("/admin/performance?window=nan").status_code == 200


# --- caching headers ------------------------------------------------------------------------------

def test_signed_in_pages_are_never_stored_anonymous_pages_and_assets_keep_their_caching(client):
    anonymous = client.get("/login")
    assert anonymous.status_code == 200 and "no-store" not in anonymous.headers.get("Cache-Control", "")
    asset = client.get("/static/css/muster.css")
    assert "no-store" not in asset.headers.get("Cache-Control", "")
    login(client, make_user("training_staff"))
    make_cadet()
    for path in ("/cadets/", "/grades/", "/training-days/", "/account"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert page.headers["Cache-Control"] == "private, no-store", path
    export = client.get("/cadets/export.csv")
    assert export.headers["Cache-Control"] == "no-store"  # its own header is kept
    fingerprinted = re.search(r'href="(/static/css/muster\.css\?v=[0-9a-f]+)"', client.get("/cadets/").get_data(
        as_text=True))[1]
    assert "immutable" in client.get(fingerprinted).headers["Cache-Control"]
    client.post("/logout")
    assert "no-store" not in client.get("/login").headers.get("Cache-Control", "")

