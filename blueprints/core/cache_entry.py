"""A cached entry as stored (in Redis or in-process): plain JSON (orjson), never pickle, read strictly.

Anyone who can write to Redis could otherwise run code in every app process. An entry is
`[generations, tagged, value]`: JSON types stand for themselves, and the few other types a read
returns are written as one-key objects `{"\\u0000": [kind, text]}` (tuples, dates and times,
Decimals, bytes), so every value comes back exactly as it was built. Anything else (a pickle, a
wrong shape, an unknown kind) raises Unreadable: the cache counts an error and rebuilds it.
`tagged` says whether the value holds any such object; most do not (HTML, token users), and
those are read without walking them.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, NamedTuple

import orjson

_TAG = "\x00"  # no key of ours starts with NUL; a dict whose key does is refused, never misread
_ENCODE: dict[type, tuple[str, Callable[[Any], str]]] = {
    datetime: ("datetime", datetime.isoformat),
    date: ("date", date.isoformat),
    time: ("time", time.isoformat),
    Decimal: ("decimal", str),
    bytes: ("bytes", lambda b: base64.b64encode(b).decode("ascii")),
}
_DECODE: dict[str, Callable[[str], Any]] = {
    "datetime": datetime.fromisoformat,
    "date": date.fromisoformat,
    "time": time.fromisoformat,
    "decimal": Decimal,
    "bytes": lambda text: base64.b64decode(text, validate=True),
}
_PLAIN = (str, int, float, bool, type(None))


class Unreadable(ValueError):
    """A stored blob that is not an entry of ours."""


class Entry(NamedTuple):
    """A cached value and the generations of the domains it was built at."""

    gens: tuple[int, ...]
    value: Any


def pack(gens: tuple[int, ...], value: Any) -> bytes:
    """The bytes to store; TypeError for a value of a type that has no exact form here."""
    tagged: list[bool] = []
    plain = _plain(value, tagged)
    return orjson.dumps([list(gens), bool(tagged), plain])


def _plain(value: Any, tagged: list[bool]) -> Any:
    kind = type(value)
    if kind in _PLAIN:
        if kind is float and not math.isfinite(value):
            raise TypeError("JSON has no NaN or infinity")
        return value
    if kind is dict:
        if any(type(k) is not str or k.startswith(_TAG) for k in value):
            raise TypeError("cached dicts need string keys that do not start with NUL")
        return {k: _plain(v, tagged) for k, v in value.items()}
    if kind is list:
        return [_plain(v, tagged) for v in value]
    tagged.append(True)
    if kind is tuple:
        return {_TAG: ["tuple", [_plain(v, tagged) for v in value]]}
    if kind in _ENCODE:
        name, encode = _ENCODE[kind]
        return {_TAG: [name, encode(value)]}
    raise TypeError(f"cannot cache a {kind.__name__} as plain data")


def unpack(blob: bytes) -> Entry:
    """(generations, value) of a stored entry; Unreadable for anything that is not one."""
    try:
        entry = orjson.loads(blob)
        if type(entry) is not list or len(entry) != 3 or type(entry[0]) is not list or type(entry[1]) is not bool:
            raise Unreadable("not a cache entry")
        gens = tuple(entry[0])
        if any(type(n) is not int for n in gens):
            raise Unreadable("generations are not integers")
        return Entry(gens, _restore(entry[2]) if entry[1] else entry[2])
    except (ValueError, TypeError, KeyError, ArithmeticError) as exc:  # JSONDecodeError, binascii.Error: ValueError
        raise Unreadable(str(exc)[:100]) from exc


def _restore(value: Any) -> Any:
    kind = type(value)
    if kind is list:
        return [_restore(v) for v in value]
    if kind is not dict:
        return value
    if _TAG not in value:
        return {k: _restore(v) for k, v in value.items()}
    name, payload = value[_TAG]
    if len(value) != 1:
        raise Unreadable("a tag shares its object")
    if name == "tuple":
        if type(payload) is not list:
            raise Unreadable("a tuple that is not a list")
        return tuple(_restore(v) for v in payload)
    if type(payload) is not str:
        raise Unreadable(f"{name} is not written as text")
    return _DECODE[name](payload)  # an unknown name is a KeyError: Unreadable
