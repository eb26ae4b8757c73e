"""Time a 5,000-row roster import end to end through the pages: upload + preview, then commit.

    TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/muster_c REDIS_URL=redis://127.0.0.1:6379/2 \
        .venv/bin/python -m bench.roster_import [--rows 5000] [--kind xlsx|csv] [--runs 3]

Uses the test client against a fresh schema in the given database (it drops and recreates every
table), so point it only at a scratch database; without one it uses SQLite in a new temporary folder.
Prints the wall time of each step and the total per run, the app process's CPU time (PostgreSQL works
in its own processes) and the machine's load average.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import re
import tempfile
import time

import openpyxl
from sqlalchemy import text

from app import create_app
from models import db
from tests.factories import login, make_user

HEADINGS = ["Student No.", "Last Name", "First Name", "Middle Name", "Company", "Platoon", "Course", "Year Level",
            "Status", "E-mail", "Contact #"]


def roster(rows: int) -> list[list]:
    return [[f"2026-{i:06d}", f"Santos{i}", "Maria Clara", "Reyes", "Alpha", "1st", "BS Nursing", 1 + i % 4,
             "Ongoing", f"cadet{i}@example.test", "+63 917 123 4567"] for i in range(rows)]


def as_xlsx(rows: list[list]) -> bytes:
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Roster")
    sheet.append(HEADINGS)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def as_csv(rows: list[list]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADINGS)
    writer.writerows(rows)
    return out.getvalue().encode()


def run_once(app, data: bytes, name: str) -> tuple[float, float, float]:
    with app.app_context():
        db.session.execute(text("DELETE FROM grades"))
        db.session.execute(text("DELETE FROM cadets"))
        db.session.commit()
    client = app.test_client()
    with app.app_context():
        login(client, make_user("admin"))
    started, cpu = time.perf_counter(), time.process_time()
    preview = client.post("/cadets/import", data={"file": (io.BytesIO(data), name)},
                          content_type="multipart/form-data")
    uploaded = time.perf_counter()
    assert preview.status_code == 200, preview.status_code
    form = {"sheet": re.search(r'name="sheet" value="([^"]+)"', preview.text).group(1), "action": "import",
            "on_existing": "skip"}
    for field, body in re.findall(r'<select id="map-(\w+)"[^>]*>(.*?)</select>', preview.text, re.S):
        picked = re.search(r'<option value="(\d+)" selected>', body)
        if picked:
            form[f"map-{field}"] = picked.group(1)
    done = client.post("/cadets/import/review", data=form)
    assert done.status_code == 303, done.text[:2000]
    return uploaded - started, time.perf_counter() - uploaded, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--kind", choices=("xlsx", "csv"), default="xlsx")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    scratch = tempfile.mkdtemp(prefix="muster-roster-bench-")  # SQLite: never the instance database
    app = create_app({"MUSTER_ENV": "testing", "TESTING": True, "WTF_CSRF_ENABLED": False,
                      "SECRET_KEY": "bench-secret-key-not-for-production",
                      "SQLALCHEMY_DATABASE_URI": url or f"sqlite:///{scratch}/bench.db"})
    with app.app_context():
        db.drop_all()
        db.create_all()
    rows = roster(args.rows)
    data = as_xlsx(rows) if args.kind == "xlsx" else as_csv(rows)
    print(f"{args.rows:,} rows, {args.kind}, {len(data) / 1024:.0f} KiB, {'PostgreSQL' if url else 'SQLite'}")
    for run in range(1, args.runs + 1):
        upload, commit, cpu = run_once(app, data, f"roster.{args.kind}")
        print(f"run {run}: upload + preview {upload:.2f} s, commit {commit:.2f} s, end to end {upload + commit:.2f} s "
              f"(app CPU {cpu:.2f} s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
