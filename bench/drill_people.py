"""The people of a drill morning (bench/drill.py): cadets arriving on a surge to scan and check in,
staff saving sheets and browsing tables, each a keep-alive browser with its own session cookie; the
tally of what each request kind took, and its summary."""

from __future__ import annotations

import html
import http.client
import os
import random
import re
import statistics
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from bench.harness import USER_AGENT

CADETS, STAFF = 600, 10
CADET_THREADS = 12  # phones in flight at once; the rest are still walking up to the code
KINDS = ("scan page", "check-in POST", "checked-in page", "repeat scan POST", "my record",
         "sheet page", "sheet save", "cadets page", "grades page")
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class Browser:
    """One person's browser: a keep-alive connection and the session cookie it was given."""

    def __init__(self, base: str, cookie: str) -> None:
        self.host, self.port = urlsplit(base).hostname, urlsplit(base).port
        self.cookie = cookie
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)

    def go(self, method: str, path: str, form: dict | None = None) -> tuple[int, str, str]:
        """(status, Location, body text); keeps the cookie the server sends back (flash messages)."""
        headers = {"Cookie": self.cookie, "User-Agent": USER_AGENT}
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            text = response.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            raise
        if cookie := response.getheader("Set-Cookie"):
            self.cookie = cookie.split(";", 1)[0]
        return response.status, response.getheader("Location", ""), text


@dataclass
class Tally:
    """Latencies and errors per request kind, and the check-ins the server acknowledged."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    acked: dict[int, float] = field(default_factory=dict)  # cadet id -> when the 303 came back

    def timed(self, browser: Browser, kind: str, method: str, path: str, ok: Iterable[int],
              form: dict | None = None) -> tuple[int, str, str] | None:
        started = time.perf_counter()
        try:
            status, location, text = browser.go(method, path, form)
        except (OSError, http.client.HTTPException) as exc:
            status, location, text, problem = 0, "", "", f"{kind}: {exc!r}"
        else:
            problem = None if status in ok else f"{kind}: HTTP {status} {path}"
        with self.lock:
            self.ms[kind].append((time.perf_counter() - started) * 1000)
            if problem:
                self.errors[kind] += 1
                if len(self.samples) < 10:
                    self.samples.append(problem)
        return None if problem else (status, location, text)


def csrf(text: str) -> str:
    found = _CSRF.search(text)
    return html.unescape(found.group(1)) if found else ""


def arrivals(count: int, seconds: float, seed: int = 7) -> list[float]:
    """When each cadet reaches the code: a morning surge, most early, all within 60% of the window."""
    rng = random.Random(seed)
    span = seconds * 0.6
    return sorted(rng.triangular(0, span, span * 0.25) for _ in range(count))


def cadet_line(queue: list[tuple[float, int, str]], lock: threading.Lock, scan: str, t0: float,
               tally: Tally, seed: int) -> None:
    rng = random.Random(seed)
    while True:
        with lock:
            if not queue:
                return
            at, cadet_id, cookie = queue.pop(0)
        time.sleep(max(0.0, t0 + at - time.monotonic()))
        phone = Browser("http://" + scan.split("/", 3)[2], cookie)
        path = "/" + scan.split("/", 3)[3]
        page = tally.timed(phone, "scan page", "GET", path, (200,))
        if page is None:
            continue
        form = {"csrf_token": csrf(page[2]), "t": re.search(r"[?&]t=([^&]+)", path).group(1)}
        form["t"] = html.unescape(form["t"])
        done = tally.timed(phone, "check-in POST", "POST", path.split("?", 1)[0], (303,), form)
        if done is None:
            continue
        with tally.lock:
            tally.acked[cadet_id] = time.monotonic()
        tally.timed(phone, "checked-in page", "GET", done[1] or path, (200,))
        if rng.random() < 0.1:
            again = tally.timed(phone, "repeat scan POST", "POST", path.split("?", 1)[0], (303,), form)
            if again is not None:
                tally.timed(phone, "checked-in page", "GET", again[1] or path, (200,))
        if rng.random() < 0.5:
            tally.timed(phone, "my record", "GET", "/me", (200,))


def staff_member(n: int, base: str, cookie: str, day_id: int, deadline: float, tally: Tally) -> None:
    rng = random.Random(100 + n)
    desk = Browser(base, cookie)
    while time.monotonic() < deadline:
        roll = rng.random()
        if roll < 0.5:
            choice = {"company": rng.choice(("Charlie", "Delta")), "platoon": rng.choice(("1st", "2nd", "3rd"))}
            sheet = f"/training-days/{day_id}/sheet?{urlencode(choice)}"
            page = tally.timed(desk, "sheet page", "GET", sheet, (200,))
            if page is not None:
                form = {"csrf_token": csrf(page[2])}
                for cadet in re.findall(r'name="status-(\d+)"', page[2]):
                    form[f"status-{cadet}"] = rng.choice(("present", "present", "present", "late", "absent"))
                tally.timed(desk, "sheet save", "POST", sheet, (303,), form)
        elif roll < 0.75:
            tally.timed(desk, "cadets page", "GET", f"/cadets/?per_page=50&page={rng.randint(1, 30)}", (200,))
        else:
            tally.timed(desk, "grades page", "GET", f"/grades/?per_page=50&page={rng.randint(1, 30)}", (200,))
        time.sleep(rng.uniform(1.0, 3.0))  # a person reads the page before the next click


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else (values[0] if values else 0.0)


def load_sampler(stop: threading.Event, out: list[float]) -> None:
    while not stop.wait(5):
        out.append(os.getloadavg()[0])


def drive(base: str, scan: str, cookies: dict[str, str], cadets: list[int], day_id: int, seconds: float,
          tally: Tally, loads: list[float]) -> float:
    t0 = time.monotonic()
    deadline = t0 + seconds
    queue = [(at, c, cookies[f"cadet{c}"]) for at, c in zip(arrivals(len(cadets), seconds), cadets, strict=True)]
    lock, stop = threading.Lock(), threading.Event()
    threads = [threading.Thread(target=cadet_line, args=(queue, lock, scan, t0, tally, n))
               for n in range(CADET_THREADS)]
    threads += [threading.Thread(target=staff_member, args=(n, base, cookies[f"staff{n}"], day_id, deadline, tally))
                for n in range(STAFF)]
    sampler = threading.Thread(target=load_sampler, args=(stop, loads), daemon=True)
    sampler.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(1.0, deadline + 60 - time.monotonic()))
    stop.set()
    return t0


def busiest_10s(times: list[float]) -> float:
    """The most events in any 10-second window, per second."""
    return max((sum(1 for t in times if s <= t < s + 10) for s in times), default=0) / 10


def summary(tally: Tally, t0: float, seconds: float) -> dict:
    times = sorted(at - t0 for at in tally.acked.values())
    span = (times[-1] - times[0]) if len(times) > 1 else 0.0
    return {"checkins_per_s": len(times) / span if span else 0.0, "busiest_10s": busiest_10s(times),
            "offered_10s": busiest_10s(arrivals(CADETS, seconds)), "span_s": span,
            "kinds": {k: (len(v), statistics.median(v), percentile(v, 99)) for k in KINDS if (v := tally.ms.get(k))}}
