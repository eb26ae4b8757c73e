"""`make drill`: a drill morning. 600 cadets check in by scanning the day's QR code within a few
minutes, while 10 staff save attendance sheets and browse the tables and cadets open My record.

Seeds its own PostgreSQL database (muster_drill) and Redis db (13), serves Muster as `make bench`
does (`python app.py`, cache on, MUSTER_ENV=production), and drives it on loopback with threads of
keep-alive http.client connections, each one person's browser with its own session cookie:
  cadets - arrive on a morning surge, open the scanned URL (the page with the button), press
           "Check me in" (the form POST; its 303 is the acknowledgement), land on the page that says
           so; one in ten scans again (must say "already"), one in two then opens My record (/me);
  staff  - with a few seconds between actions, like people: open a platoon's sheet of the same day
           (Charlie/Delta; the cadets checking in are Alpha/Bravo), save it, browse the cadets and
           grades tables.
Afterwards it proves from the database that every acknowledged check-in is stored exactly once:
one attendance record per acknowledged cadet for the day, time_in set, no duplicates, one audit row
each. Then it measures, on the same server and machine, Muster's warm API list and the ceiling
(bench/ceiling.py: the same server with no app) for scale. Stops by itself (--seconds of load, at
most 180; --quick is 30) and drops its database.

    python -m bench.drill [--quick] [--seconds 120] [--no-write-doc]
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import statistics
import sys
import threading
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import psycopg
from werkzeug.security import generate_password_hash

from bench.drill_people import CADET_THREADS, CADETS, STAFF, Tally, drive, summary
from bench.harness import PG, ROOT, USER_AGENT, Bench, fetch, run_path, sign_in
from bench.results import machine

DB = os.environ.get("DRILL_DB", "muster_drill")
REDIS = os.environ.get("DRILL_REDIS", "redis://127.0.0.1:6379/13")
SEEDED = 1_600
PASSWORD = "drill-password-1"
SECTION = "## Drill morning"


# --- setup ----------------------------------------------------------------------------------


def unit_today():
    return datetime.now(ZoneInfo(os.environ.get("UNIT_TIMEZONE") or "Asia/Manila")).date()


def add_people(b: Bench) -> list[int]:
    """600 cadet accounts (Alpha/Bravo cadets) and 10 staff accounts, straight into the database. The
    cadets' password hash is a cheap one: they signed in on their phones before the morning, and 600
    scrypt sign-ins would only measure the hash."""
    cheap, staff_hash = generate_password_hash(PASSWORD, "pbkdf2:sha256:1000"), generate_password_hash(PASSWORD)
    now = datetime.now(UTC)
    with psycopg.connect(f"{PG}/{b.db}") as conn:
        cadets = [c for (c,) in conn.execute("SELECT id FROM cadets WHERE NOT is_archived AND company IN "
                                             "('Alpha', 'Bravo') ORDER BY id LIMIT %s", (CADETS,))]
        rows = [(f"cadet{c}", f"cadet{c}@drill.local", cheap, "cadet", c) for c in cadets]
        rows += [(f"staff{n}", f"staff{n}@drill.local", staff_hash, "training_staff", None) for n in range(STAFF)]
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO users (username, email, password_hash, role, cadet_id, is_active, "
                            "failed_logins, session_version, created_at) VALUES (%s, %s, %s, %s, %s, true, 0, 1, "
                            "%s)", [(*r, now) for r in rows])
        conn.execute("INSERT INTO user_settings (user_id, page_size, dark_mode, compact_mode, email_notifications) "
                     "SELECT id, 50, false, false, true FROM users WHERE email LIKE '%%@drill.local'")
    return cadets


def add_day(base: str, token: str) -> int:
    """Today's training day (in the unit's time zone: the code only works on its date), through the API."""
    status, _, body = fetch(base + "/api/training-days", {"Authorization": f"Bearer {token}",
                                                          "Content-Type": "application/json"}, "POST",
                            json.dumps({"date": unit_today().isoformat(), "title": "Drill morning"}).encode())
    if status not in (200, 201):
        raise RuntimeError(f"POST /api/training-days: HTTP {status} {body[:200]!r}")
    return int(json.loads(body)["data"]["id"])


def sign_in_all(base: str, names: list[str]) -> dict[str, str]:
    cookies: dict[str, str] = {}
    lock = threading.Lock()

    def work(chunk: list[str]) -> None:
        for name in chunk:
            cookie = sign_in(base, name, PASSWORD)
            with lock:
                cookies[name] = cookie

    threads = [threading.Thread(target=work, args=(names[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return cookies


def scan_url(base: str, cookie: str, day_id: int) -> str:
    """The URL the day's QR code carries, read off the staff's QR page like a phone reads the code."""
    status, _, body = fetch(f"{base}/training-days/{day_id}/qr", {"Cookie": cookie, "User-Agent": USER_AGENT})
    found = re.search(rb'id="checkin-url" href="([^"]+)"', body)
    if status != 200 or found is None:
        raise RuntimeError(f"no check-in URL on the QR page (HTTP {status})")
    parts = urlsplit(html.unescape(found.group(1).decode()))
    return f"{base}{parts.path}?{parts.query}"


# --- the proof ------------------------------------------------------------------------------


def verify_check_ins(acked: Iterable[int], records: Iterable[tuple[int, object]],
                     audits: Iterable[int]) -> tuple[list[str], int]:
    """Every acknowledged cadet has exactly one record (time_in set) and one check-in audit row.

    `records` are (cadet_id, time_in) of the day, `audits` the cadet ids of its check-in audit rows.
    Returns the problems found and how many cadets were stored without an acknowledgement (a reply
    lost on the way back is allowed: the write happened once, the cadet would scan again)."""
    acked = set(acked)
    stored = Counter(c for c, _ in records)
    missing_time = {c for c, t in records if t is None}
    audited = Counter(audits)
    problems = [f"cadet {c}: acknowledged, {stored[c]} records" for c in sorted(acked) if stored[c] != 1]
    problems += [f"cadet {c}: {n} records" for c, n in sorted(stored.items()) if n > 1 and c not in acked]
    problems += [f"cadet {c}: no time_in" for c in sorted(missing_time & acked)]
    problems += [f"cadet {c}: {audited[c]} check-in audit rows" for c in sorted(acked) if audited[c] != 1]
    problems += [f"cadet {c}: {n} audit rows" for c, n in sorted(audited.items()) if n > 1 and c not in acked]
    return problems, len(set(stored) - acked)


def prove(b: Bench, day_id: int, cadets: list[int], tally: Tally) -> dict:
    with psycopg.connect(f"{PG}/{b.db}") as conn:
        records = conn.execute("SELECT cadet_id, time_in FROM attendance_records WHERE training_day_id = %s "
                               "AND cadet_id = ANY(%s)", (day_id, cadets)).fetchall()
        audits = [c for (c,) in conn.execute(
            "SELECT (payload::jsonb ->> 'cadet_id')::int FROM audit_logs WHERE table_name = 'attendance_records' "
            "AND operation = 'CREATE' AND payload::jsonb ->> 'action' = 'check_in' "
            "AND (payload::jsonb ->> 'training_day_id')::int = %s", (day_id,))]
        sheet_rows = conn.execute("SELECT count(*) FROM attendance_records WHERE training_day_id = %s "
                                  "AND NOT cadet_id = ANY(%s)", (day_id, cadets)).fetchone()[0]
    problems, unacked = verify_check_ins(tally.acked, records, audits)
    return {"acked": len(tally.acked), "records": len(records), "audits": len(audits), "problems": problems,
            "stored_unacked": unacked, "sheet_rows": sheet_rows}


# --- run and report -------------------------------------------------------------------------


def scale(b: Bench, base: str, token: str) -> dict:
    """Muster's warm API list and the ceiling for the same body, on the same machine right after the drill."""
    headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip"}
    results: list[dict] = []
    body = run_path(b, base + "/api/cadets?limit=50", headers, results)
    out = {"warm": results[-1] if results and "rps" in results[-1] else None, "ceiling": None}
    if body is not None:
        proc, ceiling = b.serve_ceiling({"/api/cadets?limit=50": body})
        out["ceiling"] = b.wrk(ceiling + "/api/cadets?limit=50", headers)
        b.stop(proc)
    return out


def report(args: argparse.Namespace, s: dict, proof: dict, tally: Tally, scaled: dict, loads: list[float],
           started: datetime) -> str:
    info = machine()
    lines = [SECTION, "",
             f"`{args.command}` ({'quick; ' if args.quick else ''}"
             "`make drill`, and `make bench` after the lists)"
             f", {started:%Y-%m-%d %H:%M} UTC. Machine: {info['nproc']} CPUs ({info['cpu']}), {info['postgres']}; "
             f"1-minute load average during the load: median {statistics.median(loads or [0]):.1f}, "
             f"max {max(loads or [0]):.1f} (the machine was shared with other work).",
             "",
             f"{SEEDED:,} cadets seeded; {CADETS} cadet accounts (Alpha/Bravo) arrive over the first 60% of "
             f"{args.seconds:g} s (a surge early on), {CADET_THREADS} phones in flight at once; {STAFF} staff "
             "with 1-3 s between clicks save Charlie/Delta platoon sheets of the same day and browse the tables. "
             "One server: `python app.py`, cache on, as in `make bench`.", "",
             f"- Check-ins acknowledged: {proof['acked']} of {CADETS}; sustained "
             f"**{s['checkins_per_s']:.1f} check-ins/s** (first to last acknowledgement, {s['span_s']:.0f} s); "
             f"busiest 10 s: {s['busiest_10s']:.1f}/s acknowledged, {s['offered_10s']:.1f}/s arriving (when the two "
             "match, the server kept up and the rate is the arrivals'; `--quick` squeezes the 600 into 18 s)",
             f"- Errors: {sum(tally.errors.values())}"
             + (f" ({', '.join(f'{k} {v}' for k, v in tally.errors.items())}; e.g. {tally.samples[:3]})"
                if tally.errors else ""),
             f"- Exactly once: {proof['records']} attendance records and {proof['audits']} check-in audit rows "
             f"for {proof['acked']} acknowledged cadets; {len(proof['problems'])} problems"
             + (f" ({proof['problems'][:5]})" if proof["problems"]
                else " (one record each, time_in set, no duplicates, one audit row each)")
             + f"; {proof['stored_unacked']} stored without an acknowledgement; the staff's sheets wrote "
             f"{proof['sheet_rows']} other records of the day",
             ]
    warm, ceiling = scaled.get("warm"), scaled.get("ceiling")
    if warm and ceiling:
        lines.append(f"- For scale, same server right after: warm `GET /api/cadets?limit=50` {warm['rps']:.0f} req/s "
                     f"(p99 {warm['p99']:.1f} ms), the ceiling (same server, no app) {ceiling['rps']:.0f} req/s; "
                     f"wrk -c10, {args.duration} s each")
    lines += ["", "| request | count | p50 ms | p99 ms | errors |", "|---|---:|---:|---:|---:|"]
    for kind, (count, p50, p99) in s["kinds"].items():
        lines.append(f"| {kind} | {count} | {p50:.1f} | {p99:.1f} | {tally.errors.get(kind, 0)} |")
    return "\n".join(lines) + "\n"


def write_section(text: str) -> None:
    """Put the section into docs/performance.md (after the hand-written analysis, which `make bench` keeps)."""
    path = ROOT / "docs" / "performance.md"
    doc = path.read_text() if path.exists() else "# Performance\n"
    if SECTION in doc:
        head, rest = doc.split(SECTION, 1)
        tail = rest.split("\n## ", 1)
        doc = head + text + ("\n## " + tail[1] if len(tail) > 1 else "")
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    path.write_text(doc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120, help="seconds of load (at most 180)")
    parser.add_argument("--quick", action="store_true", help="30 seconds of load")
    parser.add_argument("--no-write-doc", action="store_true", help="print the section, leave docs/ alone")
    args = parser.parse_args(argv)
    args.command = " ".join(["python -m bench.drill", *(sys.argv[1:] if argv is None else argv)])
    args.seconds = 30 if args.quick else min(args.seconds, 180)
    args.duration = 5
    b = Bench(args, db=DB, redis_url=REDIS)
    # Each phone has its own address; on loopback all 610 sign-ins come from one, which the
    # per-address limit (300 a minute) would refuse half of.
    os.environ.setdefault("SIGNIN_LIMIT_PER_ADDRESS", "10000 per minute")
    started = datetime.now(UTC)
    try:
        print(f"drill: seeding {SEEDED} cadets into {DB}", flush=True)
        b.recreate_database()
        b.seed(SEEDED)
        token = b.credentials()
        cadets = add_people(b)
        _, base = b.serve_app(cache=True)
        day_id = add_day(base, token)
        scan = scan_url(base, sign_in(base), day_id)
        names = [f"cadet{c}" for c in cadets] + [f"staff{n}" for n in range(STAFF)]
        cookies = sign_in_all(base, names)
        print(f"drill: {len(cookies)} people signed in; {args.seconds:g} s of load", flush=True)
        tally, loads = Tally(), []
        t0 = drive(base, scan, cookies, cadets, day_id, args.seconds, tally, loads)
        s, proof = summary(tally, t0, args.seconds), prove(b, day_id, cadets, tally)
        scaled = scale(b, base, token)
        text = report(args, s, proof, tally, scaled, loads, started)
        print(text)
        if not args.no_write_doc:
            write_section(text)
        return 1 if proof["problems"] else 0
    except KeyboardInterrupt:
        return 130
    finally:
        b.stop_all()
        b.drop_database()
        print(f"logs: {b.workdir}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
