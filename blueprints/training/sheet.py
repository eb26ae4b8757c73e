"""Which rows the attendance sheet shows: company, platoon and search from the URL.

The last company/platoon is remembered per user in the signed session cookie, so it holds across
server processes; a choice saved by another user on the same browser is ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from flask import session
from flask_login import current_user

from blueprints.core.validation import lenient_text

SESSION_KEY = "sheet_choice"
EVERY_COMPANY = "all"


@dataclass(frozen=True)
class SheetChoice:
    company: str | None = None  # None: not chosen yet; EVERY_COMPANY: all of them
    platoon: str | None = None
    search: str = ""

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> SheetChoice:
        return cls(lenient_text(args.get("company")) or None, lenient_text(args.get("platoon")) or None,
                   lenient_text(args.get("search")))

    @classmethod
    def from_url(cls, url: str) -> SheetChoice:
        return cls.from_args(dict(parse_qsl(urlsplit(url).query)))

    @property
    def is_made(self) -> bool:
        """Without a company, platoon or search the sheet shows the picker, not every cadet."""
        return bool(self.company or self.platoon or self.search)

    @property
    def active(self) -> int:
        """How many of company, platoon and search are chosen (the folded picker says so on phones)."""
        return sum(1 for value in (self.company, self.platoon, self.search) if value)

    @property
    def company_filter(self) -> str | None:
        return None if self.company == EVERY_COMPANY else self.company

    @property
    def params(self) -> dict[str, str]:
        """The query string of this choice (the sheet's own URL, without one-off flags like quick=1)."""
        return {**self.remembered_params, **({"search": self.search} if self.search else {})}

    @property
    def remembered_params(self) -> dict[str, str]:
        return {k: v for k, v in (("company", self.company), ("platoon", self.platoon)) if v}

    @property
    def description(self) -> str:
        """"in Alpha, 1st platoon, matching "cruz"" for the sheet's count line."""
        parts = []
        if self.company_filter or self.platoon:
            parts.append(f"in {self.company_filter or 'every company'}"
                         + (f", {self.platoon} platoon" if self.platoon else ""))
        if self.search:
            parts.append(f"matching \u201c{self.search}\u201d")
        return " ".join(parts)


def remember_choice(choice: SheetChoice) -> None:
    """Keep the company/platoon (not a one-off search) for the next sheet this user opens."""
    if choice.remembered_params:
        session[SESSION_KEY] = {"user": current_user.id, **choice.remembered_params}


def remembered_choice() -> SheetChoice | None:
    saved = session.get(SESSION_KEY)
    if not isinstance(saved, dict) or saved.get("user") != current_user.id:
        return None
    choice = SheetChoice.from_args({k: str(v) for k, v in saved.items() if k in ("company", "platoon")})
    return choice if choice.is_made else None

