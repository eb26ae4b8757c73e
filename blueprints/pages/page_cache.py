"""Whole table pages, stored for the WSGI fast path (fastpath.py): one entry per user and URL.

When Flask renders a table page (tables.render_table) it renders it once with a mark where the CSRF
token goes, stores it here split at the marks, and answers the page with its token in them. The entry
holds, besides the pieces, the signed-in user's SESSION_USER_READ record it was drawn for (name, role,
page size, dark/compact): the fast path serves it only to a session of that user whose record is still
exactly that one, so a rename, a role or preference change or a deactivation falls through to Flask at
once, which draws the page again and replaces the entry. The key is the user's id and the URL as sent
(script root, path, query string): nothing else of the request changes the markup.

The stored pieces are also kept deflated, each ending at a full flush (no back-reference crosses it),
so a request's body is those pieces with its own token between them as stored blocks, under one gzip
header and trailer: valid gzip of exactly the page Flask would send, for the cost of a CRC, not a
compression. The generations are taken before the page's data is read, so a write that lands while
it is drawn leaves the entry stale at once (cache.generations / store_built).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from typing import Any

from flask import current_app, request, session
from flask_login import current_user

from blueprints.core import cache
from blueprints.core.cache import Read
from blueprints.core.fastpath import takes_gzip

MARK = "\x00csrf-token\x00"  # stands for the CSRF token in a page or fragment being stored; never sent
INSTALLED = "muster_page_fastpath"  # app.extensions key, set by fastpath.init_app: only then are pages stored
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, no mtime, unknown OS


def cached_page(read: Read) -> Callable:
    """Mark a table view (under page_route) whose page render_table stores for the fast path, under `read`'s
    domains; the fast path serves only the routes so marked."""

    def mark(view: Callable) -> Callable:
        view.page_read = read
        return view

    return mark


def page_entry(read: Read) -> Read:
    return read.derived("page")


def page_key(environ: dict, user_id: int) -> tuple:
    """The entry's key: the user and the URL as the WSGI server handed it (Flask's request.environ is the same dict)."""
    return environ.get("SCRIPT_NAME", ""), environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""), user_id


def generations_to_store(read: Read) -> tuple[int, ...] | None:
    """The generations to store this request's page at, read before its data; None when it is not stored:
    no fast path, flashed messages drawn into it, a client the fast path would not serve (its encoding)."""
    if (not current_app.extensions.get(INSTALLED) or "_flashes" in session
            or getattr(current_user, "session_record", None) is None
            or not takes_gzip(request.headers.get("Accept-Encoding", ""))):
        return None
    return cache.generations(page_entry(read))


def store_page(read: Read, gens: tuple[int, ...], marked_html: str) -> None:
    """Store the page drawn with MARK for its token, for this user and URL."""
    texts = marked_html.split(MARK)
    value = {"user": current_user.session_record, "text": texts,
             "deflated": _deflate(texts, current_app.config["COMPRESS_LEVEL"])}
    cache.store_built(page_entry(read), page_key(request.environ, current_user.id), gens, value)


def _deflate(texts: list[str], level: int) -> list[bytes]:
    """Each piece raw-deflated at Flask-Compress's level, ending at a full flush (the last one: the stream's end)."""
    packer = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    pieces = [packer.compress(text.encode()) + packer.flush(zlib.Z_FULL_FLUSH) for text in texts[:-1]]
    return [*pieces, packer.compress(texts[-1].encode()) + packer.flush()]


def gzip_page(stored: dict[str, Any], token: bytes) -> bytes:
    """The gzip body of a stored page with this token wherever MARK was (RFC 1951 stored blocks between
    the full-flushed pieces, RFC 1952 header and trailer)."""
    between = b"\x00" + struct.pack("<HH", len(token), len(token) ^ 0xFFFF) + token  # BFINAL=0, BTYPE=00
    parts, crc, size = [_GZIP_HEADER], 0, 0
    for index, (text, deflated) in enumerate(zip(stored["text"], stored["deflated"], strict=True)):
        if index:
            parts.append(between)
            crc, size = zlib.crc32(token, crc), size + len(token)
        raw = text.encode()
        crc, size = zlib.crc32(raw, crc), size + len(raw)
        parts.append(deflated)
    parts.append(struct.pack("<II", crc, size & 0xFFFFFFFF))
    return b"".join(parts)
