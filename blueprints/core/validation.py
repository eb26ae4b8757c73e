"""Field rules shared by forms and the API: one place decides what valid input is.

Values may come as strings (HTML forms) or typed JSON; both are checked and converted, and every
field's problems are gathered before a ValidationError is raised, so nothing is half-written.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from blueprints.core.errors import ValidationError

MAX_ID = 2**31 - 1  # PostgreSQL INTEGER: no table can hold a larger id, so none is ever looked up
MAX_BULK = 5000  # rows one bulk change or import may touch (API, pages and roster files alike)
FIRST_YEAR, LAST_YEAR = 1900, 9000  # every date we accept, written or filtered by, lies in these years
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"  # a dot in the domain: "muster@localhost" is no address to mail
_EMAIL = re.compile(EMAIL_PATTERN)
_CONTROL = re.compile(r"[\x00-\x1f]")  # a regex, not a loop per character: imports check 60,000 values
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Field:
    name: str
    kind: str = "str"  # str, int, float, bool, choice, date, email
    required: bool = False
    max_len: int = 200
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    pattern: str | None = None
    pattern_help: str = ""
    nullable: bool = True  # False: an explicit null is refused (the column is NOT NULL)

    def convert(self, value: Any) -> Any:
        """Return the converted value or raise ValueError with a message for the user."""
        if isinstance(value, str):
            if self.kind in ("str", "email") and len(value) > self.max_len:  # as sent, like maxLength
                raise ValueError(f"must be at most {self.max_len} characters")
            value = value.strip()
            if value == "" and self.kind != "bool":
                return None
        if value is None:
            return None
        return getattr(self, f"_{self.kind}")(value)

    def _str(self, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("must be text")
        if len(value) > self.max_len:
            raise ValueError(f"must be at most {self.max_len} characters")
        if has_control_chars(value):
            raise ValueError("must not contain control characters")
        if self.pattern and not re.fullmatch(self.pattern, value):
            raise ValueError(self.pattern_help or "has an invalid format")
        return value

    def _email(self, value: Any) -> str:
        value = self._str(value)
        if not _EMAIL.match(value):
            raise ValueError("must be a valid email address")
        return value.lower()

    def _choice(self, value: Any) -> str:
        if not isinstance(value, str) or value not in self.choices:
            raise ValueError(f"must be one of: {', '.join(self.choices)}")
        return value

    def _bool(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise ValueError("must be true or false")

    def _number(self, value: Any, cast: type) -> Any:
        kind = "a whole number" if cast is int else "a number"
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError(f"must be {kind}")
        if isinstance(value, str) and not value.isascii():  # float() would read "١٢" as 12
            raise ValueError(f"must be {kind}")
        try:
            number = float(value) if isinstance(value, str) else value
        except ValueError as exc:
            raise ValueError(f"must be {kind}") from exc
        if not math.isfinite(number) or (cast is int and not float(number).is_integer()):
            raise ValueError(f"must be {kind}")
        number = cast(number)
        if self.min is not None and number < self.min or self.max is not None and number > self.max:
            raise ValueError(f"must be between {_num(self.min)} and {_num(self.max)}")
        return number

    def _int(self, value: Any) -> int:
        return self._number(value, int)

    def _float(self, value: Any) -> float:
        return self._number(value, float)

    def _date(self, value: Any) -> date:
        if not isinstance(value, str):
            raise ValueError("must be a date (YYYY-MM-DD)")
        return parse_date(value)


def parse_date(raw: str) -> date:
    """A date written YYYY-MM-DD in FIRST_YEAR..LAST_YEAR; else ValueError with the user's message.

    Only that form: date.fromisoformat alone also takes 20260101 and week dates like 2026-W01-1.
    """
    try:
        value = date.fromisoformat(raw) if _ISO_DATE.fullmatch(raw) else None
    except ValueError:
        value = None
    if value is None:
        raise ValueError("must be a date (YYYY-MM-DD)")
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"must be a date between {FIRST_YEAR} and {LAST_YEAR}")
    return value


def is_digits(text: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts "²", which int() refuses, and int() reads "١" as 1."""
    return text.isascii() and text.isdigit()


def parse_whole(text: str, low: int, high: int) -> int | None:
    """A whole number written in ASCII digits, from low to high, else None (never an exception)."""
    text = text.strip()
    if not is_digits(text) or len(text) > len(str(high)):  # the length check spares int() a huge string
        return None
    number = int(text)
    return number if low <= number <= high else None


def parse_id(text: str) -> int | None:
    """A database id written as text (1 to MAX_ID), else None."""
    return parse_whole(text, 1, MAX_ID)


def has_control_chars(text: str) -> bool:
    """NUL, CR, LF and the other C0 controls: never meaningful in a field, and PostgreSQL rejects NUL."""
    return _CONTROL.search(text) is not None


def lenient_text(raw: str | None, max_len: int = 100) -> str:
    """A lenient page filter's free text (print sheets, the attendance sheet): stripped, cut to max_len,
    and "" when it holds control characters (a NUL would reach PostgreSQL)."""
    value = (raw or "").strip()[:max_len]
    return "" if has_control_chars(value) else value


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def validate(data: Mapping[str, Any], fields: list[Field], *, partial: bool = False,
             reject_unknown: bool = False) -> dict[str, Any]:
    """Check and convert `data` against `fields`; raise one ValidationError naming every bad field.

    partial: only fields present in data are checked (PATCH); absent required fields are fine.
    """
    if not isinstance(data, Mapping):
        raise ValidationError("The body must be a JSON object.", {"body": ["must be an object"]})
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    for f in fields:
        if f.name not in data:
            if f.required and not partial:
                errors[f.name] = ["is required"]
            continue
        try:
            value = f.convert(data[f.name])
        except ValueError as exc:
            errors[f.name] = [str(exc)]
            continue
        if value is None and (f.required or not f.nullable):
            errors[f.name] = ["is required" if f.required else "must not be empty"]
            continue
        out[f.name] = value
    if reject_unknown:
        known = {f.name for f in fields}
        for name in data:
            if name not in known:
                errors[str(name)[:50]] = ["is not a known field"]
    if errors:
        raise ValidationError("Some fields are invalid.", errors)
    return out
