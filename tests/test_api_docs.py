"""/api/docs: the OpenAPI document as a page for people, served by the app under the strict CSP."""

from __future__ import annotations

import html
import re
from pathlib import Path

import orjson

from tests.factories import login, make_user


def test_the_docs_page_names_every_path_and_operation_of_the_document(client):
    doc = orjson.loads(client.get("/api/openapi.json").data)
    res = client.get("/api/docs")
    assert res.status_code == 200 and res.mimetype == "text/html"
    page = html.unescape(res.get_data(as_text=True))
    for path, methods in doc["paths"].items():
        assert f"<code>{path}</code>" in page, path
        for method, op in methods.items():
            section = re.search(rf'<section class="card api-op" id="{method}-[^"]*">\s*<h2><span class="method '
                                rf'method-{method}">{method.upper()}</span> <code>{re.escape(path)}</code></h2>'
                                rf'(.*?)</section>', page, re.S)
            assert section, (method, path)
            assert op["summary"] in section[1] and "curl -s -X" in section[1], (method, path)
            for param in op.get("parameters", ()):
                assert f"<code>{param['name']}</code>" in section[1], (method, path, param["name"])


def test_the_docs_load_nothing_from_elsewhere_and_keep_the_csp(client):
    res = client.get("/api/docs")
    csp = res.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    body = res.get_data(as_text=True)
    assert not re.search(r'(?:src|href)="(?:https?:)?//', body)  # no CDN: every asset is the app's own
    assert "<style" not in body and " style=" not in body and "<script>" not in body


def test_the_docs_are_linked_from_the_token_page_and_the_readme(client):
    login(client, make_user("training_staff"))
    assert 'href="/api/docs"' in client.get("/account/tokens").get_data(as_text=True)
    assert "/api/docs" in (Path(__file__).parents[1] / "README.md").read_text()
