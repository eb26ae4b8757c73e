"""Two builds of Muster side by side: the same requests, the same machine, interleaved rounds.

    python -m bench.ab BEFORE AFTER [--cadets 10000] [--duration 3] [--rounds 3]

BEFORE and AFTER are git revisions of this repository. Each is exported (`git archive`) into a
temporary directory, seeded into its own PostgreSQL database (`muster_ab_0`, `muster_ab_1`) with its
own `flask seed`, and served by its own `python app.py` (production settings, one worker per core),
warm (cache on, its own Redis db) and cold (`MUSTER_CACHE=off`). Every path is then loaded with wrk in
rounds that alternate which build goes first, and the report gives each build's median req/s and the
ratio AFTER / BEFORE. Both builds run on the interpreter running this script (its venv must hold both
builds' requirements). Bounded: about (paths x 2 modes x 2 builds x rounds x duration) seconds plus two
seeds; every server and database it starts is removed again.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.harness import ROOT, Bench, fetch, page_headers, record_median, run_path, sign_in

PATHS = [  # (label, path, kind): kind "api" sends the Bearer token, "page" the session cookie
    ("cadets limit=50", "/api/cadets?limit=50", "api"),
    ("cadets limit=100", "/api/cadets?limit=100", "api"),
    ("grades limit=100", "/api/grades?limit=100", "api"),
    ("cadets company=Alpha limit=50", "/api/cadets?company=Alpha&limit=50", "api"),
    ("cadets HTML page (50 rows)", "/cadets/?per_page=50", "page"),
    ("grades HTML page (50 rows)", "/grades/?per_page=50", "page"),
]
REDIS_DBS = (7, 6)  # one per build; db 7 is make bench's own, so the two never run together


def export(rev: str, into: Path) -> str:
    """The tree of `rev` in `into`; returns the full commit id."""
    commit = subprocess.run(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.strip()
    into.mkdir(parents=True)
    archive = subprocess.Popen(["git", "archive", commit], cwd=ROOT, stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(into)], stdin=archive.stdout, check=True)
    if archive.wait():
        raise RuntimeError(f"git archive {commit} failed")
    return commit


def prepare(bench: Bench, index: int, rev: str) -> dict:
    """Export, seed and serve one build; returns {mode: (base URL, headers by kind)}."""
    args = bench.args
    commit = export(rev, bench.root)
    bench.facts["commit"] = commit
    print(f"build {index}: {rev} = {commit[:10]}: seeding {args.cadets} cadets", flush=True)
    bench.recreate_database()
    bench.seed(args.cadets)
    token = bench.credentials()
    api = {"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip"}
    servers = {}
    for mode, cache in (("warm", True), ("cold", False)):
        _, base = bench.serve_app(cache=cache)
        servers[mode] = (base, {"api": api, "page": page_headers(sign_in(base))})
    return servers


def measure(args: argparse.Namespace, builds: list[tuple[Bench, dict]]) -> list[tuple[str, str, list[float]]]:
    """Median req/s per (path, mode, build), the builds' order alternating round by round."""
    table = []
    for label, path, kind in PATHS:
        for mode in ("warm", "cold"):
            runs: list[list[dict]] = [[] for _ in builds]
            for round_no in range(args.rounds):
                order = range(len(builds)) if round_no % 2 == 0 else reversed(range(len(builds)))
                for i in order:
                    bench, servers = builds[i]
                    base, headers = servers[mode]
                    run_path(bench, base + path, headers[kind], runs[i])
            medians = []
            for i, (bench, _) in enumerate(builds):
                before = len(bench.rows)
                record_median(bench, "ab", label, f"{mode} build {i}", runs[i])
                medians.append(bench.rows[-1].rps if len(bench.rows) > before and bench.rows[-1].rps else 0.0)
            table.append((label, mode, medians))
    return table


def report(args: argparse.Namespace, builds: list[tuple[Bench, dict]], table: list) -> str:
    before, after = (b.facts["commit"][:10] for b, _ in builds)
    lines = [f"`python -m bench.ab {args.before} {args.after} --cadets {args.cadets} --duration {args.duration} "
             f"--rounds {args.rounds}`: wrk -t2 -c10, gzip, median req/s of {args.rounds} interleaved rounds",
             "", f"| path | mode | before {before} | after {after} | after / before |", "|---|---|---:|---:|---:|"]
    for label, mode, (old, new) in table:
        ratio = f"x{new / old:.2f}" if old and new else "n/a"
        lines.append(f"| {label} | {mode} | {old:.0f} | {new:.0f} | {ratio} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--cadets", type=int, default=10_000)
    parser.add_argument("--duration", type=int, default=3, help="seconds of wrk per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="muster-ab-"))
    benches = [Bench(args, db=f"muster_ab_{i}", redis_url=f"redis://127.0.0.1:6379/{REDIS_DBS[i]}",
                     root=workdir / f"build-{i}") for i in range(2)]
    try:
        revs = (args.before, args.after)
        builds = [(bench, prepare(bench, i, revs[i])) for i, bench in enumerate(benches)]
        for _, servers in builds:  # both answer before any load starts
            for base, headers in servers.values():
                fetch(base + "/api/cadets?limit=1", headers["api"])
        print(report(args, builds, measure(args, builds)), flush=True)
    finally:
        for bench in benches:
            bench.stop_all()
            bench.drop_database()
    return 0


if __name__ == "__main__":
    sys.exit(main())
