"""Small factories that go through the real operations (validation, audit, grades row)."""

from __future__ import annotations

import itertools
import re
from datetime import date, timedelta

from flask import g
from sqlalchemy import select

from blueprints.core.operations.cadets import create_cadet, import_cadets
from blueprints.core.operations.tokens import issue_token
from blueprints.core.operations.training import create_training_day
from blueprints.core.operations.users import create_user
from models import User, db

PASSWORD = "correct-horse-battery"
_seq = itertools.count(1)


def make_user(role: str = "admin", username: str | None = None, **extra) -> User:
    n = next(_seq)
    username = username or f"{role}{n}"
    data = {"username": username, "email": f"{username}@example.test", "role": role, "password": PASSWORD, **extra}
    if role == "cadet" and "cadet_id" not in data:
        data["cadet_id"] = make_cadet(_system_admin())
    user_id = create_user(None, data)
    return db.session.get(User, user_id)


def _system_admin() -> User:
    admin = db.session.scalar(select(User).where(User.username == "factory-admin"))
    return admin or make_user("admin", "factory-admin")


def make_cadet(actor: User | None = None, **fields) -> int:
    n = next(_seq)
    data = {"student_id": f"2026-{n:05d}", "first_name": f"First{n}", "last_name": f"Last{n}",
            "company": "Alpha", "platoon": "1st", "course": "BS Nursing", "year_level": 1, **fields}
    return create_cadet(actor or _system_admin(), data)


def make_cadets(count: int, actor: User | None = None, **fields) -> None:
    """Many cadets through the bulk import (constant statements)."""
    start = next(_seq) * 10_000
    rows = [{"student_id": f"B-{start + i}", "first_name": f"F{i:04d}", "last_name": f"L{i:04d}",
             "company": "Alpha", "platoon": "1st", **fields} for i in range(count)]
    import_cadets(actor or _system_admin(), rows)


def make_training_day(actor: User | None = None, offset: int = 0, **fields) -> int:
    data = {"date": (date(2026, 9, 1) + timedelta(days=offset)).isoformat(), "title": f"Day {offset}", **fields}
    return create_training_day(actor or _system_admin(), data)


def make_token(user: User) -> str:
    return issue_token(user, "test")


def login(client, user: User, password: str = PASSWORD):
    return client.post("/login", data={"username": user.username, "password": password})


def row_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-id="(\d+)"', html)]


def signed_in(client, role: str = "admin", **extra):
    """A client signed in as a new user. Forgets the previous request's user (tests share one app context)."""
    g.pop("_login_user", None)
    user = make_user(role, **extra)
    login(client, user)
    return user
