"""Checks the package's module graph from `swift package dump-package`: nothing deployed depends on a test kit or on
the development tools, the HTTP API reaches PostgreSQL only through the store, and percent-decoding has one owner
below AuthKit, the store and the API.

`serve` and `migrate` run the code of TimesheetAPI, TimesheetStore, AuthKit and TimesheetDomain; `dev` and `token`
add TimesheetDevTools (which may use AuthKitTesting: dev mode is a tool). The executable links both, so the line
is drawn at the libraries: adding `"AuthKitTesting"` or `"TimesheetDevTools"` to any deployed library's
dependencies, directly or through another target, fails here."""
import json
import pathlib
import re
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

DEPLOYED = ["TimesheetAPI", "TimesheetStore", "AuthKit", "TimesheetDomain", "PercentEncoding", "EventLoopConcurrency"]
NEVER_DEPLOYED = {"AuthKitTesting", "TimesheetDevTools", "LocalPostgres", "TimesheetDomainTesting", "HummingbirdTesting"}

# Each module's tests link only the layers the module itself stands on (plus test kits and the local cluster):
# the store's tests never build the HTTP layer, the domain's never the store.
TEST_LAYERS = {
    "TimesheetDomainTests": {"TimesheetDomain"},
    "TimesheetStoreTests": {"TimesheetDomain", "TimesheetStore", "PercentEncoding"},
    "AuthKitTests": {"AuthKit", "PercentEncoding"},
    "PercentEncodingTests": {"PercentEncoding"},
}
OUR_LAYERS = {"TimesheetDomain", "TimesheetStore", "AuthKit", "PercentEncoding", "TimesheetAPI", "TimesheetDevTools",
              "TimesheetServer"}


@pytest.fixture(scope="module")
def package():
    result = subprocess.run(
        ["swift", "package", "dump-package"], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"swift package dump-package failed:\n{result.stderr}"
    return json.loads(result.stdout)


def direct_dependencies(target):
    """Names of a target's dependencies: local targets by name, products by product name."""
    names = []
    for dependency in target.get("dependencies", []):
        for kind in ("byName", "target", "product"):
            if kind in dependency:
                names.append(dependency[kind][0])
    return names


def closure(package, root):
    """Every target and product `root` depends on, directly or through local targets."""
    targets = {target["name"]: target for target in package["targets"]}
    seen, stack = set(), [root]
    while stack:
        name = stack.pop()
        for dependency in direct_dependencies(targets[name]):
            if dependency not in seen:
                seen.add(dependency)
                if dependency in targets:
                    stack.append(dependency)
    return seen


@pytest.mark.parametrize("module", DEPLOYED)
def test_deployed_modules_do_not_depend_on_test_kits_or_dev_tools(package, module):
    names = {target["name"] for target in package["targets"]}
    assert module in names, f"{module} is not a target any more; update DEPLOYED in this test"
    leaked = closure(package, module) & NEVER_DEPLOYED
    assert not leaked, f"{module} depends on {sorted(leaked)}, which must never reach a deployment"


@pytest.mark.parametrize("tests,allowed", sorted(TEST_LAYERS.items()))
def test_each_modules_tests_run_without_the_layers_it_does_not_depend_on(package, tests, allowed):
    reached = closure(package, tests) & OUR_LAYERS
    assert reached <= allowed, f"{tests} links {sorted(reached - allowed)}, layers its module does not stand on"


def test_the_dev_tools_are_a_separate_library_wired_in_by_the_executable(package):
    targets = {target["name"]: target for target in package["targets"]}
    assert targets["TimesheetDevTools"]["type"] == "regular"
    assert targets["TimesheetServer"]["type"] == "executable"
    assert "TimesheetDevTools" in direct_dependencies(targets["TimesheetServer"])
    products = {product["name"]: product for product in package["products"]}
    assert products["timesheets"]["targets"] == ["TimesheetServer"], "the command is still `timesheets`"


def test_the_api_reaches_postgresql_only_through_the_store(package):
    targets = {target["name"]: target for target in package["targets"]}
    assert "PostgresNIO" not in direct_dependencies(targets["TimesheetAPI"])
    for path in (ROOT / "Sources" / "TimesheetAPI").rglob("*.swift"):
        for line in path.read_text().splitlines():
            assert not re.match(r"\s*(@\w+\s+)*(public |package |internal )?import\s+PostgresNIO\b", line), \
                f"{path.relative_to(ROOT)} imports PostgresNIO; use the store's API (PostgresStore)"


def test_shared_rules_live_below_the_modules_that_share_them(package):
    """AuthKit, the store and the API share percent-decoding through PercentEncoding, never through each other."""
    targets = {target["name"]: target for target in package["targets"]}
    assert direct_dependencies(targets["PercentEncoding"]) == [], "PercentEncoding is the standard library only"
    for module in ("AuthKit", "TimesheetStore", "TimesheetAPI"):
        assert "PercentEncoding" in direct_dependencies(targets[module]), f"{module} decodes percent-encoding itself"
    assert not closure(package, "AuthKit") & {"TimesheetStore", "TimesheetAPI", "TimesheetDomain"}, \
        "AuthKit knows nothing about timesheets"
    assert not closure(package, "TimesheetStore") & {"AuthKit", "TimesheetAPI"}
    for path in (ROOT / "Sources").rglob("*.swift"):
        if path.parent.name != "PercentEncoding" and "removingPercentEncoding" in path.read_text():
            pytest.fail(f"{path.relative_to(ROOT)} decodes percent-encoding itself; use PercentDecoding")
