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
header and trailer: valid gzip of exactly the page Flask would send. The trailer's CRC-32 is derived
from the token's alone (_checksum), so the page's text is neither stored twice nor read per request.
The generations are taken before the page's data is read, so a write that lands while it is drawn
leaves the entry stale at once (cache.generations / store_built).
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
_MASK = 0xFFFFFFFF
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


def store_page(read: Read, gens: tuple[int, ...], marked_html: str, token: str) -> None:
    """Store the page drawn with MARK for its token, for this user and URL (token: this request's, for its length)."""
    pieces = [text.encode() for text in marked_html.split(MARK)]
    value = {"user": current_user.session_record, "deflated": _deflate(pieces, current_app.config["COMPRESS_LEVEL"]),
             **_checksum(pieces, len(token))}
    cache.store_built(page_entry(read), page_key(request.environ, current_user.id), gens, value)


def _deflate(pieces: list[bytes], level: int) -> list[bytes]:
    """Each piece raw-deflated at Flask-Compress's level, ending at a full flush (the last one: the stream's end)."""
    packer = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    return [*(packer.compress(piece) + packer.flush(zlib.Z_FULL_FLUSH) for piece in pieces[:-1]),
            packer.compress(pieces[-1]) + packer.flush()]


def _checksum(pieces: list[bytes], token_length: int) -> dict[str, Any]:
    """What gzip_page needs for the trailer without the page's text: the CRC-32 and size of the page with
    zero bytes for each token, and the linear map (32 columns) from a token's CRC to its effect on the whole.

    CRC-32 is affine: for messages of one length, crc(M) = crc(M0) ^ Lin(M ^ M0); the token placed at the
    positions where M0 has zeros contributes Lin(token) carried through the bytes after it (crc32_combine's
    shift), and those shifts add up (XOR) into one 32x32 map."""
    size = sum(map(len, pieces)) + token_length * (len(pieces) - 1)
    columns, after = [0] * 32, size
    for piece in reversed(pieces[1:]):  # the bytes after each token
        after -= len(piece)
        for bit in range(32):
            columns[bit] ^= _shift(1 << bit, size - after)
        after -= token_length
    return {"crc": zlib.crc32(bytes(token_length).join(pieces)), "size": size, "token_length": token_length,
            "columns": columns}


def _shift(register: int, length: int) -> int:
    """A CRC-32 register carried through `length` zero bytes (zlib.crc32 inverts before and after)."""
    return ~zlib.crc32(bytes(length), ~register & _MASK) & _MASK


def gzip_page(stored: dict[str, Any], token: bytes) -> bytes | None:
    """The gzip body of a stored page with this token wherever MARK was (RFC 1951 stored blocks between the
    full-flushed pieces, RFC 1952 header and trailer); None for a token of another length than stored."""
    length = len(token)
    if length != stored["token_length"]:
        return None
    linear, crc = zlib.crc32(token) ^ zlib.crc32(bytes(length)), stored["crc"]
    for bit, column in enumerate(stored["columns"]):
        if linear >> bit & 1:
            crc ^= column
    between = b"\x00" + struct.pack("<HH", length, length ^ 0xFFFF) + token  # BFINAL=0, BTYPE=00
    return b"".join((_GZIP_HEADER, between.join(stored["deflated"]), struct.pack("<II", crc, stored["size"] & _MASK)))
