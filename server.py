"""Serve a WSGI app on every core: N waitress worker processes sharing one listening socket.

One waitress process runs all Python under one GIL, so it uses one core. The parent binds the
socket, forks the workers (each builds its own app, database pool and Redis clients after the
fork, so nothing is shared by accident), replaces a worker that dies, and on SIGTERM or SIGINT
stops them all: a worker stops accepting, finishes the requests it has, closes idle keep-alive
connections and exits. The kernel hands each new connection to one worker.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from waitress.server import create_server

log = logging.getLogger("muster.server")
DRAIN_SECONDS = 20.0  # a request still running after this long is cut off at shutdown
_RESPAWN_PAUSE = 0.5  # between restarts of a worker that keeps dying at start-up


@dataclass(frozen=True)
class ServerOptions:
    host: str
    port: int
    workers: int
    threads: int
    connection_limit: int = 200
    channel_timeout: int = 60
    ident: str = "muster"


def listen(host: str, port: int) -> socket.socket:
    sock = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET,
                                backlog=1024)
    sock.set_inheritable(True)
    return sock


def serve(make_app: Callable[[], Any], options: ServerOptions, sock: socket.socket | None = None) -> None:
    """Run the supervisor until SIGTERM or SIGINT; make_app() is called in each worker."""
    sock = sock or listen(options.host, options.port)
    log.info("serving http://%s:%d with %d worker process%s of %d threads (pid %d)", options.host,
             sock.getsockname()[1], options.workers, "" if options.workers == 1 else "es", options.threads,
             os.getpid())
    workers: dict[int, int] = {}  # pid -> slot
    stopping: list[int] = []

    def stop(signum: int, _frame: Any) -> None:
        if not stopping:
            log.info("signal %d: stopping %d workers", signum, len(workers))
            stopping.append(signum)
            for pid in workers:
                _signal(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for slot in range(options.workers):
        workers[_spawn(make_app, options, sock)] = slot
    _supervise(workers, stopping, make_app, options, sock)
    sock.close()
    log.info("stopped")


def _supervise(workers: dict[int, int], stopping: list[int], make_app, options: ServerOptions,
               sock: socket.socket) -> None:
    deadline = None
    while workers:
        if stopping and deadline is None:
            deadline = time.monotonic() + DRAIN_SECONDS + 5
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            if deadline is not None and time.monotonic() > deadline:
                for left in workers:
                    _signal(left, signal.SIGKILL)
            time.sleep(0.05)
            continue
        slot = workers.pop(pid, None)
        if slot is None:
            continue
        if stopping:
            continue
        log.warning("worker %d exited (%s); starting another", pid, _describe(status))
        time.sleep(_RESPAWN_PAUSE)
        workers[_spawn(make_app, options, sock)] = slot


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _spawn(make_app: Callable[[], Any], options: ServerOptions, sock: socket.socket) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent turns Ctrl-C into SIGTERM for us
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _run_worker(make_app(), options, sock)
        code = 0
    except BaseException:
        log.exception("worker %d failed", os.getpid())
    finally:
        logging.shutdown()
        os._exit(code)


def _run_worker(app: Any, options: ServerOptions, sock: socket.socket) -> None:
    server = create_server(app, sockets=[sock], threads=options.threads, connection_limit=options.connection_limit,
                           channel_timeout=options.channel_timeout, ident=options.ident)
    draining: list[float] = []

    def drain(_signum: int, _frame: Any) -> None:
        if not draining:
            draining.append(time.monotonic() + DRAIN_SECONDS)
            server.accepting = False  # the other workers take new connections from here on

    signal.signal(signal.SIGTERM, drain)
    log.info("worker %d ready", os.getpid())
    while True:
        server.asyncore.loop(timeout=0.2, map=server._map, use_poll=True, count=1)
        if draining and _close_idle(server, draining[0]):
            break
    server.task_dispatcher.shutdown(cancel_pending=False, timeout=5)


def _close_idle(server: Any, deadline: float) -> bool:
    """Close keep-alive connections that have nothing in flight; True once none is left."""
    channels = list(server.active_channels.values())
    for channel in channels:
        if not channel.requests and not channel.total_outbufs_len:
            channel.will_close = True
    return not channels or time.monotonic() > deadline
