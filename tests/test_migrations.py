"""Migrations build exactly the schema the models describe, and init-db is safe to run twice."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from config import normalise_database_url

ROOT = Path(__file__).resolve().parent.parent


def _flask(args: list[str], database_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url, "MUSTER_ENV": "development"}
    env.pop("REDIS_URL", None)
    return subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def _check(database_url: str) -> None:
    for _ in range(2):
        done = _flask(["init-db"], database_url)
        assert done.returncode == 0, done.stderr
    check = _flask(["db", "check"], database_url)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No new upgrade operations detected" in check.stdout + check.stderr


def test_migrations_match_models_on_sqlite(tmp_path):
    _check(f"sqlite:///{tmp_path / 'migrated.db'}")


def test_migrations_match_models_on_postgres():
    url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if not url or "postgres" not in url:
        pytest.skip("PostgreSQL not configured")
    url = normalise_database_url(url)
    name = f"muster_migr_{uuid.uuid4().hex[:8]}"
    admin = url.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        _check(url.rsplit("/", 1)[0] + "/" + name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
