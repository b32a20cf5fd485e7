"""Schemathesis against the served /openapi.json, with a valid token per role: every operation, property-based,
checked for server errors, undocumented status codes, response schemas and content types. Zero failures.

Bounded: HARDENING_EXAMPLES examples per operation and role (default 15), seed HARDENING_SEED (default 20240610);
HARDENING_SEED=random draws a seed and prints it so a failure can be replayed.
"""
import os
import random

import pytest
import schemathesis
from hypothesis import HealthCheck, seed, settings
from schemathesis.checks import (content_type_conformance, not_a_server_error, response_schema_conformance,
                                 status_code_conformance)

from conftest import SOAK, record_cases

EXAMPLES = int(os.environ.get("HARDENING_EXAMPLES") or (200 if SOAK else 15))
_seed_setting = os.environ.get("HARDENING_SEED", "20240610")
SEED = random.randrange(1 << 32) if _seed_setting == "random" else int(_seed_setting)
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]


@pytest.fixture(scope="session")
def api_schema(dev):
    print(f"\nschemathesis: {EXAMPLES} examples per operation and role, seed {SEED} (HARDENING_SEED={SEED} replays it)")
    return schemathesis.openapi.from_url(dev.base + "/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


def conformance_test(role):
    """One test per role: schemathesis runs every operation of the schema inside it."""
    @schema.parametrize()
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), print_blob=True)
    @seed(SEED)
    def test(case, tokens):
        outcome = "failed"
        try:
            case.call_and_validate(headers={"Authorization": f"Bearer {tokens[role]}"}, checks=CHECKS, timeout=30)
            outcome = "passed"
        finally:
            record_cases("schema (schemathesis)", 1, 1 if outcome == "passed" else 0)
    return test


test_as_employee = conformance_test("employee")
test_as_contractor = conformance_test("contractor")
test_as_manager = conformance_test("manager")
test_as_machine = conformance_test("machine")
