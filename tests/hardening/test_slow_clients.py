"""Slow clients: connections that send half a request head and stop are closed after HTTP_IDLE_TIMEOUT, thousands of
them do not keep other clients waiting, and an invalid timeout stops start-up with a message naming the setting."""
import resource
import selectors
import socket
import subprocess
import time

import pytest
import requests

import stack
from conftest import SOAK, record_cases

IDLE_TIMEOUT = 2
HALF_HEAD = b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow"


@pytest.fixture(scope="module")
def server():
    postgres = stack.Postgres()
    stack.migrate(postgres.url)
    identity = stack.IdentityProvider()
    serve = stack.Serve(postgres.url, identity, extra_env={"HTTP_IDLE_TIMEOUT": str(IDLE_TIMEOUT)})
    yield serve, identity
    serve.stop()
    identity.close()
    postgres.destroy()


def socket_budget(wanted):
    """At most `wanted` sockets, leaving room under this process's (and so the server's) open-file limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(1, min(wanted, soft - 512))


def wait_for_all_closed(sockets, timeout):
    """The sockets the server closed within `timeout` seconds (each read returns end-of-file or a reset)."""
    selector = selectors.DefaultSelector()
    for sock in sockets:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    closed = set()
    deadline = time.monotonic() + timeout
    while len(closed) < len(sockets) and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.5):
            try:
                data = key.fileobj.recv(4096)
            except (ConnectionResetError, BlockingIOError):
                data = b""
            if not data:
                closed.add(key.fileobj)
                selector.unregister(key.fileobj)
    selector.close()
    return closed


def test_half_a_request_head_is_disconnected_after_the_idle_timeout(server):
    serve, _ = server
    sock = socket.create_connection(("127.0.0.1", serve.port), timeout=10)
    try:
        sock.sendall(HALF_HEAD)
        started = time.monotonic()
        closed = wait_for_all_closed([sock], IDLE_TIMEOUT + 15)
        assert closed, f"the connection was still open {IDLE_TIMEOUT + 15} s after half a head (HTTP_IDLE_TIMEOUT={IDLE_TIMEOUT})"
        assert time.monotonic() - started >= IDLE_TIMEOUT - 0.5, "closed before the idle timeout"
    finally:
        sock.close()


def test_thousands_of_half_heads_do_not_stop_other_clients(server):
    serve, identity = server
    count = socket_budget(6000 if SOAK else 2000)
    token = identity.signer.token("employee")
    stalled = []
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", serve.port), timeout=10)
            sock.sendall(HALF_HEAD)
            stalled.append(sock)
        # Others are served while every stalled connection is still open (each call is a new connection).
        answered = 0
        for index in range(20):
            reply = requests.request(
                "POST" if index % 2 else "GET", serve.base + "/timesheets", timeout=10,
                headers={"Authorization": f"Bearer {token}"},
                json={"date": "2009-01-05", "project": "Slow", "hours": 0.1} if index % 2 else None)
            assert reply.status_code in (200, 201), reply.text
            answered += 1
        closed = wait_for_all_closed(stalled, IDLE_TIMEOUT + 30)
        assert len(closed) == count, f"{count - len(closed)} of {count} stalled connections were still open"
        record_cases("slow clients", count + 20, len(closed) + answered)
    finally:
        for sock in stalled:
            sock.close()
    assert requests.get(serve.base + "/health/ready", timeout=10).status_code == 200


@pytest.mark.parametrize("how", ["environment", "flag"])
@pytest.mark.parametrize("value", ["soon", "0", "-5", "1.5", "3601"])
def test_an_invalid_idle_timeout_stops_start_up(how, value):
    environment = {"DATABASE_URL": "postgres://u@127.0.0.1:1/db", "AUTH_ISSUER": "http://127.0.0.1:1/",
                   "AUTH_AUDIENCE": stack.AUDIENCE, "PATH": "/usr/bin:/bin"}
    arguments = [stack.binary(), "serve"]
    if how == "environment":
        environment["HTTP_IDLE_TIMEOUT"] = value
    else:
        arguments.append(f"--http-idle-timeout={value}")
    result = subprocess.run(arguments, env=environment, capture_output=True, text=True, timeout=60,
                            cwd="/")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "HTTP_IDLE_TIMEOUT" in result.stderr and value in result.stderr, result.stderr
