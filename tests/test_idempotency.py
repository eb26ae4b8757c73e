"""Idempotency-Key on the API's POSTs, and answers after a commit: a retry never writes twice."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import timedelta

import orjson
import psycopg
import pytest
from sqlalchemy import event, select, update

from blueprints.core.idempotency import prune_idempotency_keys
from models import AuditLog, IdempotencyKey, MeritDemeritLog, db, utcnow
from tests.conftest import is_postgres
from tests.factories import make_cadet, make_token, make_user
from tests.test_api_support import assert_error, body_of, call, count

MERITS = "/api/merit-demerits"


@pytest.fixture
def admin(app):
    return make_user("admin")


@pytest.fixture
def token(admin):
    return make_token(admin)


def merit(cadet_id: int, points: int = 5) -> dict:
    return {"cadet_id": cadet_id, "type": "merit", "points": points, "reason": "retried"}


def post(client, token: str, body: dict, key: str | None = None, path: str = MERITS):
    return call(client, "POST", path, token, body=body, headers={"Idempotency-Key": key} if key else None)


def merit_audits() -> int:
    db.session.expire_all()
    return len(db.session.scalars(select(AuditLog.id).where(AuditLog.table_name == "merit_demerit_logs")).all())


# --- replay -----------------------------------------------------------------------------------------

def test_a_retry_with_the_same_key_replays_the_first_answer_and_writes_nothing(client, admin, token):
    cadet = make_cadet(admin)
    first = post(client, token, merit(cadet), key="merit-1")
    retry = post(client, token, merit(cadet), key="merit-1")
    assert first.status_code == retry.status_code == 201
    assert body_of(retry) == body_of(first) and body_of(first)["data"]["cadet_id"] == cadet
    assert "Idempotent-Replayed" not in first.headers and retry.headers["Idempotent-Replayed"] == "true"
    assert count(MeritDemeritLog) == 1 and merit_audits() == 1
    assert count(IdempotencyKey) == 1


def test_a_replay_keeps_the_location_header_and_json_key_order_does_not_matter(client, admin, token):
    body = {"student_id": "2026-77001", "first_name": "Ana", "last_name": "Cruz"}
    first = post(client, token, body, key="cadet-1", path="/api/cadets")
    reordered = call(client, "POST", "/api/cadets", token, raw=b'{"last_name": "Cruz",  "first_name": "Ana", '
                                                              b'"student_id": "2026-77001"}',
                     headers={"Idempotency-Key": "cadet-1"})
    assert (first.status_code, reordered.status_code) == (201, 201)
    assert reordered.headers["Location"] == first.headers["Location"]
    assert body_of(reordered) == body_of(first)


def test_without_a_key_each_post_writes(client, admin, token):
    cadet = make_cadet(admin)
    assert post(client, token, merit(cadet)).status_code == 201
    assert post(client, token, merit(cadet)).status_code == 201
    assert count(MeritDemeritLog) == 2 and count(IdempotencyKey) == 0


def test_the_same_key_with_another_body_or_endpoint_is_refused_and_writes_nothing(client, admin, token):
    cadet = make_cadet(admin)
    assert post(client, token, merit(cadet, 5), key="k").status_code == 201
    details = assert_error(post(client, token, merit(cadet, 6), key="k"), 422, "IDEMPOTENCY_KEY_REUSED")["details"]
    assert "Idempotency-Key" in details
    assert_error(post(client, token, {"ids": [cadet]}, key="k", path="/api/cadets/bulk-archive"), 422)
    assert count(MeritDemeritLog) == 1 and merit_audits() == 1


def test_keys_are_scoped_per_user(client, admin, token):
    cadet = make_cadet(admin)
    other = make_token(make_user("training_staff"))
    assert post(client, token, merit(cadet), key="shared").status_code == 201
    second = post(client, other, merit(cadet), key="shared")
    assert second.status_code == 201 and "Idempotent-Replayed" not in second.headers
    assert count(MeritDemeritLog) == 2


@pytest.mark.parametrize("key", ["x" * 256, "tab\tinside", "é-not-ascii"])
def test_a_malformed_key_is_a_400_and_writes_nothing(client, admin, token, key):
    cadet = make_cadet(admin)
    details = assert_error(call(client, "POST", MERITS, token, body=merit(cadet),
                                headers={"Idempotency-Key": key}), 400, "BAD_REQUEST")["details"]
    assert "Idempotency-Key" in details
    assert count(MeritDemeritLog) == 0 and count(IdempotencyKey) == 0


def test_a_key_of_255_characters_is_accepted(client, admin, token):
    cadet = make_cadet(admin)
    assert post(client, token, merit(cadet), key="k" * 255).status_code == 201
    assert post(client, token, merit(cadet), key="k" * 255).headers["Idempotent-Replayed"] == "true"


def test_a_failed_request_is_not_remembered_so_its_retry_runs(client, admin, token):
    cadet = make_cadet(admin)
    bad = merit(cadet) | {"points": 0}
    assert_error(post(client, token, bad, key="k"), 422, "VALIDATION_ERROR")
    assert count(IdempotencyKey) == 0
    assert_error(post(client, token, {"cadet_id": cadet + 1000, "type": "merit", "points": 1, "reason": "x"},
                      key="k2"), 404)
    assert count(IdempotencyKey) == 0 and count(MeritDemeritLog) == 0
    assert post(client, token, merit(cadet), key="k").status_code == 201


def test_keys_expire_after_24_hours_and_are_pruned(client, admin, token):
    cadet = make_cadet(admin)
    assert post(client, token, merit(cadet), key="old").status_code == 201
    db.session.execute(update(IdempotencyKey).values(created_at=utcnow() - timedelta(hours=25)))
    db.session.commit()
    again = post(client, token, merit(cadet), key="old")  # expired: a new request, replacing the old key
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert count(MeritDemeritLog) == 2 and count(IdempotencyKey) == 1
    assert post(client, token, merit(cadet), key="older").status_code == 201
    db.session.execute(update(IdempotencyKey).where(IdempotencyKey.key == "older")
                       .values(created_at=utcnow() - timedelta(hours=25)))
    db.session.commit()
    assert prune_idempotency_keys() == 1
    assert [k.key for k in db.session.scalars(select(IdempotencyKey))] == ["old"]


def test_every_api_post_that_writes_honours_the_key(app):
    """One mechanism for all: a new POST endpoint without it fails here."""
    exempt = {"/api/auth/token",  # issues a secret: replaying it would store the token in clear
              "/api/system/slow-queries/reset"}  # a statistics reset is idempotent by nature
    posts = [r for r in app.url_map.iter_rules() if "POST" in r.methods and r.endpoint.startswith("api.")
             and r.rule not in exempt]
    assert len(posts) >= 9
    missing = [r.rule for r in posts if not getattr(app.view_functions[r.endpoint], "idempotent", False)]
    assert not missing


@pytest.mark.parametrize(("path", "body"), [
    ("/api/cadets/import", {"cadets": [{"student_id": "2026-88001", "first_name": "A", "last_name": "B"}]}),
    ("/api/training-days", {"date": "2026-10-01", "title": "Drill"}),
])
def test_retried_creates_on_other_endpoints_write_once(client, admin, token, path, body):
    first, retry = post(client, token, body, key="c", path=path), post(client, token, body, key="c", path=path)
    assert first.status_code == retry.status_code == 201 and body_of(first) == body_of(retry)
    db.session.expire_all()
    assert count(AuditLog) == len(db.session.scalars(select(AuditLog.id)).all())
    audits = db.session.scalars(select(AuditLog.table_name).where(AuditLog.user_id == admin.id)).all()
    assert sorted(audits).count("cadets" if "cadets" in path else "training_days") == 1


def test_concurrent_requests_with_one_key_write_once(app, admin, token):
    if not is_postgres():
        pytest.skip("concurrency is tested against PostgreSQL")
    cadet = make_cadet(admin)
    threads, barrier = 8, threading.Barrier(8)
    answers: list = [None] * threads

    def send(i: int) -> None:
        with app.app_context():
            barrier.wait()
            try:
                answers[i] = post(app.test_client(), token, merit(cadet), key="twin")
            finally:
                db.session.remove()

    workers = [threading.Thread(target=send, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    assert [a.status_code for a in answers] == [201] * threads, [a.data[:200] for a in answers]
    assert len({a.data for a in answers}) == 1
    assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == threads - 1
    assert count(MeritDemeritLog) == 1 and merit_audits() == 1


# --- the connection drops right after the commit ------------------------------------------------------

@contextmanager
def database_gone_after_commit(app):
    """After the next commit, end this database's connections and refuse new ones (real PostgreSQL)."""
    url = app.config["SQLALCHEMY_DATABASE_URI"].replace("postgresql+psycopg://", "postgresql://")
    name = url.rsplit("/", 1)[1]
    admin = psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True)
    fired = []

    def cut(session) -> None:
        if not fired:
            fired.append(True)
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))

    event.listen(db.session, "after_commit", cut)
    try:
        yield fired
    finally:
        event.remove(db.session, "after_commit", cut)
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        admin.close()
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def postgres_only(app):
    if not is_postgres():
        pytest.skip("drops real PostgreSQL connections")


def test_a_committed_merit_answers_success_when_reading_it_back_fails(client, admin, token, postgres_only):
    cadet = make_cadet(admin)
    assert call(client, "GET", "/api/me", token).status_code == 200  # token bookkeeping done: one commit left
    with database_gone_after_commit(client.application) as fired:
        response = post(client, token, merit(cadet))
    assert fired and response.status_code == 201, response.data[:300]
    log_id = orjson.loads(response.data)["data"]["id"]
    assert db.session.scalar(select(MeritDemeritLog.cadet_id).where(MeritDemeritLog.id == log_id)) == cadet


def test_a_committed_cadet_answers_success_with_its_id_and_location(client, admin, token, postgres_only):
    assert call(client, "GET", "/api/me", token).status_code == 200
    body = {"student_id": "2026-66001", "first_name": "Lea", "last_name": "Santos"}
    with database_gone_after_commit(client.application):
        response = post(client, token, body, path="/api/cadets")
    assert response.status_code == 201, response.data[:300]
    cadet_id = orjson.loads(response.data)["data"]["id"]
    assert response.headers["Location"].endswith(f"/api/cadets/{cadet_id}")
    assert call(client, "GET", f"/api/cadets/{cadet_id}", token).status_code == 200


def test_a_keyed_merit_whose_connection_drops_after_commit_is_replayed_on_retry(client, admin, token,
                                                                               postgres_only):
    cadet = make_cadet(admin)
    assert call(client, "GET", "/api/me", token).status_code == 200
    with database_gone_after_commit(client.application):
        first = post(client, token, merit(cadet), key="dropped")
    assert first.status_code == 201, first.data[:300]
    retry = post(client, token, merit(cadet), key="dropped")
    assert retry.status_code == 201 and retry.headers["Idempotent-Replayed"] == "true"
    assert body_of(retry) == body_of(first) and body_of(first)["data"]["reason"] == "retried"
    assert count(MeritDemeritLog) == 1 and merit_audits() == 1
