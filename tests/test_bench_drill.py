"""The drill morning's exactly-once proof (bench/drill.py), against tiny hand-made datasets."""

from datetime import UTC, datetime

from bench.drill import verify_check_ins
from bench.drill_people import arrivals

T = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)


def test_one_record_and_one_audit_row_each_passes():
    problems, unacked = verify_check_ins({1, 2}, [(1, T), (2, T), (3, T)], [1, 2, 3])
    assert problems == []
    assert unacked == 1  # stored, reply lost: allowed, counted


def test_a_lost_acknowledged_check_in_is_found():
    problems, _ = verify_check_ins({1, 2}, [(1, T)], [1])
    assert problems == ["cadet 2: acknowledged, 0 records", "cadet 2: 0 check-in audit rows"]


def test_duplicates_missing_time_and_double_audit_are_found():
    problems, _ = verify_check_ins({1, 2}, [(1, T), (1, T), (2, None), (4, T), (4, T)], [1, 2, 2])
    assert problems == ["cadet 1: acknowledged, 2 records", "cadet 4: 2 records", "cadet 2: no time_in",
                        "cadet 2: 2 check-in audit rows"]


def test_arrivals_surge_within_the_window():
    times = arrivals(600, 100)
    assert len(times) == 600 and times == sorted(times)
    assert 0 <= times[0] and times[-1] <= 60
    assert sum(t < 30 for t in times) > 300  # most cadets come early
