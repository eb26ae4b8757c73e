"""Fuzzing: schemathesis generates requests for every operation of /api/openapi.json and sends them to
the app in-process (WSGI). No 500; every response as documented (status, content type, headers,
body schema); input the document allows is accepted and input it refuses is refused; a method the
document does not list is a 405 with Allow. Two phases: schemathesis' coverage phase (boundary values:
maxLength + 1, the first date past the range, a method not listed, ...) and random fuzzing."""

from __future__ import annotations

import itertools
import os
import re
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from blueprints.api.openapi import OPERATIONS, Op
from tests.factories import make_cadet, make_token, make_training_day, make_user
from tests.test_api_support import call

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance, negative_data_rejection, positive_data_acceptance, unsupported_method]
MAX_EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "10"))
# Rules JSON Schema cannot state, kept out of generated valid data; each has its own test
# (test_api_grades.py, test_api_cadets.py): a key unique across a bulk body's items, and If-Match
# agreeing with a body "version".
_UNIQUE_KEYS = {"grades_bulk_update": ("items", "cadet_id"), "cadets_import": ("cadets", "student_id")}


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


def _expressible(op: Op, case) -> bool:
    """False for a case that breaks one of the rules above (the schema cannot say it is invalid)."""
    body: Any = case.body
    if op.endpoint in _UNIQUE_KEYS and isinstance(body, dict):
        items_key, key = _UNIQUE_KEYS[op.endpoint]
        items = body.get(items_key)
        keys = [str(item.get(key)) for item in items if isinstance(item, dict)] if isinstance(items, list) else []
        if len(keys) != len(set(keys)):
            return False
    if op.endpoint == "attendance_check_in":
        return False  # a valid body needs a genuine signed code (tests/test_checkin.py covers the endpoint)
    if op.endpoint == "excuses_create":
        # A valid letter needs a real absence of that cadet with no letter yet, and a readable photo or PDF
        # (tests/test_excuses.py covers both); invalid input is still fuzzed.
        return case.meta is not None and case.meta.generation.mode is GenerationMode.NEGATIVE
    if op.endpoint == "grades_update" and isinstance(body, dict) and body.get("version") is not None:
        return not (case.headers or {}).get("If-Match", "").strip("* ")
    return True


_keys = itertools.count()


def _unique_idempotency_key(case) -> None:
    """A valid Idempotency-Key made unique per case: reusing one with another body is a 422 by design,
    a rule across requests that the schema cannot express (tests/test_idempotency.py covers it)."""
    key = (case.headers or {}).get("Idempotency-Key")
    if key is not None and re.fullmatch(r"[ -~]{1,240}", key):
        case.headers["Idempotency-Key"] = f"{key}-{next(_keys)}"


def _auth(op: Op, seeded: str) -> dict[str, str]:
    # Revoking the token would only turn the rest of the run into 401s; use one of its own.
    token = make_token(make_user("admin")) if op.endpoint == "token_revoke" else seeded
    # The WSGI transport does not decode gzip; gzip itself is covered by test_api_cache.py.
    return {"Authorization": f"Bearer {token}", "Accept-Encoding": "identity"}


def _operation(app, op: Op):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    return schema, schema[f"/api{op.path}"][op.method.upper()]


def _fuzz_cases() -> list:
    """Every operation with valid data; those with inputs (path, query, body) also with invalid data."""
    out = []
    for op in OPERATIONS:
        label = f"{op.method.upper()} {op.path}"
        if op.endpoint not in ("attendance_check_in", "excuses_create"):  # see _expressible
            out.append(pytest.param(op, GenerationMode.POSITIVE, id=f"{label} valid"))
        if op.body or op.spec or "{" in op.path:
            out.append(pytest.param(op, GenerationMode.NEGATIVE, id=f"{label} invalid"))
    return out


@pytest.mark.parametrize("op", [pytest.param(op, id=f"{op.method.upper()} {op.path}") for op in OPERATIONS])
def test_coverage_phase(app, seeded, op):
    schema, operation = _operation(app, op)
    headers = _auth(op, seeded)
    generation = schema.config.generation_for(operation=operation, phase="coverage")
    cases = schema.iter_coverage_cases(operation, generation_config=generation,
                                       generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
    for case in cases:
        case.headers = {**(case.headers or {}), **headers}  # first: a negated header made valid here is valid
        if _expressible(op, case):
            _unique_idempotency_key(case)
            case.call_and_validate(checks=CHECKS)


@pytest.mark.parametrize(("op", "mode"), _fuzz_cases())
def test_fuzz_operation(app, seeded, op, mode):
    _, operation = _operation(app, op)
    strategy = operation.as_strategy(generation_mode=mode, headers=_auth(op, seeded))

    @given(case=strategy.filter(lambda case: mode is GenerationMode.NEGATIVE or _expressible(op, case)))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def run(case) -> None:
        _unique_idempotency_key(case)
        case.call_and_validate(checks=CHECKS)

    run()
