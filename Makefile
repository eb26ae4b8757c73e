# The two commands a new user needs: `make run` (app with demo data) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

.PHONY: run test lint bench drill soak clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $@

run: $(STAMP)  ## serve on http://127.0.0.1:$${PORT:-8000} with demo data (SQLite unless DATABASE_URL is set)
	$(BIN)/flask --app app ensure-demo
	$(BIN)/python app.py

# Test processes (pytest-xdist): 2 on the 2-core CI machine, where PostgreSQL needs the CPU too
# (3 was no faster); TEST_WORKERS=0 runs in one process. Worksteal: a few tests take a minute or more.
TEST_WORKERS ?= 2
test: $(STAMP)  ## PostgreSQL + Redis when DATABASE_URL/TEST_DATABASE_URL and REDIS_URL are set, else SQLite
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)  ## the benchmark of docs/performance.md (PostgreSQL + Redis on loopback)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

drill: $(STAMP)  ## the drill-morning scenario alone (600 QR check-ins while staff work; ~3 min, --quick ~1)
	$(BIN)/python -m bench.drill $(DRILL_ARGS)

soak: $(STAMP)
	$(BIN)/python -m bench.soak $(SOAK_ARGS)

clean:
	rm -rf $(VENV) instance .pytest_cache
