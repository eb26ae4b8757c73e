"""The role matrix: every API route x (no token, cadet, training_staff, admin)."""

from __future__ import annotations

import pytest

from blueprints.api.openapi import OPERATIONS
from tests.factories import make_token, make_user
from tests.test_api_support import ROLES, call, tokens


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: f"{op.method.upper()} {op.path}")
def test_role_matrix(client, app, op):
    toks = tokens()
    # Ids that exist nowhere: allowed callers get 404/422, never a write; denied ones 401/403 first.
    path = "/api" + op.path.replace("{cadet_id}", "999999").replace("{day_id}", "999999") \
        .replace("{log_id}", "999999").replace("{record_id}", "999999") \
        .replace("{letter_id}", "999999")
    body = {} if op.method in ("post", "put", "patch") else None
    for who in (None, *ROLES):
        # Revoking the token in use must not spoil the next role's request.
        token = make_token(make_user(who)) if who and op.endpoint == "token_revoke" else toks.get(who)
        res = call(client, op.method.upper(), path, token, body)
        assert "Set-Cookie" not in res.headers
        assert res.mimetype == "application/json" or res.status_code == 204
        if op.roles is None:
            assert res.status_code not in (401, 403), (who, res.status_code)
        elif who is None:
            assert res.status_code == 401, res.data
        elif who in op.roles:
            assert res.status_code not in (401, 403), (who, res.status_code, res.data)
        else:
            assert res.status_code == 403, (who, res.status_code)
            assert res.get_json()["code"] == "FORBIDDEN"


def test_cadet_token_is_forbidden_everywhere_but_me_and_tokens():
    allowed = {op.endpoint for op in OPERATIONS if op.roles is None or "cadet" in op.roles}
    # Excuse letters and notifications: a cadet's own only (tests/test_excuses.py, test_notifications.py).
    own = {"excuses_list", "excuses_create", "excuses_get", "excuses_file", "notifications_list",
           "notifications_read"}
    assert allowed == {"me", "token_issue", "token_revoke", "openapi_json", "health_check", "attendance_check_in",
                       *own}
