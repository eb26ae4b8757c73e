"""Time the cadets list read for full-name searches (cache off) and print the count query's plan.

    DATABASE_URL=postgresql+psycopg://... PYTHONPATH=. .venv/bin/python bench/search.py ["words to explain"]
See docs/performance.md, "Search".
"""

import sys
import time

from sqlalchemy import text

from app import create_app
from blueprints.core.liststate import ListState
from blueprints.core.reads import apply_filters
from blueprints.core.reads.cadets import CADET_SPEC, _count_base, list_cadets
from models import db

TERMS = ("Castro, Liza", "liza castro", "2024-0001", "castro", "a")


def main() -> None:
    app = create_app({"MUSTER_CACHE": False})
    with app.app_context():
        for term in TERMS:
            state = ListState.from_args({"search": term}, CADET_SPEC)
            times = []
            for _ in range(5):
                started = time.perf_counter()
                page = list_cadets(state)
                times.append((time.perf_counter() - started) * 1000)
            print(f"{term!r}: {page['total']} rows, list read median {sorted(times)[2]:.1f} ms")
        state = ListState.from_args({"search": sys.argv[1] if len(sys.argv) > 1 else TERMS[0]}, CADET_SPEC)
        sql = str(apply_filters(_count_base(state), state).compile(db.engine, compile_kwargs={"literal_binds": True}))
        for line in db.session.scalars(text(f"EXPLAIN (ANALYZE, BUFFERS) SELECT count(*) FROM ({sql}) AS t")):
            print("   ", line)


if __name__ == "__main__":
    main()
