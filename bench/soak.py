"""`make soak`: a bounded soak of mixed reads and writes from several clients, then an audit of the data.

Seeds `muster_bench` (PostgreSQL) and serves Muster under waitress with Redis, like the benchmark. Then
--clients threads, each its own keep-alive HTTP client on loopback, run for --minutes a mix of:
  reads  - cadets / grades lists (varied filters, sorts, pages), one cadet, the cadets HTML page;
  writes - record a merit or demerit, bulk attendance on a day, a grade PATCH guarded by If-Match
           (a 409 is re-read and retried, as a careful script would).
Afterwards it checks the database against what the clients were told succeeded: every acknowledged
merit is there once, every cadet's merit/demerit totals equal the sum of their logs, attendance has
no duplicates and counts match, every acknowledged grade write moved the version by one. It samples
the app's resident memory every few seconds. Exits 1 on any error, lost write or memory growth over
--max-growth per cent after warm-up.

    python -m bench.soak [--cadets 5000] [--minutes 3] [--clients 6]
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import statistics
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from bench.harness import DB_NAME, PG, USER_AGENT, Bench, sign_in

SOAK_TAG = "soak"


def rss_mb(pid: int) -> float:
    found = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(found.group(1)) / 1024 if found else 0.0


class Client:
    """One keep-alive connection to the app, like one script or browser."""

    def __init__(self, base: str, token: str, cookie: str) -> None:
        parts = urlsplit(base)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        self.api = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.page = {"Cookie": cookie, "User-Agent": USER_AGENT}

    def call(self, method: str, path: str, body: dict | None = None, headers: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        self.conn.request(method, path, body=data, headers={**(headers or self.api)})
        response = self.conn.getresponse()
        raw = response.read()
        payload = json.loads(raw) if raw and response.getheader("Content-Type", "").startswith("application/json") \
            else None
        return response.status, payload, response


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.errors: list[str] = []
        self.merits: dict[int, list[tuple[str, int]]] = {}
        self.grade_writes: Counter[int] = Counter()
        self.latency: list[float] = []

    def add(self, what: str, ms: float) -> None:
        with self.lock:
            self.counts[what] += 1
            self.latency.append(ms)


def worker(n: int, base: str, token: str, cookie: str, cadets: int, days: list[int], deadline: float,
           tally: Tally) -> None:
    rng = random.Random(n)
    client = Client(base, token, cookie)
    reads = [
        lambda: client.call("GET", f"/api/cadets?limit=50&page={rng.randint(1, 20)}"),
        lambda: client.call("GET", "/api/grades?limit=100&sort=-final_grade&company="
                               + rng.choice(("Alpha", "Bravo", "Charlie", "Delta"))),
        lambda: client.call("GET", f"/api/cadets?company=Alpha&search={rng.choice('aeiou')}"),
        lambda: client.call("GET", f"/api/cadets/{rng.randint(1, cadets)}"),
        lambda: client.call("GET", f"/cadets/?per_page=50&page={rng.randint(1, 5)}", headers=client.page),
    ]
    while time.monotonic() < deadline:
        started = time.perf_counter()
        roll = rng.random()
        try:
            if roll < 0.70:
                what, (status, _, _) = "read", rng.choice(reads)()
                ok = status == 200
            elif roll < 0.82:
                what, ok = "merit", _merit(client, rng, cadets, n, tally)
            elif roll < 0.92:
                what, ok = "grade", _grade(client, rng, cadets, tally)
            else:
                what, ok = "attendance", _attendance(client, rng, cadets, days)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            what, ok = "transport", False
            tally.errors.append(f"client {n}: {exc!r}")
            client = Client(base, token, cookie)
        if not ok and what != "transport":
            tally.errors.append(f"client {n}: {what} failed")
        tally.add(what, (time.perf_counter() - started) * 1000)


def _merit(client: Client, rng: random.Random, cadets: int, n: int, tally: Tally) -> bool:
    cadet = rng.randint(1, min(cadets, 200))  # a small set, so writers of one cadet collide
    kind, points = rng.choice(("merit", "demerit")), rng.randint(1, 5)
    status, payload, _ = client.call("POST", "/api/merit-demerits", {
        "cadet_id": cadet, "type": kind, "points": points, "reason": f"{SOAK_TAG} {n}"})
    if status == 201:
        with tally.lock:
            tally.merits.setdefault(cadet, []).append((kind, points))
    return status == 201


def _grade(client: Client, rng: random.Random, cadets: int, tally: Tally) -> bool:
    cadet = rng.randint(1, min(cadets, 50))
    for _ in range(5):  # re-read and retry on a lost-update refusal
        status, payload, response = client.call("GET", f"/api/grades/{cadet}")
        if status != 200:
            return False
        status, _, _ = client.call("PATCH", f"/api/grades/{cadet}", {"prelim_score": rng.randint(50, 100)},
                                   headers={**client.api, "If-Match": response.getheader("ETag")})
        if status == 200:
            with tally.lock:
                tally.grade_writes[cadet] += 1
            return True
        if status != 409:
            return False
    return True  # five conflicts in a row: refused every time, nothing written, nothing lost


def _attendance(client: Client, rng: random.Random, cadets: int, days: list[int]) -> bool:
    ids = rng.sample(range(1, cadets + 1), 200)
    status, _, _ = client.call("POST", "/api/attendance/bulk", {
        "training_day_id": rng.choice(days), "cadet_ids": ids, "status": rng.choice(("present", "late")),
        "on_conflict": "update"})
    return status == 200


def audit(tally: Tally, versions_before: dict[int, int]) -> list[str]:
    """Compare the database with what the clients were told; returns the problems found."""
    problems = []
    with psycopg.connect(f"{PG}/{DB_NAME}") as conn:
        logged = Counter(conn.execute("SELECT cadet_id FROM merit_demerit_logs WHERE reason LIKE %s",
                                      (f"{SOAK_TAG} %",)).fetchall())
        for cadet, acked in tally.merits.items():
            if logged[(cadet,)] != len(acked):
                problems.append(f"cadet {cadet}: {len(acked)} merits acknowledged, {logged[(cadet,)]} stored")
        drift = conn.execute("""
            SELECT g.cadet_id FROM grades g
            LEFT JOIN (SELECT cadet_id, SUM(points) FILTER (WHERE type = 'merit') AS m,
                              SUM(points) FILTER (WHERE type = 'demerit') AS d
                       FROM merit_demerit_logs GROUP BY cadet_id) s ON s.cadet_id = g.cadet_id
            WHERE g.merit_points <> COALESCE(s.m, 0) OR g.demerit_points <> COALESCE(s.d, 0)""").fetchall()
        problems += [f"cadet {c}: totals differ from the sum of the logs" for (c,) in drift]
        dupes = conn.execute("SELECT COUNT(*) FROM (SELECT 1 FROM attendance_records GROUP BY training_day_id, "
                             "cadet_id HAVING COUNT(*) > 1) x").fetchone()[0]
        if dupes:
            problems.append(f"{dupes} duplicate attendance records")
        recount = conn.execute("""
            SELECT COUNT(*) FROM grades g WHERE g.attendance_present <> (SELECT COUNT(*) FROM attendance_records a
            WHERE a.cadet_id = g.cadet_id AND a.status IN ('present', 'late', 'excused'))""").fetchone()[0]
        if recount:
            problems.append(f"{recount} cadets' attendance_present differs from their records")
        for cadet, writes in tally.grade_writes.items():
            version = conn.execute("SELECT version FROM grades WHERE cadet_id = %s", (cadet,)).fetchone()[0]
            if version != versions_before[cadet] + writes:
                problems.append(f"cadet {cadet}: {writes} grade writes acknowledged, version moved "
                                f"{version - versions_before[cadet]}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cadets", type=int, default=5_000)
    parser.add_argument("--minutes", type=float, default=3)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--max-growth", type=float, default=15.0, help="allowed RSS growth after warm-up, %%")
    args = parser.parse_args(argv)
    b = Bench(argparse.Namespace(duration=5, sizes=[args.cadets], no_write_doc=True))
    try:
        b.recreate_database()
        b.seed(args.cadets)
        token = b.credentials()
        proc, base = b.serve_app(cache=True)
        cookie = sign_in(base)
        with psycopg.connect(f"{PG}/{DB_NAME}") as conn:
            days = [d for (d,) in conn.execute("SELECT id FROM training_days ORDER BY id")]
            versions = dict(conn.execute("SELECT cadet_id, version FROM grades WHERE cadet_id <= 50").fetchall())
        tally = Tally()
        deadline = time.monotonic() + args.minutes * 60
        threads = [threading.Thread(target=worker, args=(n, base, token, cookie, args.cadets, days, deadline, tally))
                   for n in range(args.clients)]
        for t in threads:
            t.start()
        samples = []
        while any(t.is_alive() for t in threads):
            time.sleep(5)
            samples.append(rss_mb(proc.pid))
            done = sum(tally.counts.values())
            print(f"{len(samples) * 5:4d} s: {done} requests, {len(tally.errors)} errors, RSS {samples[-1]:.0f} MB",
                  flush=True)
        for t in threads:
            t.join()
        problems = audit(tally, versions)
        warm = samples[len(samples) // 4:] or samples
        growth = (statistics.median(warm[-3:]) / statistics.median(warm[:3]) - 1) * 100 if len(warm) >= 6 else 0.0
        seconds = args.minutes * 60
        print(f"\nsoak: {args.clients} clients, {args.minutes:g} min, {args.cadets} cadets (PostgreSQL + Redis)")
        print("requests: " + ", ".join(f"{k} {v}" for k, v in sorted(tally.counts.items()))
              + f" = {sum(tally.counts.values())} ({sum(tally.counts.values()) / seconds:.0f}/s)")
        print(f"latency ms: p50 {statistics.median(tally.latency):.1f}, "
              f"p99 {statistics.quantiles(tally.latency, n=100)[98]:.1f}")
        print(f"errors: {len(tally.errors)} {tally.errors[:5]}")
        print(f"lost or wrong writes: {len(problems)} {problems[:5]}")
        print(f"RSS MB after warm-up: first {warm[0]:.0f}, last {warm[-1]:.0f}, max {max(samples):.0f}; "
              f"growth {growth:+.1f}% (median of 3 samples)")
        return 1 if tally.errors or problems or growth > args.max_growth else 0
    except KeyboardInterrupt:
        return 130
    finally:
        b.stop_all()
        b.drop_database()


if __name__ == "__main__":
    raise SystemExit(main())
