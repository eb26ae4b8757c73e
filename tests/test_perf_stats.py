"""Pure parts of the instrumentation: percentiles from histograms, SQL masking, N+1 rules, page state, SVG."""

from __future__ import annotations

import re

import pytest

from blueprints.core.monitoring.report import DashboardState
from blueprints.core.monitoring.svg import bar_chart, line_chart
from blueprints.core.perf import monitoring_enabled
from blueprints.core.perf.detect import find_n_plus_one, recommend
from blueprints.core.perf.histogram import EDGES, bucket_index, histogram, merge, percentile
from blueprints.core.perf.sqlnorm import is_plain_select, normalise_sql, statement_id


def test_percentile_interpolates_inside_the_bucket():
    # 100 samples all in the (10, 15] ms bucket: ranks spread evenly over it.
    counts = histogram([12.0] * 100)
    assert percentile(counts, 50) == pytest.approx(12.5)
    assert percentile(counts, 95) == pytest.approx(14.75)
    assert percentile(counts, 99) == pytest.approx(14.95)


def test_percentiles_of_a_known_mixed_sample():
    # 90 fast (2.5 ms), 8 medium (40 ms), 2 slow (400 ms): p50 fast, p95 medium, p99 slow.
    counts = histogram([2.5] * 90 + [40.0] * 8 + [400.0] * 2)
    p50, p95, p99 = (percentile(counts, p) for p in (50, 95, 99))
    assert 2 < p50 <= 3
    assert 30 < p95 <= 50
    assert 300 < p99 <= 500
    # Exactly: rank 95 is the 5th of 8 in (30, 50]; rank 99 the 1st of 2 in (300, 500].
    assert p95 == pytest.approx(30 + 5 / 8 * 20)
    assert p99 == pytest.approx(300 + 1 / 2 * 200)


def test_merged_histograms_give_the_same_percentiles_as_the_combined_sample():
    first, second = [1.5, 4, 9, 30, 120], [0.5, 6, 6, 800, 2500, 12000]
    combined = histogram(first + second)
    assert merge([histogram(first), histogram(second)]) == combined
    for p in (50, 95, 99):
        assert percentile(merge([histogram(first), histogram(second)]), p) == percentile(combined, p)


def test_percentile_edges():
    assert percentile(histogram([]), 50) is None
    assert bucket_index(EDGES[-1] + 1) == len(EDGES)
    assert percentile(histogram([60_000.0]), 99) == EDGES[-1]  # open bucket: "at least"


@pytest.mark.parametrize("statement, secret", [
    ("SELECT cadets.id FROM cadets WHERE cadets.student_id = '2026-00042'", "2026-00042"),
    ("SELECT * FROM cadets WHERE last_name = 'O''Brien' AND year_level = 3", "Brien"),
    ("SELECT * FROM users WHERE email = E'dela\\'cruz@example.test'", "cruz@example"),
    ("SELECT $tag$Juan Dela Cruz$tag$", "Juan"),
    ("UPDATE cadets SET phone = '09171234567' WHERE id = 42 -- cadet 2026-00042", "0917123"),
])
def test_literals_are_masked(statement, secret):
    masked = normalise_sql(statement)
    assert secret not in masked
    assert "?" in masked


def test_normalising_groups_variants_of_one_statement():
    a = normalise_sql("SELECT * FROM cadets WHERE id IN (%(id_1_1)s, %(id_1_2)s) LIMIT 10")
    b = normalise_sql("SELECT *\n  FROM cadets WHERE id IN (%(id_1_1)s, %(id_1_2)s, %(id_1_3)s) LIMIT 25")
    assert a == b == "SELECT * FROM cadets WHERE id IN (...) LIMIT ?"
    assert statement_id(a) == statement_id(b)
    # Identifiers that end in digits (SQLAlchemy aliases, savepoints) are not literals.
    assert normalise_sql("SELECT cadets_1.id FROM cadets AS cadets_1") == "SELECT cadets_1.id FROM cadets AS cadets_1"
    assert normalise_sql("SELECT reltuples::bigint FROM pg_class WHERE relname = $1").endswith("relname = ?")


def test_only_a_single_select_is_explainable():
    assert is_plain_select("SELECT cadets.id FROM cadets WHERE cadets.id = ?")
    assert not is_plain_select("DELETE FROM cadets WHERE id = ?")
    assert not is_plain_select("SELECT 1; DELETE FROM cadets")
    assert not is_plain_select("SELECT * INTO copy FROM cadets")
    assert not is_plain_select("WITH gone AS (DELETE FROM cadets RETURNING id) SELECT * FROM gone")


def test_n_plus_one_needs_the_threshold_and_ignores_transaction_bookkeeping():
    key_lookup = "SELECT cadets.id, cadets.name FROM cadets WHERE cadets.id = ?"
    groups = {
        key_lookup: [5, 12.0, {"blueprints/x.py:10": 5}],
        "SELECT * FROM grades WHERE cadet_id = ?": [4, 3.0, {"blueprints/x.py:11": 4}],
        "SAVEPOINT sa_savepoint_1": [9, 1.0, {"blueprints/x.py:12": 9}],
    }
    found = find_n_plus_one(groups, 5, "GET cadets.index")
    assert [f["sql"] for f in found] == [key_lookup]
    assert found[0]["site"] == "blueprints/x.py:10" and found[0]["count"] == 5
    assert "in_(ids)" in found[0]["recommendation"] and "selectinload" in found[0]["recommendation"]
    assert "executemany" in recommend("INSERT INTO audit_logs (a) VALUES (?)")


def test_page_state_allow_lists_sort_and_window():
    state = DashboardState.from_args({"window": "1d", "sort": "p99", "direction": "asc"})
    assert (state.window, state.sort, state.desc) == ("1d", "p99", False)
    bad = DashboardState.from_args({"window": "1y", "sort": "p95; DROP TABLE cadets", "direction": "sideways"})
    assert (bad.window, bad.sort, bad.desc) == ("1h", "p95", True)
    assert state.sort_args("p99")["direction"] == "desc"  # clicking the current column flips it
    assert state.sort_args("endpoint") == {"direction": "asc", "sort": "endpoint", "window": "1d"}


def test_charts_are_plain_svg_with_classes_and_escaped_text():
    labels = ["10:00", "10:01", "<b>"]
    svg = str(line_chart("Latency <p95>", labels, [("p50", [1.0, None, 3.0]), ("p95", [2.0, 8.0, 30.0])]))
    assert svg.startswith("<svg") and "<polyline" in svg and "series-1" in svg
    assert "style=" not in svg and "<script" not in svg and "<b>" not in svg and "&lt;p95&gt;" in svg
    bars = str(bar_chart("Requests", labels, [10, 0, 4], [1, 0, 0]))
    assert bars.count('class="bar"') == 2 and 'class="bar-error"' in bars
    assert "No requests" in str(line_chart("Empty", labels, [("p50", [None, None, None])]))


def test_monitoring_flag_from_config_or_environment(monkeypatch):
    class App:
        def __init__(self, config):
            self.config = config

    monkeypatch.setenv("MUSTER_MONITORING", "off")
    assert monitoring_enabled(App({})) is False
    assert monitoring_enabled(App({"MUSTER_MONITORING": True})) is True
    monkeypatch.delenv("MUSTER_MONITORING")
    assert monitoring_enabled(App({})) is True
    assert monitoring_enabled(App({"MUSTER_MONITORING": "0"})) is False
    assert re.fullmatch(r"[0-9a-f]{16}", statement_id("SELECT 1"))
