"""Cached list responses: the serialised, gzip-compressed body and its strong ETag, served as stored.

A hit costs one cache round trip and no serialisation or compression. The entry lives under the
same domain generations as the reads it is built from, so every write's clearer invalidates it.
ETags follow Flask-Compress's convention: "<sha256>" for the plain body, "<sha256>:gzip" for the
gzip body; If-None-Match with either (or any other encoding suffix) of the current body is a 304.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Callable
from typing import Any

from flask import Response, request

from blueprints.api.responses import list_state
from blueprints.core.cache import Read
from blueprints.core.etags import none_match_hits
from blueprints.core.json_encoder import dumps
from blueprints.core.liststate import ListSpec

CACHE_CONTROL = "private, no-cache"  # per-token data: no shared caches; revalidate with the ETag


def _pack(payload: Any) -> tuple[str, bytes]:
    body = dumps(payload)
    return hashlib.sha256(body).hexdigest()[:40], gzip.compress(body, compresslevel=6, mtime=0)


def cached_response(read: Read, args: Any, build: Callable[[], Any]) -> Response:
    """Serve build()'s payload through the response cache of `read` (same domains as the read)."""
    digest, body_gz = read.derived("api").get(args, lambda: _pack(build()))
    return _serve(digest, body_gz)


def list_prefetch(read: Read, spec: ListSpec) -> Callable[[], list]:
    """For api_route(prefetch=...): the cached body a list view will serve, fetched with the token."""

    def entries() -> list:
        return [(read.derived("api"), list_state(spec).cache_args())]

    entries.cached_list = (read, spec)  # the fast path (fastpath.py) serves this list's stored body
    return entries


def list_response(read: Read, spec: ListSpec, fetch: Callable[..., dict]) -> Response:
    """A cached list endpoint: parse the list state, serve the cached body or build it with fetch."""
    state = list_state(spec)
    return cached_response(read, state.cache_args(), lambda: fetch(state))


def _serve(digest: str, body_gz: bytes) -> Response:
    gzip_ok = request.accept_encodings.quality("gzip") > 0
    headers = {"ETag": f'"{digest}:gzip"' if gzip_ok else f'"{digest}"', "Vary": "Accept-Encoding",
               "Cache-Control": CACHE_CONTROL}
    if none_match_hits(request.headers.get("If-None-Match"), digest):
        return Response(status=304, headers=headers)
    if gzip_ok:
        # Content-Encoding is set, so Flask-Compress leaves the body alone.
        return Response(body_gz, mimetype="application/json", headers={**headers, "Content-Encoding": "gzip"})
    return Response(gzip.decompress(body_gz), mimetype="application/json", headers=headers)
