"""The report of `make bench`: the machine, the results table, the targets of the performance issue
against what the run measured, and docs/performance.md (its hand-written Analysis kept across runs)."""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from bench.harness import CONNECTIONS, DAYS, ROOT, WRK_THREADS, Bench, Row
from bench.lists import DEEP, DEEP_CADETS, DEEP_SEEK, HTML_TWINS, READ_PATHS

ANALYSIS = "## Analysis"  # docs/performance.md keeps this section (written by hand) across runs


def machine() -> dict[str, str]:
    cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    mem = re.search(r"MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text())
    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu.group(1).strip() if cpu else platform.processor(), "nproc": str(os.cpu_count()),
            "memory": f"{int(mem.group(1)) / 1024 / 1024:.1f} GiB" if mem else "?",
            "python": platform.python_version(), "kernel": platform.release(), "postgres": pg,
            "wrk": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0]}


def fmt(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def table(rows: list[Row]) -> str:
    lines = ["| data | request | mode | req/s | p50 ms | p90 ms | p99 ms | body bytes | note |",
             "|---|---|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r.dataset} | {r.what} | {r.mode} | {fmt(r.rps, 0)} | {fmt(r.p50, 2)} | {fmt(r.p90, 2)} | "
                     f"{fmt(r.p99, 2)} | {r.size or ''} | {r.note} |")
    return "\n".join(lines)


def _find(rows: list[Row], dataset: str, what: str, mode: str) -> Row | None:
    return next((r for r in rows if r.dataset == dataset and r.what == what and r.mode == mode and r.rps), None)


def targets(b: Bench) -> str:
    """Each target of the performance issue against what this run measured."""
    out = ["| target | measured | met |", "|---|---|---|"]

    def line(target: str, measured: str, ok: bool | None) -> None:
        out.append(f"| {target} | {measured} | {'yes' if ok else 'no' if ok is not None else 'n/a'} |")

    rows = b.rows
    for label in sorted({r.dataset for r in rows}, key=lambda x: int(x[:-1])):
        for what, _path, kind, _peer in READ_PATHS:
            if kind != "api":
                continue
            warm, cold = _find(rows, label, what, "warm"), _find(rows, label, what, "cold")
            peer_warm, peer_cold = _find(rows, label, what, "peer warm"), _find(rows, label, what, "peer cold")
            ceiling = _find(rows, label, what, "ceiling")
            if warm and peer_warm:
                line(f"{label} warm {what}: >= 4x the peer", f"x{warm.rps / peer_warm.rps:.2f} "
                     f"({warm.rps:.0f} / {peer_warm.rps:.0f} req/s)", warm.rps >= 4 * peer_warm.rps)
            if warm and ceiling:
                line(f"{label} warm {what}: >= 0.5x the ceiling (same processes), p99 < 15 ms",
                     f"x{warm.rps / ceiling.rps:.2f} ({warm.rps:.0f} / {ceiling.rps:.0f}), p99 {warm.p99:.1f} ms",
                     warm.rps >= 0.5 * ceiling.rps and warm.p99 < 15)
            if cold and peer_cold:
                factor = 10 if what in (DEEP, DEEP_SEEK, DEEP_CADETS) else 3
                line(f"{label} cold {what}: >= {factor}x the peer", f"x{cold.rps / peer_cold.rps:.2f} "
                     f"({cold.rps:.0f} / {peer_cold.rps:.0f} req/s)", cold.rps >= factor * peer_cold.rps)
        cold_lists = sorted(c.rps / p.rps for what, _path, kind, _peer in READ_PATHS
                            if kind == "api" and what not in (DEEP, DEEP_SEEK, DEEP_CADETS)
                            and (c := _find(rows, label, what, "cold")) and (p := _find(rows, label, what, "peer cold"))
                            and c.rps and p.rps)
        if len(cold_lists) >= 2:  # issue 18: the median of the lists against the peer, none below x2
            median = statistics.median(cold_lists)
            line(f"{label} cold API lists: median >= 3x the peer, none below 2x",
                 f"median x{median:.2f} of {len(cold_lists)}, lowest x{cold_lists[0]:.2f}",
                 median >= 3 and cold_lists[0] >= 2)
        for page, api in HTML_TWINS.items():
            for mode in ("warm", "cold"):
                h, a = _find(rows, label, page, mode), _find(rows, label, api, mode)
                if h and a:
                    line(f"{label} {mode} {page}: within 1.5x of its API's cost ({api})",
                         f"{a.rps / h.rps:.2f}x ({h.rps:.0f} vs {a.rps:.0f} req/s)", a.rps / h.rps <= 1.5)
        mix = _find(rows, label, "write mix: grade PATCH + bulk attendance x50", "warm")
        if mix:
            line(f"{label} write mix >= 3x the 60-67 req/s measured before (200 req/s)", f"{mix.rps:.0f} req/s",
                 mix.rps >= 200)
        for mode in ("warm", "cold"):
            on = _find(rows, label, "cadets limit=50 (page 1)", f"{mode}, mon. on")
            off = _find(rows, label, "cadets limit=50 (page 1)", f"{mode}, mon. off")
            if on and off:
                gap = abs(1 - on.rps / off.rps) * 100
                line(f"{label} {mode} monitoring on vs off: <= 3% apart", f"on {on.rps:.0f} vs off {off.rps:.0f} "
                     f"req/s ({gap:.1f}% apart)", gap <= 3)
        for key, name, limit in (("bulk_attendance_5000", "bulk attendance, 5,000 cadets, one call", 1.0),
                                 ("import_5000", "import of 5,000 cadets", 2.0)):
            if f"{key}_{label}" in b.facts:
                seconds, status = b.facts[f"{key}_{label}"]
                line(f"{label} {name} < {limit:g} s", f"{seconds:.2f} s (HTTP {status})",
                     seconds < limit and status in (200, 201))
        if f"rss_warm_{label}" in b.facts:
            mb = b.facts[f"rss_warm_{label}"]
            line(f"{label} resident memory of all workers under load < 400 MB", f"{mb:.0f} MB (warm server)",
                 mb < 400)
    return "\n".join(out)


def _peer_line() -> str:
    if not os.environ.get("PEER_URL"):
        return "none given (PEER_URL unset)"
    return (f"PEER_URL={os.environ['PEER_URL']} (cache on), PEER_COLD_URL={os.environ.get('PEER_COLD_URL')} "
            f"(cache off), {os.environ.get('PEER_SIZE', 10000)} cadets; PEER_BIG_COLD_URL="
            f"{os.environ.get('PEER_BIG_COLD_URL')} ({os.environ.get('PEER_BIG_SIZE', 100000)} cadets): "
            "../shared/peer (Django + DRF + django-redis + gunicorn, 2 x cores + 1 sync workers)")


def write_doc(b: Bench, started: datetime, seconds: float) -> str:
    info = machine()
    seeds = ", ".join(f"{k.removeprefix('seed_')} cadets in {v:.1f} s" for k, v in b.facts.items()
                      if k.startswith("seed_"))
    doc = f"""# Performance

The latest output of `make bench` (`python -m bench.run {' '.join(sys.argv[1:])}`), written by the script.

- Date: {started:%Y-%m-%d %H:%M} UTC, {seconds / 60:.1f} minutes
- Machine: {info['nproc']} CPUs ({info['cpu']}), {info['memory']} RAM, Linux {info['kernel']},
  Python {info['python']}, {info['postgres']}, {info['wrk']}
- Data: `flask --app app seed --cadets N --days {DAYS}` into a fresh PostgreSQL database ({seeds})
- Server: `python app.py`: {os.environ.get('MUSTER_WORKERS', os.cpu_count())} waitress worker processes of
  {os.environ.get('WAITRESS_THREADS', '8')} threads on one socket, MUSTER_ENV=production, Redis db 7;
  cold = `MUSTER_CACHE=off`, warm = cache on (the API serves its stored gzip body)
- Peer: {_peer_line()}
- Rounds: Muster warm, peer warm, Muster cold, peer cold, repeated {b.args.rounds} times per path; each figure is the
  median of its rounds (the note lists every round)
- Load: `wrk -t{WRK_THREADS} -c{CONNECTIONS} -d{b.args.duration}s --timeout 5s -s bench/report.lua` on 127.0.0.1 with
  `Accept-Encoding: gzip`, a Bearer token (API) or a session cookie (pages); the write mix is
  `bench/writes.lua` (grade PATCH and bulk attendance of 50 cadets, alternating)
- Ceiling: `python -m bench.ceiling`: the same server (server.py, same worker count and threads) serving
  the very bodies the app served, with no app behind them
- Floor: the app's own SQL for the request (captured from one cold request), replayed on one prepared
  psycopg 3 connection in autocommit, plus orjson and gzip (`bench/floor.py`); one thread in a loop,
  so a lower bound of a cold request's work; its req/s column is 1000 / mean ms

## Results

{table(b.rows)}

## Targets

{targets(b)}
"""
    path = ROOT / "docs" / "performance.md"
    if path.exists() and ANALYSIS in path.read_text():
        doc += "\n" + ANALYSIS + path.read_text().split(ANALYSIS, 1)[1]  # the hand-written part survives
    if not b.args.no_write_doc:
        path.parent.mkdir(exist_ok=True)
        path.write_text(doc)
    return doc
