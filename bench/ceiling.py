"""The ceiling: Muster's server (server.py: the same worker processes, waitress settings and shared
socket) serving fixed, precomputed bodies (no app, no database).

`python -m bench.ceiling MANIFEST` where MANIFEST is JSON: {"port", "workers", "threads",
"connection_limit", "channel_timeout", "bodies": {"/path?query": {"body_b64", "headers": [[name, value], ...]}}}.
"""

from __future__ import annotations

import base64
import json
import sys

import server


def make_app(bodies: dict[str, dict]):
    table = {key: (base64.b64decode(v["body_b64"]), [tuple(h) for h in v["headers"]]) for key, v in bodies.items()}

    def app(environ, start_response):
        key = environ.get("PATH_INFO", "/")
        if environ.get("QUERY_STRING"):
            key += "?" + environ["QUERY_STRING"]
        found = table.get(key)
        if found is None:
            start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "9")])
            return [b"not found"]
        body, headers = found
        start_response("200 OK", [*headers, ("Content-Length", str(len(body)))])
        return [body]

    return app


def main() -> None:
    with open(sys.argv[1]) as fh:
        manifest = json.load(fh)
    app = make_app(manifest["bodies"])
    server.serve(lambda: app, server.ServerOptions(
        "127.0.0.1", manifest["port"], workers=manifest["workers"], threads=manifest["threads"],
        connection_limit=manifest["connection_limit"], channel_timeout=manifest["channel_timeout"], ident="ceiling"))


if __name__ == "__main__":
    main()
