"""Small edges from issue 12: the Home tiles promise only what the role can do; create-user names the
flag a cadet account needs."""

from __future__ import annotations

from sqlalchemy import func, select

from models import User, db
from tests.factories import make_cadet, signed_in


def test_staff_home_does_not_promise_bulk_archive(client):
    signed_in(client, "training_staff")
    html = client.get("/").get_data(as_text=True)
    assert "bulk archive" not in html and "Profiles, filters, CSV" in html


def test_admin_home_offers_bulk_archive(client):
    signed_in(client, "admin")
    assert "bulk archive" in client.get("/").get_data(as_text=True)


def test_create_cadet_user_without_cadet_id_names_the_flag_before_asking_a_password(app, runner):
    result = runner.invoke(args=["create-user", "juan", "--role", "cadet"])  # no password on stdin: not asked
    assert result.exit_code == 2
    assert "--cadet-id" in result.output and "Password" not in result.output
    assert db.session.scalar(select(func.count(User.id))) == 0


def test_create_cadet_user_with_cadet_id(app, runner):
    cadet_id = make_cadet()
    result = runner.invoke(args=["create-user", "juan", "--role", "cadet", "--cadet-id", str(cadet_id),
                                 "--password-stdin"], input="correct-horse-battery\n")
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(User.cadet_id).where(User.username == "juan")) == cadet_id
