"""A writer that dies between its commit and its Redis call (tests/test_durable_clears.py).

Reads lines "<admin id> <cadet id> <first name>" on stdin; for each, forks a child that renames the
cadet through the real operation and SIGKILLs itself right after the commit, before the cache clear
reaches Redis; prints "<exit signal> <pid>" once the child is gone.
"""

from __future__ import annotations

import os
import signal
import sys

from app import create_app
from blueprints.core import outbox
from blueprints.core.operations.cadets import update_cadet
from models import User, db


def _die_after_commit(_pending) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    app = create_app({"MUSTER_ENV": "testing", "TESTING": True, "SECRET_KEY": "killed-writer-secret-key",
                      "SQLALCHEMY_DATABASE_URI": os.environ["TEST_DATABASE_URL"],
                      "REDIS_URL": os.environ["REDIS_URL"], "CACHE_KEY_PREFIX": os.environ["CACHE_KEY_PREFIX"]})
    for line in sys.stdin:
        admin_id, cadet_id, name = line.split()
        pid = os.fork()
        if pid == 0:
            with app.app_context():
                db.engine.dispose(close=False)  # the parent's pooled connections are not ours
                outbox.apply = _die_after_commit
                update_cadet(db.session.get(User, int(admin_id)), int(cadet_id), {"first_name": name})
            os._exit(0)  # not reached: the child dies in the commit's aftermath
        _, status = os.waitpid(pid, 0)
        print(os.WTERMSIG(status) if os.WIFSIGNALED(status) else -1, pid, flush=True)


if __name__ == "__main__":
    main()
