"""TRUSTED_PROXY_HOPS: behind a trusted load balancer the client's address and scheme come from the
forwarding headers; without the setting those headers are ignored, so nobody can spoof an address."""

from __future__ import annotations

import itertools

import pytest
from flask import Blueprint, request, url_for

from app import create_app
from config import ConfigError, load_config
from models import db
from tests import routes_probe

_apps = itertools.count()
where = Blueprint("proxyprobe", __name__)


@where.get("/api/_probe/where")
def probe_where():
    """What the app believes about the request: client address, scheme, and an external URL."""
    return {"address": request.remote_addr, "scheme": request.scheme, "secure": request.is_secure,
            "url": url_for("proxyprobe.probe_where", _external=True)}


@pytest.fixture
def make_app(app):
    """An app on the session app's database with the probe routes and a few sign-in attempts allowed."""
    built = []

    def build(**overrides):
        new = create_app({
            "MUSTER_ENV": "testing", "TESTING": True, "WTF_CSRF_ENABLED": False, "MUSTER_MONITORING": "off",
            "SECRET_KEY": app.config["SECRET_KEY"], "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "REDIS_URL": app.config["REDIS_URL"], "SIGNIN_LIMIT_PER_ADDRESS": "3 per minute",
            "CACHE_KEY_PREFIX": f"{app.config['CACHE_KEY_PREFIX']}-proxy{next(_apps)}", **overrides,
        })
        new.register_blueprint(routes_probe.bp)
        new.register_blueprint(where)
        built.append(new)
        return new

    yield build
    for new in built:
        with new.app_context():
            for engine in db.engines.values():
                engine.dispose()


def _sign_ins(client, forwarded_for: str, times: int) -> list[int]:
    return [client.post("/api/_probe/sign-in", headers={"X-Forwarded-For": forwarded_for}).status_code
            for _ in range(times)]


def test_without_the_setting_forwarding_headers_are_ignored(make_app):
    client = make_app().test_client()
    # Every "client" below really is one address; a forged X-Forwarded-For must not buy more attempts.
    statuses = [client.post("/api/_probe/sign-in", headers={"X-Forwarded-For": f"10.0.0.{i}"}).status_code
                for i in range(4)]
    assert statuses == [200, 200, 200, 429]
    seen = client.get("/api/_probe/where", headers={"X-Forwarded-For": "203.0.113.9",
                                                    "X-Forwarded-Proto": "https",
                                                    "X-Forwarded-Host": "muster.example.edu"}).json
    assert seen == {"address": "127.0.0.1", "scheme": "http", "secure": False,
                    "url": "http://localhost/api/_probe/where"}


def test_behind_a_trusted_proxy_each_client_has_its_own_address(make_app):
    client = make_app(TRUSTED_PROXY_HOPS=1, PUBLIC_URL="https://muster.example.edu",
                      TRUSTED_HOSTS=["localhost", "muster.example.edu"]).test_client()
    # A whole unit signing in through the load balancer: each address is throttled on its own.
    assert _sign_ins(client, "198.51.100.1", 4) == [200, 200, 200, 429]
    assert _sign_ins(client, "198.51.100.2", 3) == [200, 200, 200]
    # One hop trusted: only the address the proxy appended counts, not one the client forged before it.
    assert _sign_ins(client, "6.6.6.6, 198.51.100.1", 1) == [429]
    seen = client.get("/api/_probe/where", headers={"X-Forwarded-For": "198.51.100.7",
                                                    "X-Forwarded-Proto": "https",
                                                    "X-Forwarded-Host": "muster.example.edu"}).json
    assert seen == {"address": "198.51.100.7", "scheme": "https", "secure": True,
                    "url": "https://muster.example.edu/api/_probe/where"}


def test_trusted_proxy_hops_is_read_from_the_environment():
    assert load_config({})["TRUSTED_PROXY_HOPS"] == 0
    assert load_config({"TRUSTED_PROXY_HOPS": "2"})["TRUSTED_PROXY_HOPS"] == 2
    for bad in ("-1", "one"):
        with pytest.raises(ConfigError, match="TRUSTED_PROXY_HOPS"):
            load_config({"TRUSTED_PROXY_HOPS": bad})


def test_behind_a_trusted_proxy_a_forwarded_host_must_still_be_trusted(make_app):
    client = make_app(TRUSTED_PROXY_HOPS=1).test_client()  # no PUBLIC_URL: loopback names only
    refused = client.get("/api/_probe/where", headers={"X-Forwarded-Host": "evil.example"})
    assert refused.status_code == 400 and refused.json["code"] == "BAD_REQUEST"
    assert client.get("/api/_probe/where", headers={"X-Forwarded-Host": "127.0.0.1"}).status_code == 200
