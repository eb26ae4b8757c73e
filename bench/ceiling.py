"""The ceiling: waitress with Muster's settings serving fixed, precomputed bodies (no app, no database).

`python -m bench.ceiling MANIFEST` where MANIFEST is JSON: {"port", "threads", "connection_limit",
"channel_timeout", "bodies": {"/path?query": {"body_b64", "headers": [[name, value], ...]}}}.
"""

from __future__ import annotations

import base64
import json
import sys

from waitress import serve


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
    serve(make_app(manifest["bodies"]), host="127.0.0.1", port=manifest["port"], threads=manifest["threads"],
          connection_limit=manifest["connection_limit"], channel_timeout=manifest["channel_timeout"],
          ident="ceiling")


if __name__ == "__main__":
    main()
