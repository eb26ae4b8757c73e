"""`make soak`: a long, steady mixed load to catch leaks and slow drift (skeleton).

Seeds `muster_bench` like the benchmark, serves Muster with the cache on, then alternates one read
round and one write round of wrk for --minutes, printing req/s, p99 and the app's RSS per round.
Exits 1 if any request failed or the RSS grew by more than --max-growth per cent after the first round.

    python -m bench.soak [--cadets 10000] [--minutes 10] [--round 20]
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

from bench.run import Bench


def rss_mb(pid: int) -> float:
    found = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(found.group(1)) / 1024 if found else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cadets", type=int, default=10_000)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--round", type=int, default=20, help="seconds per wrk round")
    parser.add_argument("--max-growth", type=float, default=20.0, help="allowed RSS growth in per cent")
    args = parser.parse_args(argv)
    b = Bench(argparse.Namespace(duration=args.round, sizes=[args.cadets], no_write_doc=True))
    failures, baseline = 0, None
    try:
        b.recreate_database()
        b.seed(args.cadets)
        token = b.credentials()
        proc, base = b.serve_app(cache=True)
        headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip"}
        deadline = time.monotonic() + args.minutes * 60
        rounds = 0
        while time.monotonic() < deadline:
            rounds += 1
            reads = b.wrk(base + "/api/cadets?limit=50", headers)
            writes = b.wrk(base + "/api/grades/1", headers, "writes.lua", (args.cadets, 1))
            failures += sum(r["non2xx"] + r["socket_errors"] for r in (reads, writes))
            mb = rss_mb(proc.pid)
            baseline = baseline or mb
            print(f"round {rounds}: reads {reads['rps']:.0f} req/s p99 {reads['p99']:.1f} ms, writes "
                  f"{writes['rps']:.0f} req/s p99 {writes['p99']:.1f} ms, RSS {mb:.0f} MB", flush=True)
        grew = (mb / baseline - 1) * 100 if baseline else 0.0
        print(f"failed requests: {failures}; RSS growth after round 1: {grew:.0f}%")
        return 1 if failures or grew > args.max_growth else 0
    except KeyboardInterrupt:
        return 130
    finally:
        b.stop_all()
        b.drop_database()


if __name__ == "__main__":
    raise SystemExit(main())
