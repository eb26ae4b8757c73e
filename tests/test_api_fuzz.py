"""Fuzzing: schemathesis generates valid and invalid requests for every operation of
/api/openapi.json and sends them to the app in-process (WSGI). No 500, every response as documented."""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from blueprints.api.openapi import OPERATIONS
from tests.factories import make_cadet, make_token, make_training_day, make_user
from tests.test_api_support import call

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
MAX_EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "12"))


@pytest.fixture
def seeded(app, client):
    """An admin token (every route allowed) and a few rows for the generated ids to hit."""
    admin = make_user("admin")
    cadets = [make_cadet(admin) for _ in range(3)]
    day = make_training_day(admin)
    token = make_token(admin)
    call(client, "POST", "/api/attendance/bulk", token, {"training_day_id": day, "cadet_ids": cadets,
                                                         "status": "present"})
    call(client, "POST", "/api/merit-demerits", token, {"cadet_id": cadets[0], "type": "merit", "points": 5,
                                                        "reason": "fuzz"})
    return token


def _cases() -> list:
    """Every operation with valid data; those with inputs (path, query, body) also with invalid data."""
    out = []
    for op in OPERATIONS:
        label = f"{op.method.upper()} {op.path}"
        out.append(pytest.param(op, GenerationMode.POSITIVE, id=f"{label} valid"))
        if op.body or op.spec or "{" in op.path:
            out.append(pytest.param(op, GenerationMode.NEGATIVE, id=f"{label} invalid"))
    return out


@pytest.mark.parametrize(("op", "mode"), _cases())
def test_fuzz_operation(app, seeded, op, mode):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operation = schema[f"/api{op.path}"][op.method.upper()]
    # Revoking the token would only turn the rest of the run into 401s; use one of its own.
    token = make_token(make_user("admin")) if op.endpoint == "token_revoke" else seeded
    # The WSGI transport does not decode gzip; gzip itself is covered by test_api_cache.py.
    headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "identity"}
    strategy = operation.as_strategy(generation_mode=mode, headers=headers)

    @given(case=strategy)
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def run(case) -> None:
        case.call_and_validate(checks=CHECKS)

    run()
