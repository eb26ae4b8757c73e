"""Cached list responses: the serialised, gzip-compressed body and its strong ETag, served as stored.

A hit costs one cache round trip and no serialisation or compression. The entry lives under the
same domain generations as the reads it is built from, so every write's clearer invalidates it.
The body is compressed once, when the entry is filled, by Flask-Compress's own compression with its
settings (COMPRESS_LEVEL), and always: the WSGI fast path serves only stored bytes.
It is served to a client for which Flask-Compress, among its COMPRESS_ALGORITHM and preferring the
stored gzip on a tie, would choose gzip. Any other client gets the plain body, which Flask-Compress
then compresses as it does every response (br or zstd where enabled and preferred), or not at all.
Flask-Compress's own COMPRESS_CACHE_BACKEND does not fit: it is consulted only after the view has
built the plain body, writes on every response, and keys by request, not by the domains' generations.
ETags follow Flask-Compress's convention: "<sha256>" for the plain body, "<sha256>:gzip" for the
gzip body; If-None-Match with either (or any other encoding suffix) of the current body is a 304.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, request
from flask_compress.flask_compress import _compress_data

from blueprints.api.responses import list_state
from blueprints.core.cache import Read
from blueprints.core.etags import none_match_hits
from blueprints.core.fastpath import takes_gzip
from blueprints.core.json_encoder import dumps
from blueprints.core.liststate import ListSpec, ListState

CACHE_CONTROL = "private, no-cache"  # per-token data: no shared caches; revalidate with the ETag


def _pack(payload: Any) -> tuple[str, bytes]:
    body = dumps(payload)
    # The function Flask-Compress's after_request compresses every response with, at its COMPRESS_LEVEL.
    return hashlib.sha256(body).hexdigest()[:40], _compress_data(current_app, body, "gzip")


def cached_response(read: Read, args: Any, build: Callable[[], Any]) -> Response:
    """Serve build()'s payload through the response cache of `read` (same domains as the read)."""
    digest, body_gz = read.derived("api").get(args, lambda: _pack(build()))
    return _serve(digest, body_gz)


def list_prefetch(read: Read, spec: ListSpec, fetch: Callable[..., dict]) -> Callable[[], list]:
    """For api_route(prefetch=...): the cached body a list view will serve, fetched with the token."""

    def entries() -> list:
        return [(read.derived("api"), list_state(spec).cache_args())]

    # The fast paths (fastpath.py warm, coldpath.py on a miss) serve this list's body before Flask.
    entries.cached_list = (read, spec, fetch)
    return entries


def list_response(read: Read, spec: ListSpec, fetch: Callable[..., dict]) -> Response:
    """A cached list endpoint: parse the list state, serve the cached body or build it with fetch."""
    return _serve(*list_body(read, list_state(spec), fetch))


def list_body(read: Read, state: ListState, fetch: Callable[..., dict]) -> tuple[str, bytes]:
    """(digest, gzip body) of a list state's page: the cached one, or built with fetch and stored."""
    return read.derived("api").get(state.cache_args(), lambda: _pack(fetch(state)))


def _serve(digest: str, body_gz: bytes) -> Response:
    gzip_ok = takes_gzip(request.headers.get("Accept-Encoding", ""))
    headers = {"ETag": f'"{digest}:gzip"' if gzip_ok else f'"{digest}"', "Vary": "Accept-Encoding",
               "Cache-Control": CACHE_CONTROL}
    if none_match_hits(request.headers.get("If-None-Match"), digest):
        return Response(status=304, headers=headers)
    if gzip_ok:
        # Content-Encoding is set, so Flask-Compress leaves the body alone.
        return Response(body_gz, mimetype="application/json", headers={**headers, "Content-Encoding": "gzip"})
    return Response(gzip.decompress(body_gz), mimetype="application/json", headers=headers)
