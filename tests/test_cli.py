"""Command line: init-db twice, deterministic seed, create-user from stdin, create-token, config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from blueprints.core.auth import user_for_token
from config import ConfigError, load_config
from models import AttendanceRecord, Cadet, Grade, TrainingDay, User, db

ROOT = Path(__file__).resolve().parent.parent


def test_seed_is_deterministic_and_complete(runner):
    result = runner.invoke(args=["seed", "--cadets", "40", "--days", "3", "--seed", "5"])
    assert result.exit_code == 0, result.output
    first = [(c.student_id, c.last_name, c.company) for c in db.session.scalars(select(Cadet).order_by(Cadet.id))]
    assert len(first) == 40 and {c for _, _, c in first} <= {"Alpha", "Bravo", "Charlie", "Delta"}
    assert db.session.scalar(select(func.count(Grade.id))) == 40
    assert db.session.scalar(select(func.count(TrainingDay.id))) == 3
    assert db.session.scalar(select(func.count(AttendanceRecord.id))) == 120
    # grades were recounted from the seeded attendance
    present = db.session.scalar(select(func.sum(Grade.attendance_present)))
    counted = db.session.scalar(select(func.count(AttendanceRecord.id))
                                .where(AttendanceRecord.status.in_(("present", "late", "excused"))))
    assert present == counted
    db.session.execute(db.delete(AttendanceRecord))
    db.session.execute(db.delete(Grade))
    db.session.execute(db.delete(Cadet))
    db.session.commit()
    runner.invoke(args=["seed", "--cadets", "40", "--days", "3", "--seed", "5"])
    again = [(c.student_id, c.last_name, c.company) for c in db.session.scalars(select(Cadet).order_by(Cadet.id))]
    assert [x[1:] for x in again] == [x[1:] for x in first]


def test_create_user_from_stdin_and_token(runner):
    result = runner.invoke(args=["create-user", "ops", "--role", "admin", "--password-stdin"],
                           input="a-long-enough-password\n")
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.username == "ops"))
    assert user.role == "admin" and "a-long-enough-password" not in user.password_hash
    short = runner.invoke(args=["create-user", "ops2", "--password-stdin"], input="short\n")
    assert short.exit_code != 0 and "at least 10" in short.output
    token = runner.invoke(args=["create-token", "ops"]).output.strip()
    assert user_for_token(token)[0].username == "ops"
    assert runner.invoke(args=["create-token", "nobody"]).exit_code != 0


def test_production_refuses_to_start_without_a_real_secret():
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config({"MUSTER_ENV": "production"})
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config({"MUSTER_ENV": "production", "SECRET_KEY": "short"})
    config = load_config({"MUSTER_ENV": "production", "SECRET_KEY": "x" * 32,
                          "DATABASE_URL": "postgres://u@h/db"})
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"
    assert config["SESSION_COOKIE_SECURE"] is True
    with pytest.raises(ConfigError, match="MUSTER_ENV"):
        load_config({"MUSTER_ENV": "staging"})
    with pytest.raises(ConfigError, match="WAITRESS_THREADS"):
        load_config({"WAITRESS_THREADS": "many"})


def test_production_start_fails_with_one_clear_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL")}
    env["MUSTER_ENV"] = "production"
    proc = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1].startswith("muster: SECRET_KEY must be set")


def test_embedded_default_uses_sqlite_and_in_process_cache(tmp_path):
    config = load_config({})
    assert config["SQLALCHEMY_DATABASE_URI"] is None and config["REDIS_URL"] is None
    assert config["MUSTER_ENV"] == "development"
