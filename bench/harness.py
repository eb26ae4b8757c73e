"""The parts every benchmark here shares: a Bench that starts and stops servers, seeds its own
database and drives wrk; HTTP helpers (fetch, sign_in); a resident-memory sampler; the medians of rounds.
Used by bench/run.py (`make bench`), bench/drill.py, bench/ab.py and bench/soak.py."""

from __future__ import annotations

import argparse
import base64
import json
import os
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
from pathlib import Path
from typing import Any

import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
PYTHON = sys.executable
FLASK = str(Path(PYTHON).with_name("flask"))
PG = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
DB_NAME = "muster_bench"
REDIS_URL = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/7")
CONNECTIONS, WRK_THREADS = 10, 2
DAYS = 20
ADMIN, PASSWORD = "bench-admin", "bench-" + secrets.token_urlsafe(12)
# One browser: sign-in and the page requests send the same User-Agent, as a browser does. Flask-Login's
# session protection ties the session to it; another one is a session Flask rewrites on every request.
USER_AGENT = "muster-bench"


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
    root: Path = ROOT  # the checkout whose app is served and seeded (bench/ab.py serves two builds)

    # --- processes ---------------------------------------------------------------------------

    def start(self, cmd: list[str], env: dict[str, str], name: str) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT,
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
        done = subprocess.run([FLASK, "--app", "app", *args], cwd=self.root, env=self.env(), input=stdin,
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


def page_headers(cookie: str) -> dict[str, str]:
    """What a browser sends for a page of the session `cookie` (from sign_in), gzip only as wrk takes it."""
    return {"Cookie": cookie, "Accept-Encoding": "gzip", "User-Agent": USER_AGENT}


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
