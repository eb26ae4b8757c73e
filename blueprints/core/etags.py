"""Entity-tag lists as RFC 9110 (section 8.8.3 and 13.1) writes them: `*`, or `[W/]"opaque", ...`.

werkzeug's parse_etags turns the valid empty tag `""` into None, which broke the comparison that
followed it (a 500 from one header). This parser keeps every tag as text, says whether the header
was well formed, and compares the way a conditional GET must (weak comparison: W/ is ignored).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# One list member: optional W/, then a quoted tag of etagc (%x21 / %x23-7E / obs-text), or `*` alone.
_MEMBER = re.compile(r'\s*(?:(W/)?"([\x21\x23-\x7e\x80-\xff]*)")\s*(?:,|$)')


@dataclass(frozen=True)
class EtagList:
    star: bool = False
    tags: tuple[str, ...] = ()  # opaque tags without quotes or W/; weak and strong alike
    well_formed: bool = True


def parse_etag_list(header: str | None) -> EtagList:
    """Parse If-None-Match / If-Match. Empty members (`"a", , "b"`) are allowed, as the list rule says."""
    text = (header or "").strip()
    if text == "*":
        return EtagList(star=True)
    tags: list[str] = []
    pos = 0
    while pos < len(text):
        if text[pos] in ", \t":  # empty list elements and whitespace between them
            pos += 1
            continue
        match = _MEMBER.match(text, pos)
        if match is None:
            return EtagList(tags=tuple(tags), well_formed=False)
        tags.append(match.group(2))
        pos = match.end()
    return EtagList(tags=tuple(tags))


def none_match_hits(header: str | None, current: str) -> bool:
    """True when If-None-Match names the current representation (answer 304). Tags may carry a
    content-coding suffix (`<digest>:gzip`, Flask-Compress's convention): any coding of the same body
    is the same version. A malformed header is ignored (RFC 9110 lets a server ignore a bad condition)."""
    etags = parse_etag_list(header)
    if etags.star:
        return True
    return etags.well_formed and any(tag.partition(":")[0] == current for tag in etags.tags)
