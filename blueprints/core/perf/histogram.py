"""Latency histograms with fixed bucket edges, so processes can add theirs together.

A percentile of merged histograms is estimated by linear interpolation inside the bucket the rank
falls in; its error is at most that bucket's width (edges grow by about 1.5x).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence

# Upper edges in milliseconds; one more bucket holds everything slower than the last edge.
EDGES: tuple[float, ...] = (
    1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000,
    5000, 10000,
)
BUCKETS = len(EDGES) + 1


def bucket_index(ms: float) -> int:
    """The bucket holding a duration: the first whose upper edge is >= ms."""
    return bisect_left(EDGES, ms)


def histogram(samples: Iterable[float]) -> list[int]:
    """Counts per bucket for a list of durations (tests and one-off summaries)."""
    counts = [0] * BUCKETS
    for ms in samples:
        counts[bucket_index(ms)] += 1
    return counts


def merge(histograms: Iterable[Sequence[int]]) -> list[int]:
    total = [0] * BUCKETS
    for counts in histograms:
        for i, c in enumerate(counts):
            total[i] += c
    return total


def percentile(counts: Sequence[int], p: float) -> float | None:
    """Estimate the p-th percentile (0-100) in ms; None for an empty histogram.

    The rank is p% of the count; inside the bucket it lands in, values are assumed spread evenly
    between the bucket's lower and upper edge. The open last bucket reports its lower edge.
    """
    n = sum(counts)
    if n == 0:
        return None
    rank = max(p, 0.0) / 100.0 * n
    seen = 0
    for i, c in enumerate(counts):
        if c and seen + c >= rank:
            lower = EDGES[i - 1] if i > 0 else 0.0
            if i >= len(EDGES):
                return float(lower)
            return lower + (rank - seen) / c * (EDGES[i] - lower)
        seen += c
    return float(EDGES[-1])
