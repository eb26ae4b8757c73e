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
import platform
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import redis

from bench import floor

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
PYTHON = sys.executable
FLASK = str(Path(PYTHON).with_name("flask"))
PG = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
DB_NAME = "muster_bench"
REDIS_URL = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/7")
CONNECTIONS, WRK_THREADS = 10, 2
DAYS = 20
ANALYSIS = "## Analysis"  # docs/performance.md keeps this section (written by hand) across runs
ADMIN, PASSWORD = "bench-admin", "bench-" + secrets.token_urlsafe(12)
# One browser: sign-in and the page requests send the same User-Agent, as a browser does. Flask-Login's
# session protection ties the session to it; another one is a session Flask rewrites on every request.
USER_AGENT = "muster-bench"

DEEP = "grades sort=-final_grade page=1900"
DEEP_SEEK = "grades sort=-final_grade after row 94,950 (keyset)"  # the same page, reached by its cursor
# (label, path, kind, the peer's equivalent or None): kind "api" uses the token, "page" the session cookie.
# The peer cannot sort grades, so its deep page is page 1,900 in id order.
READ_PATHS = [
    ("cadets limit=50 (page 1)", "/api/cadets?limit=50", "api", "/api/cadets?limit=50"),
    ("cadets limit=100", "/api/cadets?limit=100", "api", "/api/cadets?limit=100"),
    ("grades limit=100", "/api/grades?limit=100", "api", "/api/grades?limit=100"),
    ("cadets company=Alpha limit=50", "/api/cadets?company=Alpha&limit=50", "api",
     "/api/cadets?company=Alpha&limit=50"),
    ("grades limit=50", "/api/grades?limit=50", "api", None),
    (DEEP, "/api/grades?sort=-final_grade&page=1900&limit=50", "api", "/api/grades?page=1900&limit=50"),
    (DEEP_SEEK, "/api/grades?sort=-final_grade&limit=50&after={anchor}", "api", "/api/grades?page=1900&limit=50"),
    ("cadets HTML page (50 rows)", "/cadets/?per_page=50", "page", None),
    ("grades HTML page (50 rows)", "/grades/?per_page=50", "page", None),
]
HTML_TWINS = {"cadets HTML page (50 rows)": "cadets limit=50 (page 1)", "grades HTML page (50 rows)": "grades limit=50"}
BIG_PATHS = ("cadets limit=50 (page 1)", DEEP, DEEP_SEEK)  # at 100k: the deep page against the peer, memory under load


@dataclass
class Row:
    dataset: str
    what: str
    mode: str
    rps: float | None = None
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    size: int | None = None
    note: str = ""


@dataclass
class Bench:
    args: argparse.Namespace
    rows: list[Row] = field(default_factory=list)
    procs: list[subprocess.Popen] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="muster-bench-")))
    db: str = DB_NAME  # a scenario run beside other work (bench/drill.py) names its own database and Redis db
    redis_url: str = REDIS_URL

    # --- processes ---------------------------------------------------------------------------

    def start(self, cmd: list[str], env: dict[str, str], name: str) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        proc.log = log  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        proc.log.close()  # type: ignore[attr-defined]
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self.procs):
            try:
                self.stop(proc)
            except ProcessLookupError:
                pass

    # --- database and app -------------------------------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("TEST_DATABASE_URL",)}
        env.update({"DATABASE_URL": f"{PG}/{self.db}", "REDIS_URL": self.redis_url, "MUSTER_ENV": "production",
                    "SECRET_KEY": self.facts.setdefault("secret", secrets.token_urlsafe(32)),
                    "CACHE_KEY_PREFIX": "muster-bench", "FLASK_APP": "app", "PYTHONUNBUFFERED": "1"})
        env.update(extra)
        return env

    def flask(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run([FLASK, "--app", "app", *args], cwd=ROOT, env=self.env(), input=stdin,
                              capture_output=True, text=True, timeout=600)
        if done.returncode:
            raise RuntimeError(f"flask {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout.strip()

    def recreate_database(self) -> None:
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {self.db}")
        redis.Redis.from_url(self.redis_url).flushdb()
        self.flask("init-db")

    def drop_database(self) -> None:
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)")
        redis.Redis.from_url(self.redis_url).flushdb()

    def seed(self, cadets: int) -> float:
        started = time.perf_counter()
        self.flask("seed", "--cadets", str(cadets), "--days", str(DAYS))
        seconds = time.perf_counter() - started
        with psycopg.connect(f"{PG}/{self.db}", autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        return seconds

    def credentials(self) -> str:
        self.flask("create-user", ADMIN, "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
        return self.flask("create-token", ADMIN).splitlines()[-1].strip()

    def serve_app(self, cache: bool, monitoring: bool = True) -> tuple[subprocess.Popen, str]:
        port = free_port()
        proc = self.start([PYTHON, "app.py"], self.env(PORT=str(port), MUSTER_CACHE="on" if cache else "off",
                                                      MUSTER_MONITORING="on" if monitoring else "off"),
                          f"app-{port}")
        base = f"http://127.0.0.1:{port}"
        wait_for(base + "/login", proc)
        return proc, base

    def serve_ceiling(self, bodies: dict[str, dict]) -> tuple[subprocess.Popen, str]:
        port = free_port()
        manifest = self.workdir / "ceiling.json"
        manifest.write_text(json.dumps({"port": port, "threads": int(os.environ.get("WAITRESS_THREADS", 8)),
                                        "workers": int(os.environ.get("MUSTER_WORKERS", os.cpu_count() or 1)),
                                        "connection_limit": 200, "channel_timeout": 60, "bodies": bodies}))
        proc = self.start([PYTHON, "-m", "bench.ceiling", str(manifest)], self.env(), f"ceiling-{port}")
        base = f"http://127.0.0.1:{port}"
        wait_for(base + "/", proc, ok_status=(404,))
        return proc, base

    # --- load -----------------------------------------------------------------------------

    def wrk(self, url: str, headers: dict[str, str], script: str = "report.lua", args: tuple = (),
            seconds: int | None = None) -> dict[str, float]:
        combined = self.workdir / script  # a request script plus the reporter: wrk takes one file
        if not combined.exists():
            parts = {script, "report.lua"}
            combined.write_text("\n".join((BENCH / name).read_text() for name in sorted(parts)))
        cmd = ["wrk", "-t", str(WRK_THREADS), "-c", str(CONNECTIONS), "-d", f"{seconds or self.args.duration}s",
               "--timeout", "5s", "-s", str(combined)]
        for name, value in headers.items():
            cmd += ["-H", f"{name}: {value}"]
        cmd.append(url)
        if args:
            cmd += ["--", *map(str, args)]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
        found = re.search(r"^BENCH (\{.*\})$", out, re.M)
        if found is None:
            raise RuntimeError(f"wrk printed no result:\n{out}")
        result = json.loads(found.group(1))
        result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
        return result

    def record(self, dataset: str, what: str, mode: str, result: dict, size: int | None = None,
               note: str = "") -> Row:
        notes = [note] if note else []
        if result.get("non2xx"):
            notes.append(f"{result['non2xx']} non-2xx")
        if result.get("socket_errors"):
            notes.append(f"{result['socket_errors']} socket errors")
        row = Row(dataset, what, mode, result["rps"], result["p50"], result["p90"], result["p99"], size,
                  "; ".join(notes))
        self.rows.append(row)
        print(f"  {dataset:>4} {mode:<14} {what:<38} {row.rps:8.0f} req/s  p50 {row.p50:6.2f}  "
              f"p99 {row.p99:6.2f} ms  {row.note}", flush=True)
        return row


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, ok_status: tuple[int, ...] = (200,), seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}; see {proc.args}")
        status, _, _ = fetch(url)
        if status in ok_status or status == 200:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def fetch(url: str, headers: dict[str, str] | None = None, method: str = "GET",
          body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()
    except OSError:
        return 0, {}, b""


def sign_in(base: str, username: str = ADMIN, password: str = PASSWORD) -> str:
    """A session cookie for the HTML pages, through the real login form (with its CSRF token)."""
    status, headers, body = fetch(base + "/login", {"User-Agent": USER_AGENT})
    cookie = _cookie(headers)
    token = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', body) or re.search(
        rb'value="([^"]+)"[^>]*name="csrf_token"', body)
    form = {"username": username, "password": password, **({"csrf_token": token.group(1).decode()} if token else {})}

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(base + "/login", data=urllib.parse.urlencode(form).encode(), method="POST",
                                     headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded",
                                              "User-Agent": USER_AGENT})
    try:
        response = opener.open(request, timeout=30)
        headers = dict(response.headers)
    except urllib.error.HTTPError as exc:
        headers = dict(exc.headers)
    return _cookie(headers) or cookie


def _cookie(headers: dict[str, str]) -> str:
    raw = headers.get("Set-Cookie", "")
    return raw.split(";", 1)[0] if raw else ""


class RssSampler:
    """Largest resident set of a server (the supervisor and all its workers together) under load."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak_kb, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _tree(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.pid)], capture_output=True, text=True).stdout
        return [self.pid, *map(int, out.split())]

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            total = 0
            for pid in self._tree():
                try:
                    found = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
                except OSError:
                    continue
                total += int(found.group(1)) if found else 0
            self.peak_kb = max(self.peak_kb, total)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_kb / 1024


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
    paths = [p for p in READ_PATHS if (p[0] in BIG_PATHS if big else p[0] not in (DEEP, DEEP_SEEK))]
    paths = [(w, path.format(anchor=_deep_anchor()) if w == DEEP_SEEK else path, k, pp) for w, path, k, pp in paths]
    peer = Peer.from_env(cadets)
    redis.Redis.from_url(REDIS_URL).flushdb()
    warm_proc, warm = b.serve_app(cache=True)
    cold_proc, cold = b.serve_app(cache=False)
    page_headers = {"Accept-Encoding": "gzip", "User-Agent": USER_AGENT}
    headers = {warm: {"api": api_headers, "page": {"Cookie": sign_in(warm), **page_headers}},
               cold: {"api": api_headers, "page": {"Cookie": sign_in(cold), **page_headers}}}
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


def record_median(b: Bench, label: str, what: str, mode: str, results: list[dict]) -> None:
    done = [r for r in results if r.get("rps")]
    if not done:
        note = next((r["skipped"] for r in results if "skipped" in r), "no result")
        b.rows.append(Row(label, what, mode, note=note))
        return
    done.sort(key=lambda r: r["rps"])
    median = done[len(done) // 2]
    note = f"median of {len(done)}: " + ", ".join(f"{r['rps']:.0f}" for r in done) if len(done) > 1 else ""
    b.record(label, what, mode, median, median.get("size"), note)


def guarded(b: Bench, label: str, what: str, step, *args) -> None:
    """Run one optional step; a failure becomes a note in the table instead of ending the run."""
    try:
        step(*args)
    except Exception as exc:  # noqa: BLE001 - the rest of the benchmark is still worth having
        b.rows.append(Row(label, what, "", note=f"error: {type(exc).__name__}: {str(exc)[:120]}"))
        print(f"  {label:>4} {what}: error {exc!r}", flush=True)


def run_path(b: Bench, url: str, headers: dict, results: list[dict]) -> dict | None:
    """Probe, then load one URL, appending the wrk result; returns the body and headers for the
    ceiling, or None if it did not answer 200."""
    status, response_headers, body = fetch(url, headers)
    if status != 200:
        results.append({"skipped": f"skipped: HTTP {status or 'no answer'}"})
        print(f"  skipped {url} (HTTP {status})", flush=True)
        return None
    fetch(url, headers)  # the first request fills the cache
    result = b.wrk(url, headers)
    result["size"] = len(body)
    results.append(result)
    keep = [(k, v) for k, v in response_headers.items() if k.lower() in ("content-type", "content-encoding", "etag",
                                                                         "vary", "cache-control")]
    return {"body_b64": base64.b64encode(body).decode(), "headers": keep}


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


# --- report --------------------------------------------------------------------------------


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
                factor = 10 if what in (DEEP, DEEP_SEEK) else 3
                line(f"{label} cold {what}: >= {factor}x the peer", f"x{cold.rps / peer_cold.rps:.2f} "
                     f"({cold.rps:.0f} / {peer_cold.rps:.0f} req/s)", cold.rps >= factor * peer_cold.rps)
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
