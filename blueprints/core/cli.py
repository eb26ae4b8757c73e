"""`flask --app app ...` commands: init-db, seed, create-user, create-token, ensure-demo, refresh-grades."""

from __future__ import annotations

import secrets
import sys
import time

import click
from flask import Flask, current_app
from flask_migrate import upgrade
from sqlalchemy import func, select

from blueprints.core.errors import AppError
from blueprints.core.operations.held_days import refresh_held_days
from blueprints.core.operations.tokens import issue_token
from blueprints.core.operations.users import create_user
from blueprints.core.seed import seed
from models import ADMIN_ROLE, CADET_ROLE, ROLES, STAFF_ROLE, Cadet, User, db


def init_app(app: Flask) -> None:
    for command in (init_db_command, seed_command, create_user_command, create_token_command, ensure_demo_command,
                    refresh_grades_command):
        app.cli.add_command(command)


def _fail(exc: AppError) -> None:
    details = "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.details.items())
    raise click.ClickException(f"{exc.message} {details}".strip())


@click.command("init-db")
def init_db_command() -> None:
    """Create or migrate the database schema to the newest version (safe to run twice)."""
    upgrade()
    click.echo("Database is at the newest schema version.")


@click.command("seed")
@click.option("--cadets", default=200, show_default=True, type=click.IntRange(0, 1_000_000))
@click.option("--days", default=12, show_default=True, type=click.IntRange(0, 365))
@click.option("--seed", "seed_value", default=1, show_default=True, type=int)
def seed_command(cadets: int, days: int, seed_value: int) -> None:
    """Add deterministic demo data in bulk."""
    started = time.perf_counter()
    total = cadets * (2 + days) + cadets  # cadets, grades, attendance, roughly the logs
    with click.progressbar(length=total, label="Seeding", file=sys.stderr) as bar:
        counts = seed(cadets, days, seed_value, progress=bar.update)
    click.echo(", ".join(f"{v} {k}" for k, v in counts.items()) + f" in {time.perf_counter() - started:.1f} s")


@click.command("create-user")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), default=STAFF_ROLE)
@click.option("--email", default=None)
@click.option("--cadet-id", type=int, default=None, help="The cadet record a cadet account belongs to (required "
              "with --role cadet).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_user_command(username: str, role: str, email: str | None, cadet_id: int | None,
                        password_stdin: bool) -> None:
    """Create a user; the password comes from a prompt or standard input, never the command line."""
    if role == CADET_ROLE and cadet_id is None:  # say so before asking for a password
        raise click.UsageError("A cadet account must be linked to its cadet record: add --cadet-id <id> "
                               "(the number in the cadet's page address, /cadets/<id>).")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    data = {"username": username, "email": email or f"{username}@muster.local", "role": role,
            "password": password}
    if cadet_id is not None:
        data["cadet_id"] = cadet_id
    try:
        user_id = create_user(None, data)
    except AppError as exc:
        _fail(exc)
    click.echo(f"Created user {username} (id {user_id}, role {role}).")


@click.command("create-token")
@click.argument("username")
@click.option("--name", default="cli")
def create_token_command(username: str, name: str) -> None:
    """Print a new personal API token for the user (shown once)."""
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise click.ClickException(f"No user named {username}.")
    click.echo(issue_token(user, name))


@click.command("ensure-demo")
@click.option("--cadets", default=300, show_default=True)
@click.option("--days", default=12, show_default=True)
def ensure_demo_command(cadets: int, days: int) -> None:
    """Migrate, and if the database is empty seed it with demo data and demo accounts (development only)."""
    upgrade()
    if db.session.scalar(select(func.count(Cadet.id))):
        click.echo("Database already has data; leaving it as it is.")
        return
    if current_app.config["MUSTER_ENV"] != "development":
        raise click.ClickException("Demo data is only created in development.")
    seed(cadets, days, 1)
    click.echo("Demo accounts (shown once; change them on the Profile page):")
    for username, role in (("admin", ADMIN_ROLE), ("staff", STAFF_ROLE)):
        password = secrets.token_urlsafe(9)
        create_user(None, {"username": username, "email": f"{username}@muster.local", "role": role,
                           "password": password})
        click.echo(f"  {username:6} / {password}   ({role})")
    cadet_id = db.session.scalar(select(func.min(Cadet.id)))
    password = secrets.token_urlsafe(9)
    create_user(None, {"username": "cadet", "email": "cadet@muster.local", "role": CADET_ROLE,
                       "password": password, "cadet_id": cadet_id})
    click.echo(f"  cadet  / {password}   (cadet, linked to cadet #{cadet_id})")


@click.command("refresh-grades")
def refresh_grades_command() -> None:
    """Count training days whose date has come (run daily just after midnight, unit time)."""
    changed = refresh_held_days()
    click.echo("Grades recomputed: a training day's date has come." if changed else "Grades were already current.")
