"""Processes the hardening suite starts and stops: `timesheets dev`, `timesheets serve`, a private PostgreSQL
cluster and an identity provider (discovery + JWKS) on 127.0.0.1. Nothing here talks to any other address."""
import base64
import contextlib
import glob
import hashlib
import http.server
import json
import os
import pathlib
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = pathlib.Path(__file__).resolve().parents[2]
AUDIENCE = "https://api.exampleco.com/timesheets"
SUBJECTS = {
    "employee": "auth0|dev-employee",
    "contractor": "auth0|dev-contractor",
    "manager": "auth0|dev-manager",
    "machine": "timesheets-batch@clients",
}
BASIC = ["read:timesheets", "create:timesheets", "update:timesheets", "delete:timesheets"]
PERMISSIONS = {
    "employee": BASIC,
    "contractor": BASIC,
    "manager": BASIC + ["approve:timesheets", "read:reports"],
    "machine": ["batch:upload"],
}


def binary():
    """The debug `timesheets` binary: $TIMESHEETS_BINARY, else .build/debug/timesheets."""
    path = pathlib.Path(os.environ.get("TIMESHEETS_BINARY") or ROOT / ".build" / "debug" / "timesheets")
    if not path.exists():
        raise RuntimeError(f"{path} is missing: run swift build first (or set TIMESHEETS_BINARY)")
    return str(path)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def temp_dir(prefix):
    path = tempfile.mkdtemp(prefix=prefix)
    os.chmod(path, 0o755)  # PostgreSQL runs as its own user when we are root
    return path


class ProcessExited(AssertionError):
    """The process being waited for is gone: no use waiting out the timeout."""


def stop_process(process, timeout):
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds; its exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def wait_until(condition, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            result = condition()
            if result:
                return result
        except ProcessExited:
            raise
        except Exception as error:  # noqa: BLE001 - the thing may not be up yet
            last = error
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}: {last}")


class Signer:
    """Mints RS256 tokens the way the identity provider does; attack tokens start from `claims()`."""

    def __init__(self, private_pem, kid, issuer):
        self.private_pem = private_pem
        self.key = serialization.load_pem_private_key(private_pem, password=None)
        self.kid = kid
        self.issuer = issuer

    def claims(self, role, lifetime=3600, **extra):
        now = int(time.time())
        claims = {
            "iss": self.issuer, "sub": SUBJECTS[role], "aud": [AUDIENCE, self.issuer + "userinfo"],
            "iat": now, "exp": now + lifetime, "scope": " ".join(PERMISSIONS[role]),
            "permissions": PERMISSIONS[role], "azp": "timesheets-web",
        }
        if role == "machine":
            claims["gty"] = "client-credentials"
        claims.update(extra)
        return claims

    def sign(self, claims, headers=None, key=None, algorithm="RS256"):
        fields = {"kid": self.kid}
        fields.update(headers or {})
        return jwt.encode(claims, key if key is not None else self.key, algorithm=algorithm, headers=fields)

    def token(self, role, **extra):
        return self.sign(self.claims(role, **extra))

    def public_jwk(self):
        numbers = self.key.public_key().public_numbers()

        def b64(value):
            raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        return {"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256", "n": b64(numbers.n), "e": b64(numbers.e)}


def dev_key_id(pem_text):
    return "dev-" + hashlib.sha256(pem_text.encode()).hexdigest()[:16]


class API:
    """A small HTTP client for one running server."""

    def __init__(self, base):
        self.base = base
        self.session = requests.Session()
        # Up to 64 pooled connections: the concurrency tests use 25-50 threads, and urllib3's default of 10 would
        # close and reopen the surplus on every call.
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=64)
        self.session.mount("http://", adapter)

    def call(self, method, path, token=None, json_body=None, data=None, headers=None, timeout=30):
        fields = dict(headers or {})
        if token:
            fields["Authorization"] = f"Bearer {token}"
        if json_body is not None:
            data = json.dumps(json_body)
            fields.setdefault("Content-Type", "application/json")
        return self.session.request(method, self.base + path, data=data, headers=fields, timeout=timeout)


class DevStack:
    """`timesheets dev` on a free port with its own data directory (and so its own PostgreSQL cluster)."""

    def __init__(self):
        # A free port can be taken by another process between choosing it and binding it; one fresh try covers that.
        for attempt in (1, 2):
            try:
                self._start()
                break
            except AssertionError as error:
                if attempt == 2 or "already in use" not in str(error).lower():
                    raise
        pem = open(os.path.join(self.data_dir, "dev-idp-key.pem")).read()
        self.issuer = f"{self.base}/dev-idp/"
        self.signer = Signer(pem.encode(), dev_key_id(pem), self.issuer)
        self.api = API(self.base)
        self.db_port = int(next(line.split("=")[1] for line in open(os.path.join(self.data_dir, "postgres", "timesheets-local.conf"))
                                if line.startswith("port")))

    def _start(self):
        self.port = free_port()
        self.data_dir = temp_dir("timesheets-hardening-")
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(self.data_dir, "dev.log")
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env["LOG_LEVEL"] = "warning"
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [binary(), "dev", "--port", str(self.port), "--data-dir", self.data_dir],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)
        try:
            wait_until(self._ready, 120, "timesheets dev to answer /health/live")
        except AssertionError:
            # Read the log before stop() removes the data directory it lives in.
            self.log.flush()
            log = pathlib.Path(self.log_path).read_text(errors="replace")[-3000:]
            self.stop()
            raise AssertionError(f"timesheets dev did not come up (exit {self.process.returncode}):\n{log}")

    def _ready(self):
        if self.process.poll() is not None:
            raise ProcessExited("timesheets dev exited early")
        return requests.get(self.base + "/health/live", timeout=2).status_code == 200

    def cli_token(self, role, *arguments):
        """A token from `timesheets token`, the way a developer mints one."""
        return subprocess.run(
            [binary(), "token", "--user", role, "--port", str(self.port), "--data-dir", self.data_dir, *arguments],
            check=True, capture_output=True, text=True, timeout=60).stdout.strip()

    def sql(self, statement):
        return subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(self.db_port), "-U", "postgres", "-d", "postgres", "-At", "-c", statement],
            check=True, capture_output=True, text=True, timeout=30).stdout

    def snapshot(self):
        """Every row of the table, as text: compared before and after each hostile request."""
        return self.sql("SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY id), '') FROM timesheets t")

    def stop(self):
        stop_process(self.process, timeout=30)
        self.log.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)


# --- PostgreSQL of our own, for `serve` and the outage tests ---------------------------------------------------

def _pg_bin(name):
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if not candidates:
        raise RuntimeError(f"{name} is missing: apt-get install -y postgresql")
    return candidates[-1]


class Postgres:
    """A throwaway cluster on 127.0.0.1, run as the `postgres` user when we are root."""

    def __init__(self):
        self.dir = temp_dir("timesheets-hardening-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.user = None
        if os.geteuid() == 0:
            self.user = pwd.getpwnam("postgres")
            os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)
        self._run(_pg_bin("initdb"), "-D", self.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
        with open(os.path.join(self.data, "postgresql.conf"), "a") as conf:
            conf.write(f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\nunix_socket_directories = '{self.dir}'\n"
                       "max_connections = 200\nfsync = off\n")
        self.start()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres?sslmode=disable"

    def _run(self, *command):
        if self.user:
            command = ("runuser", "-u", "postgres", "--", *command)
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")

    def start(self):
        self._run(_pg_bin("pg_ctl"), "-D", self.data, "-l", os.path.join(self.dir, "server.log"), "-w", "-t", "60", "start")

    def stop(self, mode="fast"):
        self._run(_pg_bin("pg_ctl"), "-D", self.data, "-m", mode, "-w", "-t", "60", "stop")

    def sql(self, statement):
        return subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "postgres", "-At", "-c", statement],
            check=True, capture_output=True, text=True, timeout=30).stdout

    def destroy(self):
        with contextlib.suppress(Exception):
            self.stop(mode="immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


# --- An identity provider whose behaviour the tests control --------------------------------------------------------

class IdentityProvider:
    """Discovery and JWKS on 127.0.0.1. `mode` is `ok`, `hang` (never answers in time), `garbage` or `down` (500)."""

    def __init__(self):
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}/"
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        self.signer = Signer(pem, "hardening-key-1", self.issuer)
        self.mode = "ok"
        self.jwks_requests = 0
        # Members that replace those of the discovery document (a misconfigured or hostile provider).
        self.discovery_overrides = {}
        # More public JWKs served next to the RSA key (EC and OKP keys, say).
        self.extra_jwks = []
        self.release = threading.Event()
        provider = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                path = urllib.parse.urlsplit(self.path).path
                if path == "/.well-known/openid-configuration":
                    body = {"issuer": provider.issuer, "jwks_uri": provider.issuer + ".well-known/jwks.json",
                            **provider.discovery_overrides}
                elif path == "/.well-known/jwks.json":
                    provider.jwks_requests += 1
                    if provider.mode == "hang":
                        provider.release.wait(60)
                        return
                    if provider.mode == "down":
                        self.send_response(500)
                        self.end_headers()
                        return
                    if provider.mode == "garbage":
                        raw = b"\x00<html>not json{{{"
                        self.send_response(200)
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", str(len(raw)))
                        self.end_headers()
                        self.wfile.write(raw)
                        return
                    body = {"keys": [provider.signer.public_jwk(), *provider.extra_jwks]}
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                raw = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class Serve:
    """`timesheets serve` against our PostgreSQL and identity provider."""

    def __init__(self, database_url, identity, extra_env=None, port=None):
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_file = tempfile.NamedTemporaryFile(prefix="timesheets-serve-", suffix=".log", delete=False)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH", "DATABASE_", "SHUTDOWN_"))}
        env.update({"DATABASE_URL": database_url, "PORT": str(self.port), "AUTH_ISSUER": identity.issuer,
                    "AUTH_AUDIENCE": AUDIENCE, "LOG_LEVEL": "warning"})
        env.update(extra_env or {})
        self.process = subprocess.Popen([binary(), "serve"], stdout=self.log_file, stderr=subprocess.STDOUT, env=env,
                                        cwd=tempfile.gettempdir())
        self.api = API(self.base)
        try:
            wait_until(self._ready, 60, "timesheets serve to become ready")
        except AssertionError:
            self.stop()
            raise AssertionError("serve did not become ready:\n" + self.log())

    def _ready(self):
        if self.process.poll() is not None:
            raise ProcessExited("timesheets serve exited early:\n" + self.log())
        return requests.get(self.base + "/health/ready", timeout=5).status_code == 200

    def log(self):
        return pathlib.Path(self.log_file.name).read_text(errors="replace")[-4000:]

    def stop(self):
        return stop_process(self.process, timeout=40)

    def rss_kib(self):
        for line in open(f"/proc/{self.process.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0


def migrate(database_url):
    result = subprocess.run([binary(), "migrate", "up", "--migrations-dir", str(ROOT / "migrations")],
                            env={**os.environ, "DATABASE_URL": database_url}, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


class Standby(Postgres):
    """A streaming-replication standby of `primary`, made with `pg_basebackup -R` (hot standby, read-only)."""

    def __init__(self, primary):
        self.dir = temp_dir("timesheets-hardening-standby-")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.user = None
        if os.geteuid() == 0:
            self.user = pwd.getpwnam("postgres")
            os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)
        self._run(_pg_bin("pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
                  "-D", self.data, "-R", "-X", "stream", "-c", "fast", "--no-sync")
        with open(os.path.join(self.data, "postgresql.conf"), "a") as conf:
            # The copied file names the primary's port and socket directory; later lines win.
            conf.write(f"\nport = {self.port}\nunix_socket_directories = '{self.dir}'\nhot_standby = on\n")
        self.start()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres?sslmode=disable"


class HAProxy:
    """HAProxy from Debian's package in front of `servers` (base URLs), configured in a temporary folder.

    Requests are spread by a hash of the Authorization header (one caller, one replica, as read-your-writes needs),
    a replica leaves the pool as soon as its readiness answers 503 and returns after two good checks, and a request
    whose connection could not be made is sent to another replica. Answers carry `X-Served-By`."""

    def __init__(self, servers):
        executable = shutil.which("haproxy") or "/usr/sbin/haproxy"
        if not os.path.exists(executable):
            raise RuntimeError("haproxy is missing: apt-get install -y haproxy")
        self.dir = temp_dir("timesheets-hardening-haproxy-")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        lines = [
            "global", "    maxconn 4096",
            "defaults", "    mode http", "    timeout connect 2s", "    timeout client 60s", "    timeout server 60s",
            "    retries 3", "    option redispatch", "    retry-on conn-failure",
            "frontend api", f"    bind 127.0.0.1:{self.port}", "    default_backend replicas",
            "backend replicas", "    balance hdr(Authorization)", "    hash-type consistent",
            "    option httpchk GET /health/ready", "    http-check expect status 200",
            "    default-server inter 300ms fall 1 rise 2",
            "    http-response set-header X-Served-By %s",
        ]
        for index, server in enumerated_servers(servers):
            lines.append(f"    server replica{index} {server} check")
        self.config = os.path.join(self.dir, "haproxy.cfg")
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.log = open(os.path.join(self.dir, "haproxy.log"), "w")
        self.process = subprocess.Popen([executable, "-db", "-f", self.config], stdout=self.log, stderr=subprocess.STDOUT)
        self.api = API(self.base)
        wait_until(lambda: requests.get(self.base + "/health/live", timeout=2).status_code == 200, 30,
                   "haproxy to route a request")

    def stop(self):
        stop_process(self.process, timeout=10)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def enumerated_servers(servers):
    """(1, "127.0.0.1:PORT"), ... from base URLs."""
    return [(index, urllib.parse.urlsplit(base).netloc) for index, base in enumerate(servers, start=1)]
