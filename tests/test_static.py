"""Static files: fingerprinted URLs (?v=<content hash>) served with a year-long immutable lifetime."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from flask import Flask, url_for

from blueprints.core import assets

IMMUTABLE = "public, max-age=31536000, immutable"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:assets.DIGEST_LENGTH]


def _tiny_app(folder: Path) -> Flask:
    app = Flask(__name__, static_folder=str(folder), static_url_path="/static")
    assets.init_app(app)
    return app


def test_static_urls_carry_the_hash_of_the_file_content(app):
    with app.test_request_context():
        url = url_for("static", filename="css/muster.css")
    expected = _digest(Path(app.static_folder) / "css" / "muster.css")
    assert url == f"/static/css/muster.css?v={expected}"


def test_pages_link_fingerprinted_css_and_js(app, client):
    html = client.get("/login").get_data(as_text=True)
    for name in ("css/muster.css", "js/muster.js", "favicon.svg"):
        assert re.search(rf'/static/{re.escape(name)}\?v=[0-9a-f]{{{assets.DIGEST_LENGTH}}}"', html), name


def test_a_fingerprinted_request_is_cached_for_a_year_and_immutable(app, client):
    with app.test_request_context():
        url = url_for("static", filename="js/muster.js")
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == IMMUTABLE
    assert "Expires" in response.headers
    response.close()


def test_a_plain_or_stale_request_is_revalidated(app, client):
    for url in ("/static/js/muster.js", "/static/js/muster.js?v=0123456789ab"):
        response = client.get(url)
        assert response.status_code == 200
        assert "immutable" not in response.headers.get("Cache-Control", "")
        assert "no-cache" in response.headers["Cache-Control"]
        response.close()


def test_the_url_changes_when_the_content_changes(tmp_path):
    style = tmp_path / "site.css"
    style.write_text("body { color: black; }")
    with _tiny_app(tmp_path).test_request_context():
        before = url_for("static", filename="site.css")
    style.write_text("body { color: navy; }")
    with _tiny_app(tmp_path).test_request_context():
        after = url_for("static", filename="site.css")
    assert before != after
    assert after.endswith("?v=" + _digest(style))


def test_unknown_files_get_no_fingerprint(tmp_path):
    with _tiny_app(tmp_path).test_request_context():
        assert url_for("static", filename="missing.css") == "/static/missing.css"


# --- colours: dark and light themes keep text and control outlines readable ---------------------------


def _theme_colours(selector: str) -> dict[str, str]:
    css = (Path(__file__).parent.parent / "static" / "css" / "muster.css").read_text()
    block = re.search(re.escape(selector) + r"\s*\{(.*?)\}", css, re.S).group(1)
    return dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{3,6})", block))


def _contrast(first: str, second: str) -> float:
    def luminance(colour: str) -> float:
        colour = colour.lstrip("#")
        if len(colour) == 3:
            colour = "".join(c * 2 for c in colour)
        channels = [int(colour[i:i + 2], 16) / 255 for i in (0, 2, 4)]
        r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_danger_buttons_and_control_outlines_meet_contrast_in_both_themes():
    light = _theme_colours(":root")
    dark = {**light, **_theme_colours("body.dark")}
    for theme in (light, dark):
        assert _contrast(theme["on-bad"], theme["bad"]) >= 4.5  # text on a danger button
        assert _contrast(theme["control"], theme["card"]) >= 3  # input and button outlines
        assert _contrast(theme["control"], theme["bg"]) >= 3
        assert _contrast(theme["accent-fg"], theme["accent"]) >= 4.5
        assert _contrast(theme["muted"], theme["card"]) >= 4.5
