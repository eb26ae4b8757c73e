"""Read replicas under load: read share per database, lag seen, read-your-writes, errors.

Needs a streaming replica of the primary (.ci/replica). Creates its own database on the primary
(replicated like any other), seeds it, serves Muster (python app.py, MUSTER_WORKERS workers) with
DATABASE_REPLICA_URLS, and runs three phases: replay running, replay paused, replay resumed. Readers
(a staff token) read lists and cadets; one writer (an admin token) renames a cadet and reads it back
at once, through whichever worker answers. Loopback only; stops by itself.

    python -m bench.replicas [--db muster_h6_replicas] [--seconds 10] [--cadets 1000] [--readers 3]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
PG, REPLICA = "postgresql://postgres@127.0.0.1:5432", "postgresql://postgres@127.0.0.1:5433"
PASSWORD = "bench-replicas-password-1"


class Client:
    def __init__(self, port: int, token: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        self.conn.request(method, path, body=json.dumps(body) if body else None, headers=self.headers)
        response = self.conn.getresponse()
        raw = response.read()
        return response.status, (json.loads(raw) if raw and raw[:1] == b"{" else {})


def flask(env: dict, *args: str, stdin: str | None = None) -> str:
    return subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, check=True).stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="muster_h6_replicas")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--cadets", type=int, default=1000)
    parser.add_argument("--readers", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args(argv)
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {args.db} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {args.db}")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14")
    env = {**os.environ, "DATABASE_URL": f"{PG}/{args.db}", "REDIS_URL": redis_url,
           "CACHE_KEY_PREFIX": f"bench-replicas-{os.getpid()}", "DATABASE_REPLICA_URLS": f"{REPLICA}/{args.db}",
           "MUSTER_WORKERS": str(args.workers), "PORT": str(args.port), "WAITRESS_THREADS": "4"}
    flask(env, "init-db")
    flask(env, "seed", "--cadets", str(args.cadets), "--days", "5")
    tokens = {}
    for name, role in (("benchadmin", "admin"), ("benchstaff", "training_staff")):
        flask(env, "create-user", name, "--role", role, "--password-stdin", stdin=PASSWORD + "\n")
        tokens[name] = flask(env, "create-token", name).splitlines()[-1].strip()
    server = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                Client(args.port, tokens["benchadmin"]).call("GET", "/api/health")
                break
            except OSError:
                time.sleep(0.1)
        return run(args, tokens)
    finally:
        server.terminate()
        server.wait(timeout=30)
        with psycopg.connect(f"{REPLICA}/postgres", autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_resume()")
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {args.db} WITH (FORCE)")


def run(args: argparse.Namespace, tokens: dict[str, str]) -> int:
    admin = Client(args.port, tokens["benchadmin"])
    phases = [("replay running", None), ("replay paused", "pause"), ("replay resumed", "resume")]
    report = []
    for label, action in phases:
        if action:
            with psycopg.connect(f"{REPLICA}/postgres", autocommit=True) as conn:
                conn.execute(f"SELECT pg_wal_replay_{action}()")
        before = reads(admin)
        tally = drive(args, tokens)
        after = reads(admin)
        served = {name: after.get(name, 0) - before.get(name, 0) for name in after}
        total = sum(served.values()) or 1
        report.append((label, tally, {name: f"{n} ({n / total:.0%})" for name, n in served.items()}))
    for label, tally, served in report:
        print(f"{label}: {dict(tally['status'])} responses; own write not seen at once: {tally['stale_own']} of "
              f"{tally['writes']} writes; statements served: {served}; lag seen by /api/health: max "
              f"{max(tally['lag'] or [0]):.2f} s; replica replay_lag (pg_stat_replication): max "
              f"{max(tally['replay_lag'] or [0]):.3f} s")
    return 0 if all(not t["stale_own"] and set(t["status"]) <= {200} for _, t, _ in report) else 1


def reads(admin: Client) -> dict[str, int]:
    status, body = admin.call("GET", "/api/metrics/database")
    return {d["name"]: d["reads"] for d in body["data"]["databases"]} if status == 200 else {}


def drive(args: argparse.Namespace, tokens: dict[str, str]) -> dict:
    tally = {"status": Counter(), "stale_own": 0, "writes": 0, "lag": [], "replay_lag": []}
    lock, deadline = threading.Lock(), time.monotonic() + args.seconds

    def reader(n: int) -> None:
        client, rng = Client(args.port, tokens["benchstaff"]), random.Random(n)
        while time.monotonic() < deadline:
            path = rng.choice([f"/api/cadets?page={rng.randint(1, 20)}", f"/api/cadets/{rng.randint(1, args.cadets)}",
                               f"/api/grades?page={rng.randint(1, 20)}", "/api/training-days"])
            status, _ = client.call("GET", path)
            with lock:
                tally["status"][status] += 1

    def writer() -> None:
        client, n = Client(args.port, tokens["benchadmin"]), 0
        while time.monotonic() < deadline:
            n += 1
            cadet = 1 + n % 50
            status, _ = client.call("PATCH", f"/api/cadets/{cadet}", {"first_name": f"W{n}"})
            # read back on a new connection: any worker process may answer it
            got_status, got = Client(args.port, tokens["benchadmin"]).call("GET", f"/api/cadets/{cadet}")
            with lock:
                tally["status"][status] += 1
                tally["status"][got_status] += 1
                tally["writes"] += 1
                tally["stale_own"] += got.get("data", {}).get("first_name") != f"W{n}"
            time.sleep(0.02)

    def sampler() -> None:
        client = Client(args.port, tokens["benchadmin"])
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
            while time.monotonic() < deadline:
                _, health = client.call("GET", "/api/health")
                lags = [d["lag_s"] for d in health.get("databases", {}).values() if d.get("lag_s") is not None]
                row = conn.execute("SELECT EXTRACT(EPOCH FROM max(replay_lag)) FROM pg_stat_replication").fetchone()
                with lock:
                    tally["lag"].extend(lags)
                    tally["replay_lag"].append(float(row[0] or 0))
                time.sleep(0.25)

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(args.readers)]
    threads += [threading.Thread(target=writer), threading.Thread(target=sampler)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return tally


if __name__ == "__main__":
    raise SystemExit(main())
