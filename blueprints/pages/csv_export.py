"""CSV downloads, streamed row by row, with spreadsheet formulas neutralised."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from flask import Response, stream_with_context

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas: text starting with = + - @ (or tab/CR) gets a leading quote."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def csv_response(header: list[str], rows: Iterable[list[Any]], filename: str) -> Response:
    """Stream a CSV download row by row (the rows are produced lazily inside the request context)."""

    def generate() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        for row in rows:
            writer.writerow([csv_cell(v) for v in row])
            if buffer.tell() > 16_384:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return Response(stream_with_context(generate()), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})


def csv_rows(items: Iterable[dict[str, Any]], columns: list[tuple[str, Callable[[dict], Any]]]) -> Iterator[list]:
    for item in items:
        yield [get(item) for _, get in columns]
