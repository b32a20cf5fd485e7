"""Fixtures of the hardening suite, and the summary table printed at the end of a run.

Flags (environment variables):
  TIMESHEETS_BINARY          the `timesheets` binary (default .build/debug/timesheets)
  HARDENING_SEED             schemathesis seed (default 20240610); `random` picks a new one and prints it
  HARDENING_EXAMPLES         schemathesis examples per operation and role (default 15)
  HARDENING_SOAK=1           the long parts: more idle connections, longer load, more examples
"""
import collections
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import stack  # noqa: E402

SOAK = os.environ.get("HARDENING_SOAK") == "1"

CATEGORIES = {
    "test_schema": "schema (schemathesis)",
    "test_hostile_input": "hostile input",
    "test_tokens": "token attacks",
    "test_dpop": "DPoP proofs",
    "test_access_control": "access control",
    "test_faults": "faults",
    "test_reference_setup": "reference setup",
    "test_slow_clients": "slow clients",
    "test_response_headers": "response headers",
    "test_idempotency": "idempotency and history",
    "test_replicas": "replicas",
    "test_reports": "reports",
}

# Extra case counts a test reports itself (schemathesis examples, requests made under load): category -> [tried, passed].
EXTRA = collections.defaultdict(lambda: [0, 0])


def record_cases(category, tried, passed):
    EXTRA[category][0] += tried
    EXTRA[category][1] += passed


@pytest.fixture(scope="session")
def dev():
    """One `timesheets dev` for the request-level tests (hostile input, tokens, access control, schema)."""
    server = stack.DevStack()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tokens(dev):
    """A valid token per role, minted by `timesheets token` as a developer would."""
    return {role: dev.cli_token(role) for role in stack.SUBJECTS}


def _category(item):
    module = item.module.__name__.rsplit(".", 1)[-1]
    return CATEGORIES.get(module, module)


_results = collections.defaultdict(lambda: collections.Counter())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    category = _category(item)
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _results[category]["tried"] += 1
        _results[category]["xfailed" if hasattr(report, "wasxfail") else report.outcome] += 1


def pytest_terminal_summary(terminalreporter):
    if not _results:
        return
    write = terminalreporter.write_line
    write("")
    write("Hardening summary (tests = pytest cases; xfail = known bugs, see their reason; "
          "checks = requests or generated examples inside the tests)")
    header = f"{'category':<24}{'tests tried':>12}{'passed':>8}{'failed':>8}{'skipped':>9}{'xfail':>7}{'checks tried':>14}{'checks passed':>15}"
    write(header)
    write("-" * len(header))
    totals = collections.Counter()
    for category in list(CATEGORIES.values()) + sorted(set(_results) - set(CATEGORIES.values())):
        counts = _results.get(category)
        if not counts:
            continue
        extra = EXTRA.get(category, [0, 0])
        write(f"{category:<24}{counts['tried']:>12}{counts['passed']:>8}{counts['failed']:>8}{counts['skipped']:>9}"
              f"{counts['xfailed']:>7}{extra[0]:>14}{extra[1]:>15}")
        totals.update(counts)
        totals["checks"] += extra[0]
        totals["checks_passed"] += extra[1]
    write("-" * len(header))
    write(f"{'total':<24}{totals['tried']:>12}{totals['passed']:>8}{totals['failed']:>8}{totals['skipped']:>9}"
          f"{totals['xfailed']:>7}{totals['checks']:>14}{totals['checks_passed']:>15}")
