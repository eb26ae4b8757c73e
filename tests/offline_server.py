"""The test database served by waitress in a process of its own, so a browser test can kill the server
in the middle of a request and start it again on the same address (tests/test_browser_offline.py).

python -m tests.offline_server PORT DIE_AFTER SYNC_DOWN_FILE: DIE_AFTER > 0 exits the process right
after the DIE_AFTER-th sheet sync committed, before its answer is sent (the worst moment); while
SYNC_DOWN_FILE exists, sheet syncs are answered 503 and a line is added to it. The database, cache
prefix and secret key come from the environment the test sets.
"""

from __future__ import annotations

import os
import sys

from waitress import serve

from app import create_app


def main() -> None:
    port, die_after, down_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    app = create_app({"MUSTER_ENV": "testing", "SQLALCHEMY_DATABASE_URI": os.environ["OFFLINE_TEST_DATABASE"],
                      "CACHE_KEY_PREFIX": os.environ["OFFLINE_TEST_CACHE_PREFIX"], "WTF_CSRF_ENABLED": True,
                      "SECRET_KEY": "offline-test-secret-key"})
    inner, syncs = app.wsgi_app, []

    def wsgi(environ, start_response):
        is_sync = environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"].endswith("/sheet/sync")
        if is_sync and os.path.exists(down_file):
            with open(down_file, "a") as handle:
                handle.write("503\n")
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"down for the test"]
        if not is_sync or not die_after:
            return inner(environ, start_response)
        body = b"".join(inner(environ, start_response))  # runs the view: the batch is committed
        syncs.append(1)
        if len(syncs) >= die_after:
            os._exit(1)  # killed before the answer leaves
        return [body]

    app.wsgi_app = wsgi
    serve(app, host="127.0.0.1", port=port, threads=4, _quiet=True)


if __name__ == "__main__":
    main()
