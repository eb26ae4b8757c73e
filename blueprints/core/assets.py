"""Fingerprinted static files: `url_for('static', ...)` gains `?v=<content hash>`, and a request carrying
the current hash may be cached for a year (immutable); any other static request is revalidated.

Hashes are computed once at start-up, so a deploy with changed files changes the URLs.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from flask import Flask, Response, request

DIGEST_LENGTH = 12
ONE_YEAR = 31_536_000


def fingerprint_files(folder: str | None) -> dict[str, str]:
    """{relative path with forward slashes: first DIGEST_LENGTH hex digits of its SHA-256} for every file."""
    digests: dict[str, str] = {}
    if not folder or not os.path.isdir(folder):
        return digests
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                digest = hashlib.file_digest(handle, "sha256").hexdigest()[:DIGEST_LENGTH]
            digests[os.path.relpath(path, folder).replace(os.sep, "/")] = digest
    return digests


def init_app(app: Flask) -> None:
    digests = fingerprint_files(app.static_folder)

    @app.url_defaults
    def _add_fingerprint(endpoint: str, values: dict[str, Any]) -> None:
        if endpoint == "static" and "v" not in values and values.get("filename") in digests:
            values["v"] = digests[values["filename"]]

    @app.after_request
    def _cache_fingerprinted(response: Response) -> Response:
        filename = (request.view_args or {}).get("filename")
        if (request.endpoint == "static" and response.status_code in (200, 304)
                and filename in digests and request.args.get("v") == digests[filename]):
            response.cache_control.no_cache = None
            response.cache_control.public = True
            response.cache_control.max_age = ONE_YEAR
            response.cache_control.immutable = True
            response.expires = response.date.timestamp() + ONE_YEAR if response.date else None
        return response
