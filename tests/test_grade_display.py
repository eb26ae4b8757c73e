"""What staff see agrees with the band: grades truncated to two decimals on pages and in CSV, never
rounded up across a band edge. The API keeps the raw value."""

from __future__ import annotations

import csv
import io

import pytest

from blueprints.core.operations.attendance import mark_attendance
from blueprints.core.operations.grades import update_grade
from grading import EPSILON, TRANSMUTATION, display_grade, transmute
from tests.factories import make_cadet, make_token, make_training_day, make_user, signed_in
from tests.test_api_support import body_of, call

EDGES = [threshold for threshold, _ in TRANSMUTATION]


@pytest.mark.parametrize("edge", EDGES)
def test_just_below_each_band_edge_shows_below_it(edge):
    for value in (edge - 0.004, edge - 0.001, edge - 0.0000015):
        assert display_grade(value) == f"{edge - 0.01:.2f}"
        assert transmute(value)[0] != transmute(edge)[0]  # and the band is the lower one


@pytest.mark.parametrize("edge", EDGES)
def test_at_each_band_edge_shows_the_edge_and_its_band(edge):
    for value in (edge, edge - EPSILON / 2, edge + 0.004):  # EPSILON/2 below: float noise that transmute forgives
        assert display_grade(value) == f"{edge:.2f}"
        assert transmute(value) == transmute(edge)


@pytest.mark.parametrize(("value", "shown"), [(74.99, "74.99"), (66.0, "66.00"), (0.0, "0.00"), (100.0, "100.00"),
                                              (30.0 + 36.0, "66.00"), (None, None), (88.129999999, "88.13")])
def test_plain_values_keep_their_hundredths(value, shown):
    assert display_grade(value) == shown


def _cadet_at_74_996(admin) -> int:
    """Full attendance (30) + full aptitude (30) + subject (100 + 12.47) x 40 / 300 = 74.996: Failed."""
    cadet = make_cadet(admin, last_name="Edgecase")
    mark_attendance(admin, make_training_day(admin), {cadet: "present"})
    update_grade(admin, cadet, {"prelim_score": 100.0, "midterm_score": 12.47})
    return cadet


def test_the_cadet_page_shows_74_99_beside_failed(client):
    admin = signed_in(client)
    cadet = _cadet_at_74_996(admin)
    html = client.get(f"/cadets/{cadet}").get_data(as_text=True)
    assert "74.99" in html and "Failed" in html
    assert "75.00" not in html


@pytest.mark.parametrize("path", ["/cadets/export.csv", "/grades/export.csv"])
def test_csv_exports_truncate(client, path):
    admin = signed_in(client)
    _cadet_at_74_996(admin)
    rows = list(csv.DictReader(io.StringIO(client.get(path).get_data(as_text=True))))
    assert rows[0]["final_grade"] == "74.99"
    assert rows[0]["remarks"] == "Failed"


def test_the_api_keeps_the_raw_value(client):
    admin = make_user("admin")
    cadet = _cadet_at_74_996(admin)
    res = call(client, "GET", f"/api/grades/{cadet}", make_token(admin))
    assert body_of(res)["data"]["final_grade"] == pytest.approx(74.996, abs=1e-9)


def test_print_sheets_truncate_like_the_pages(client):
    """The company grade sheet and the printed record: "74.99" beside "Failed", never "75.00"."""
    admin = signed_in(client)
    cadet = _cadet_at_74_996(admin)
    for path in ("/print/grades?company=Alpha", f"/print/cadets/{cadet}"):
        html = client.get(path).get_data(as_text=True)
        assert "74.99" in html and "Failed" in html, path
        assert "75.00" not in html, path
