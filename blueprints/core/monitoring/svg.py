"""Charts drawn on the server as inline SVG: no JavaScript, no CDN, no inline styles (CSS classes)."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 220
# Room for axis text drawn larger on phones (the chart scales down there), so no label is clipped.
_LEFT, _RIGHT, _TOP, _BOTTOM = 66, 12, 26, 30


def _nice_max(value: float) -> float:
    """Round an axis maximum up to 1, 2 or 5 times a power of ten."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1) if value >= 1 else 1.0
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def _frame(title: str, y_max: float, unit: str, x_labels: Sequence[str]) -> list[str]:
    """The opening tag, gridlines with y labels, and a few x labels."""
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    plot_h = HEIGHT - _TOP - _BOTTOM
    for i in range(5):
        y = _TOP + plot_h - plot_h * i / 4
        parts.append(f'<line class="grid" x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="axis" x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
                     f"{escape(_fmt(y_max * i / 4))}</text>")
    parts.append(f'<text class="axis unit" x="{_LEFT + 4}" y="{_TOP - 8}" text-anchor="start">{escape(unit)}</text>')
    n = len(x_labels)
    for i in sorted({0, n // 2, n - 1}) if n else []:
        x, anchor = _x(i, n), "middle"
        if n > 1 and i == 0:
            x, anchor = _LEFT, "start"  # the first and last labels sit inside the frame, never cut off
        elif n > 1 and i == n - 1:
            x, anchor = WIDTH - _RIGHT, "end"
        parts.append(f'<text class="axis" x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}">'
                     f"{escape(x_labels[i])}</text>")
    return parts


def _x(i: int, n: int) -> float:
    plot_w = WIDTH - _LEFT - _RIGHT
    return _LEFT + (plot_w * (i + 0.5) / n if n else 0)


def _y(value: float, y_max: float) -> float:
    plot_h = HEIGHT - _TOP - _BOTTOM
    return _TOP + plot_h - plot_h * min(value, y_max) / y_max


def _empty(title: str) -> Markup:
    return Markup(f'<svg class="chart" viewBox="0 0 {WIDTH} 60" role="img" aria-label="{escape(title)}" '
                  f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
                  f'<text class="axis" x="{WIDTH / 2}" y="34" text-anchor="middle">'
                  "No requests in this window yet.</text></svg>")


def line_chart(title: str, x_labels: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]],
               unit: str = "ms") -> Markup:
    """One polyline per series (classes series-0, series-1, ...); gaps where a value is None."""
    values = [v for _, points in series for v in points if v is not None]
    if not values:
        return _empty(title)
    y_max = _nice_max(max(values))
    parts = _frame(title, y_max, unit, x_labels)
    n = len(x_labels)
    for index, (name, points) in enumerate(series):
        runs: list[list[str]] = [[]]
        for i, value in enumerate(points):
            if value is None:
                runs.append([])
            else:
                runs[-1].append(f"{_x(i, n):.1f},{_y(value, y_max):.1f}")
        for run in runs:
            if len(run) == 1:
                x, y = run[0].split(",")
                parts.append(f'<circle class="series-{index}" cx="{x}" cy="{y}" r="2.5"/>')
            elif run:
                parts.append(f'<polyline class="series-{index}" points="{" ".join(run)}">'
                             f"<title>{escape(name)}</title></polyline>")
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(title: str, x_labels: Sequence[str], totals: Sequence[int], errors: Sequence[int],
              unit: str = "req") -> Markup:
    """Bars of totals with the error part drawn over them (classes bar, bar-error)."""
    if not any(totals):
        return _empty(title)
    y_max = _nice_max(max(totals))
    parts = _frame(title, y_max, unit, x_labels)
    n = len(x_labels)
    width = max((WIDTH - _LEFT - _RIGHT) / n * 0.7, 1.0)
    base = _y(0, y_max)
    for i, (total, error) in enumerate(zip(totals, errors, strict=True)):
        if not total:
            continue
        x = _x(i, n) - width / 2
        top = _y(total, y_max)
        parts.append(f'<rect class="bar" x="{x:.1f}" y="{top:.1f}" width="{width:.1f}" height="{base - top:.1f}">'
                     f"<title>{escape(x_labels[i])}: {total} requests, {error} errors</title></rect>")
        if error:
            err_top = _y(error, y_max)
            parts.append(f'<rect class="bar-error" x="{x:.1f}" y="{err_top:.1f}" width="{width:.1f}" '
                         f'height="{base - err_top:.1f}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
