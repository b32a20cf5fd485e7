"""Checks the container contract without a Docker engine: the compose file against the Compose Specification
schema and our invariants, and the Dockerfile by reading it."""
import json
import pathlib
import re

import jsonschema
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
# The Compose Specification's JSON Schema (Apache-2.0, github.com/compose-spec/compose-spec), vendored so the test
# runs from any clone; the shared copy next to the workspace wins when present, so an update there is picked up.
SHARED_SCHEMA = ROOT.parent / "shared" / "data" / "compose-spec.json"
SCHEMA = SHARED_SCHEMA if SHARED_SCHEMA.exists() else ROOT / "tests" / "python" / "data" / "compose-spec.json"


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_file_matches_the_compose_specification(compose):
    if not SCHEMA.exists():
        pytest.fail(f"the Compose Specification schema is missing at {SCHEMA}")
    jsonschema.validate(compose, json.loads(SCHEMA.read_text()))


def test_database_has_a_volume_and_a_tcp_healthcheck(compose):
    db = compose["services"]["db"]
    assert db["image"].startswith("postgres:")
    assert any(v.startswith("db-data:") for v in db["volumes"])
    assert "db-data" in compose["volumes"]
    test = " ".join(db["healthcheck"]["test"])
    assert "pg_isready" in test and "-h 127.0.0.1" in test


def test_migrate_is_a_one_shot_job_after_the_database(compose):
    migrate = compose["services"]["migrate"]
    assert migrate["command"] == ["migrate", "up", "--wait"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"


def test_api_waits_for_migrations_and_publishes_only_to_localhost(compose):
    for name in ("api", "api-dev"):
        api = compose["services"][name]
        assert api["depends_on"]["db"]["condition"] == "service_healthy"
        assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert api["environment"]["HOST"] == "0.0.0.0"
    for name in ("api-dev", "lb"):
        for port in compose["services"][name]["ports"]:
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond this machine"
    assert compose["services"]["api"]["command"] == ["serve"]
    assert compose["services"]["api-dev"]["profiles"] == ["dev"]
    assert compose["services"]["api-dev"]["command"] == ["dev", "--unsafe-allow-remote-dev-login"]


def test_replicas_run_behind_the_load_balancer(compose):
    """Three `serve` replicas, reached only through HAProxy, which takes a replica out on a red readiness check
    before that replica stops listening (SHUTDOWN_DRAIN longer than the check interval)."""
    api, lb = compose["services"]["api"], compose["services"]["lb"]
    assert api["deploy"]["replicas"] == 3
    assert "ports" not in api, "replicas are reached through the load balancer only"
    assert lb["image"].startswith("haproxy:")
    mount = next(v for v in lb["volumes"] if "haproxy.cfg" in v)
    source = mount.split(":")[0]
    config = (ROOT / source).read_text()
    assert "option httpchk GET /health/ready" in config
    assert "balance hdr(Authorization)" in config
    interval = float(re.search(r"default-server inter (\d+(?:\.\d+)?)s", config).group(1))
    assert float(api["environment"]["SHUTDOWN_DRAIN"]) > interval
    assert re.search(r"server-template api \d+ api:8080 check", config)
    # Migrations run once, before any replica starts.
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_the_browser_client_gets_every_setting_it_needs(compose):
    """`docker compose up` serves a web client that can log in: its client id reaches the api service, and the
    example file names every setting the browser's login needs (issuer, audience, client id, scopes)."""
    api = compose["services"]["api"]
    assert api["environment"]["WEB_CLIENT_ID"] == "${WEB_CLIENT_ID:-}"
    assert any(entry.get("path") == ".env" for entry in api["env_file"])
    example = (ROOT / ".env.example").read_text()
    settings = dict(re.findall(r"^([A-Z0-9_]+)=(.*)$", example, re.M))
    for name in ("AUTH_ISSUER", "AUTH_AUDIENCE", "WEB_CLIENT_ID", "AUTH_SCOPE_CLAIMS"):
        assert name in settings, f".env.example does not set {name}"
    assert settings["AUTH_SCOPE_CLAIMS"] == "permissions"
    assert "http://127.0.0.1:8080/" in example, "the callback URL to register in Auth0"


def test_no_secrets_are_committed(compose):
    text = (ROOT / "docker-compose.yml").read_text()
    # Passwords come from the environment, with a local default only.
    for line in text.splitlines():
        if "PASSWORD" in line and not line.lstrip().startswith("#"):
            assert "${POSTGRES_PASSWORD:-" in line, line
    for forbidden in ("AUTH_HS256_SECRET:", "client_secret", "BEGIN PRIVATE KEY"):
        assert forbidden not in text
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    example = (ROOT / ".env.example").read_text()
    assert "AUTH_ISSUER=" in example and "AUTH_AUDIENCE=" in example


def test_dockerfile_contract():
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, re.M)
    assert stages[0][0].startswith("swift:6.3"), stages
    assert stages[-1][0].startswith(("ubuntu:", "debian:")), stages
    assert "swift package resolve" in text.split("COPY Sources")[0], "dependencies resolve in their own layer"
    assert "--static-swift-stdlib" in text and "-c release" in text
    runtime = text.split(stages[-1][0], 1)[1]
    assert re.search(r"^USER\s+(?!root)\S+", runtime, re.M), "runs as a non-root user"
    assert re.search(r"^EXPOSE 8080", runtime, re.M)
    assert 'ENTRYPOINT ["timesheets"]' in runtime
    assert 'CMD ["serve"]' in runtime
    assert re.search(r'^HEALTHCHECK .*CMD \["timesheets", "healthcheck"\]', runtime, re.M)
    assert "migrations" in runtime and "resources" in text
    assert "ca-certificates" in runtime and "tzdata" in runtime


def test_dockerignore_keeps_build_data_and_git_out():
    entries = (ROOT / ".dockerignore").read_text().split()
    for entry in (".build", ".data", ".git"):
        assert entry in entries
