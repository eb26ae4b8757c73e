"""Each concept is defined once: roles and who may do what, the largest id, page sizes, the bulk cap.
A second definition would drift from the first; these catch one being written again."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APP_CODE = [p for p in [*ROOT.glob("*.py"), *(ROOT / "blueprints").rglob("*.py")] if p.name != "conftest.py"]


@pytest.mark.parametrize(("pattern", "home"), [
    (r"[\"']training_staff[\"']", "model_base.py"),  # the role names and the STAFF/ADMIN/CADET/ANYONE groups
    (r"_route\([\"']", None),  # routes name a group (*ADMIN), never a role literal
    (r"2\s*\*\*\s*31|2147483647", "validation.py"),  # MAX_ID
    (r"\b5_?000\b", "validation.py"),  # MAX_BULK (other 5000s are other concepts: see _allowed)
    (r"\(10, 25, 50, 100\)", "model_base.py"),  # PAGE_SIZES
])
def test_defined_in_one_place(pattern, home):
    found = sorted(f"{p.relative_to(ROOT)}:{n}" for p in APP_CODE
                   for n, line in enumerate(p.read_text().splitlines(), 1)
                   if re.search(pattern, line) and not _allowed(p, line))
    expected = [f for f in found if home and (f.startswith(f"{home}:") or f"/{home}:" in f)]
    assert found == expected, f"defined again outside {home or 'its constant'}: {sorted(set(found) - set(expected))}"


def _allowed(path: Path, line: str) -> bool:
    """Where the number is another concept: a text length, a cache size, a seed batch, a histogram bucket,
    the offset past which a numbered page asks its total first."""
    return any(s in line for s in ("max_len=5000", "CACHE_THRESHOLD", "CHUNK = 5000", "DEEP_ROWS")) \
        or path.name == "histogram.py"
