"""`make bench`: seed PostgreSQL, serve Muster (`python app.py`, one worker per core), drive wrk on
loopback, and write docs/performance.md, with an optional comparison server measured in the same run.

Bounded (about 15 minutes on 2 cores) and tidy: the database `muster_bench` and Redis db 7 are its own,
and every process it starts is stopped again, also on Ctrl-C or an error.

    python -m bench.run [--sizes 10000,100000] [--duration 5] [--rounds 2] [--no-write-doc]

Then the drill morning (bench/drill.py: its own database, about 4 minutes) adds its section; --no-drill skips it.

The comparison server (e.g. ../shared/peer, the design Muster replaces) is given by environment:
PEER_URL (cache on) and PEER_COLD_URL (cache off) holding PEER_SIZE cadets (default 10000), and
PEER_BIG_COLD_URL holding PEER_BIG_SIZE cadets (default 100000), all with the Bearer token PEER_TOKEN.
Muster and the peer are measured in interleaved rounds (Muster, peer, Muster, peer...) and each
figure is the median of its rounds, so both see the same machine.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import redis

from bench import floor
from bench.harness import (
    DB_NAME,
    PG,
    REDIS_URL,
    Bench,
    Row,
    RssSampler,
    fetch,
    guarded,
    page_headers,
    record_median,
    run_path,
    sign_in,
)
from bench.lists import BIG_PATHS, DEEP, DEEP_CADETS, DEEP_SEEK, READ_PATHS
from bench.results import write_doc

# --- one dataset ---------------------------------------------------------------------------


@dataclass
class Peer:
    """The comparison server: warm and cold base URLs for one data size, and its token."""

    size: int
    warm: str | None
    cold: str | None
    token: str

    @classmethod
    def from_env(cls, cadets: int) -> Peer | None:
        token = os.environ.get("PEER_TOKEN", "")
        if cadets == int(os.environ.get("PEER_SIZE", 10_000)) and os.environ.get("PEER_URL"):
            return cls(cadets, os.environ["PEER_URL"], os.environ.get("PEER_COLD_URL"), token)
        if cadets == int(os.environ.get("PEER_BIG_SIZE", 100_000)) and os.environ.get("PEER_BIG_COLD_URL"):
            return cls(cadets, None, os.environ["PEER_BIG_COLD_URL"], token)
        return None


def run_dataset(b: Bench, cadets: int, token: str) -> None:
    label = f"{cadets // 1000}k"
    big = cadets > min(b.args.sizes)
    api_headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip"}
    paths = [p for p in READ_PATHS if (p[0] in BIG_PATHS if big else p[0] not in (DEEP, DEEP_SEEK, DEEP_CADETS))]
    paths = [(w, path.format(anchor=_deep_anchor()) if w == DEEP_SEEK else path, k, pp) for w, path, k, pp in paths]
    peer = Peer.from_env(cadets)
    redis.Redis.from_url(REDIS_URL).flushdb()
    warm_proc, warm = b.serve_app(cache=True)
    cold_proc, cold = b.serve_app(cache=False)
    headers = {warm: {"api": api_headers, "page": page_headers(sign_in(warm))},
               cold: {"api": api_headers, "page": page_headers(sign_in(cold))}}
    rss = {"warm": RssSampler(warm_proc.pid), "cold": RssSampler(cold_proc.pid)}
    bodies: dict[str, dict] = {}
    for what, path, kind, peer_path in paths:
        runs: dict[str, list[dict]] = {}
        for _ in range(b.args.rounds):  # interleaved: every server sees the same machine
            for mode, base in (("warm", warm), ("cold", cold)):
                captured = run_path(b, base + path, headers[base][kind], runs.setdefault(mode, []))
                if captured is not None and mode == "warm":
                    bodies[path] = captured
                peer_base = getattr(peer, mode, None) if peer and peer_path else None
                if peer_base:
                    peer_headers = {"Authorization": f"Bearer {peer.token}", "Accept-Encoding": "gzip"}
                    run_path(b, peer_base + peer_path, peer_headers, runs.setdefault(f"peer {mode}", []))
        for mode, results in runs.items():
            record_median(b, label, what, mode, results)
    for mode, sampler in rss.items():
        b.facts[f"rss_{mode}_{label}"] = sampler.stop()
    if not big:
        guarded(b, label, "writes", writes, b, label, warm, api_headers, cadets)
    b.stop(warm_proc)
    b.stop(cold_proc)
    if not big:
        guarded(b, label, "monitoring off", monitoring_off, b, label, api_headers)
        ceiling(b, label, bodies, paths)
    floors(b, label, token, paths)


def _deep_anchor() -> int:
    """The id of the last row of page 1,899 of grades by -final_grade: after=<it> is page 1,900."""
    with psycopg.connect(f"{PG}/{DB_NAME}") as conn:
        return conn.execute("SELECT c.id FROM cadets c JOIN grades g ON g.cadet_id = c.id WHERE NOT c.is_archived "
                            "ORDER BY g.final_grade DESC, c.id DESC OFFSET 94949 LIMIT 1").fetchone()[0]


def ceiling(b: Bench, label: str, bodies: dict[str, dict], paths: list) -> None:
    if not bodies:
        return
    proc, base = b.serve_ceiling(bodies)
    for what, path, kind, _ in paths:
        if path in bodies and kind == "api":
            result = b.wrk(base + path, {"Accept-Encoding": "gzip"})
            b.record(label, what, "ceiling", result, len(base64.b64decode(bodies[path]["body_b64"])))
    b.stop(proc)


def floors(b: Bench, label: str, token: str, paths: list) -> None:
    """The app's own SQL for each API path, replayed on one prepared connection (bench/floor.py)."""
    dsn = f"{PG}/{DB_NAME}"
    env = {"DATABASE_URL": f"{PG}/{DB_NAME}", "REDIS_URL": "", "MUSTER_ENV": "development"}
    for what, path, kind, _ in paths:
        if kind != "api":
            continue
        found = floor.measure(dsn, floor.capture(path, token, env))
        b.rows.append(Row(label, what, "floor (1 thread)", 1000 / found["mean"], found["p50"], None,
                          found["p99"], found["bytes"], f"mean {found['mean']:.2f} ms over {found['runs']} runs"))
        print(f"  {label:>4} floor          {what:<38} mean {found['mean']:.2f} ms", flush=True)








def monitoring_off(b: Bench, label: str, api_headers: dict) -> None:
    """The cost of the monitoring side-car: the cadets list, on and off, interleaved, warm and cold."""
    what, path = "cadets limit=50 (page 1)", "/api/cadets?limit=50"
    for cache in (True, False):
        on_proc, on = b.serve_app(cache=cache)
        off_proc, off = b.serve_app(cache=cache, monitoring=False)
        runs: dict[str, list[dict]] = {}
        mode = "warm" if cache else "cold"
        for _ in range(b.args.rounds + 1):
            run_path(b, on + path, api_headers, runs.setdefault(f"{mode}, mon. on", []))
            run_path(b, off + path, api_headers, runs.setdefault(f"{mode}, mon. off", []))
        for name, results in runs.items():
            record_median(b, label, what, name, results)
        b.stop(on_proc)
        b.stop(off_proc)


def writes(b: Bench, label: str, base: str, api_headers: dict, cadets: int) -> None:
    json_headers = {**api_headers, "Content-Type": "application/json"}
    json_headers.pop("Accept-Encoding")
    status, _, body = fetch(base + "/api/training-days", json_headers, "POST",
                            json.dumps({"date": "2027-03-01", "title": "Bench day"}).encode())
    if status not in (200, 201):
        b.rows.append(Row(label, "write mix", "warm", note=f"skipped: POST /api/training-days HTTP {status}"))
        return
    day = _find_id(json.loads(body))
    result = b.wrk(base + "/api/grades/1", api_headers, "writes.lua", (cadets, day))
    b.record(label, "write mix: grade PATCH + bulk attendance x50", "warm", result)

    # One bulk attendance call for 5,000 cadets on a fresh day, and one import of 5,000 cadets.
    status, _, body = fetch(base + "/api/training-days", json_headers, "POST",
                            json.dumps({"date": "2027-03-08", "title": "Bulk day"}).encode())
    if status not in (200, 201):
        b.rows.append(Row(label, "bulk writes", "warm", note=f"skipped: POST /api/training-days HTTP {status} "
                                                             f"{body[:200]!r}"))
        return
    day = _find_id(json.loads(body))
    payload = json.dumps({"training_day_id": day, "cadet_ids": list(range(1, 5001)), "status": "present"}).encode()
    started = time.perf_counter()
    status, _, _ = fetch(base + "/api/attendance/bulk", json_headers, "POST", payload)
    b.facts[f"bulk_attendance_5000_{label}"] = (time.perf_counter() - started, status)
    rows = [{"student_id": f"BENCH-{label}-{i:05d}", "first_name": f"Bench{i}", "last_name": "Import",
             "company": "Echo", "platoon": "1st", "year_level": 1} for i in range(5000)]
    started = time.perf_counter()
    status, _, _ = fetch(base + "/api/cadets/import", json_headers, "POST", json.dumps({"cadets": rows}).encode())
    b.facts[f"import_5000_{label}"] = (time.perf_counter() - started, status)
    print(f"  {label:>4} bulk attendance x5000: {b.facts[f'bulk_attendance_5000_{label}']}, "
          f"import x5000: {b.facts[f'import_5000_{label}']}", flush=True)


def _find_id(payload: Any) -> int:
    data = payload.get("data", payload) if isinstance(payload, dict) else payload
    return int(data["id"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="cadet counts to bench, comma-separated")
    parser.add_argument("--duration", type=int, default=5, help="seconds of wrk per measurement")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds per path (median reported)")
    parser.add_argument("--no-write-doc", action="store_true", help="print the report, leave docs/ alone")
    parser.add_argument("--keep-db", action="store_true", help="leave muster_bench in place afterwards")
    parser.add_argument("--no-drill", action="store_true", help="skip the drill morning (bench/drill.py)")
    args = parser.parse_args(argv)
    args.sizes = sorted(int(s) for s in args.sizes.split(","))
    b = Bench(args)
    started, t0 = datetime.now(UTC), time.perf_counter()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        for cadets in args.sizes:
            print(f"== {cadets} cadets: seeding", flush=True)
            b.recreate_database()
            b.facts[f"seed_{cadets}"] = b.seed(cadets)
            print(f"   seeded in {b.facts[f'seed_{cadets}']:.1f} s", flush=True)
            token = b.credentials()
            run_dataset(b, cadets, token)
        doc = write_doc(b, started, time.perf_counter() - t0)
        print(doc)
        if not args.no_drill:  # its own database and server, after the lists: adds its section to the doc
            from bench import drill  # here: bench.drill builds on this module

            b.stop_all()
            drill_args = ["--no-write-doc"] if args.no_write_doc else []
            return drill.main(drill_args)
        return 0
    except KeyboardInterrupt:
        print("interrupted; stopping everything", file=sys.stderr)
        return 130
    finally:
        b.stop_all()
        if not args.keep_db:
            try:
                b.drop_database()
            except Exception as exc:  # noqa: BLE001 - best effort; report and leave
                print(f"could not drop {DB_NAME}: {exc}", file=sys.stderr)
        print(f"logs: {b.workdir}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
