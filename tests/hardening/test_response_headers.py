"""Response headers: every API answer, errors included, says `Cache-Control: no-store` (answers belong to one
caller and change with every write) and `X-Content-Type-Options: nosniff`; the web client's assets keep their own
caching and get `nosniff` too."""
import socket

import pytest

ENTRY = {"date": "2012-02-06", "project": "Headers", "hours": 1}

# name, method, path, role (None: no token), JSON body, expected status
API_CALLS = [
    ("a list", "GET", "/timesheets", "employee", None, 200),
    ("a create", "POST", "/timesheets", "employee", ENTRY, 201),
    ("the summary", "GET", "/timesheets/summary?from=2012-02-01&to=2012-02-29", "employee", None, 200),
    ("who am I", "GET", "/me", "employee", None, 200),
    ("the review queue", "GET", "/approvals", "manager", None, 200),
    ("a batch upload", "POST", "/timesheets/upload", "machine", dict(ENTRY, user_id="auth0|headers"), 201),
    ("liveness", "GET", "/health/live", None, None, 200),
    ("readiness", "GET", "/health/ready", None, None, 200),
    ("metrics", "GET", "/metrics", None, None, 200),
    ("no token", "GET", "/timesheets", None, None, 401),
    ("a missing scope", "POST", "/timesheets/upload", "employee", [ENTRY], 403),
    ("an invalid body", "POST", "/timesheets", "employee", {"hours": 30}, 400),
    ("no such entry", "GET", "/timesheets/999999999", "employee", None, 404),
    ("no such route", "GET", "/no/such/route", None, None, 404),
    ("a bad query parameter", "GET", "/timesheets?limit=0", "employee", None, 400),
    ("a conflict", "POST", "/timesheets", "employee", dict(ENTRY, date="2012-02-07", hours=24), 409),
    ("a wrong content type", "POST", "/timesheets", "employee", None, 415),
]


@pytest.mark.parametrize("name,method,path,role,body,status", API_CALLS, ids=[call[0] for call in API_CALLS])
def test_api_answers_are_not_stored_or_sniffed(dev, tokens, name, method, path, role, body, status):
    headers = {"Content-Type": "text/plain"} if status == 415 else None
    if status == 409:
        dev.api.call(method, path, tokens[role], json_body=body)  # the day is full after this one (201 or 409)
    reply = dev.api.call(method, path, tokens[role] if role else None, json_body=body, data=b"x" if status == 415 else None,
                         headers=headers)
    assert reply.status_code == status, reply.text[:300]
    assert reply.headers.get("Cache-Control") == "no-store", reply.headers
    assert reply.headers.get("X-Content-Type-Options") == "nosniff", reply.headers


def test_an_oversized_head_answer_is_not_stored_or_sniffed(dev):
    with socket.create_connection(("127.0.0.1", dev.port), timeout=20) as sock:
        sock.sendall(f"GET /timesheets HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: {'a' * 100_000}\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            piece = sock.recv(65536)
            if not piece:
                break
            data += piece
    head = data.partition(b"\r\n\r\n")[0].decode(errors="replace").lower()
    assert head.startswith("http/1.1 431"), head
    assert "cache-control: no-store" in head and "x-content-type-options: nosniff" in head, head


@pytest.mark.parametrize("path,cache_control", [("/", "no-cache"), ("/app/app.js", "public, max-age=300"),
                                                ("/app/app.css", "public, max-age=300")])
def test_web_client_assets_keep_their_caching_and_are_not_sniffed(dev, path, cache_control):
    reply = dev.api.call("GET", path)
    assert reply.status_code == 200, reply.text[:300]
    assert reply.headers.get("Cache-Control") == cache_control, reply.headers
    assert reply.headers.get("X-Content-Type-Options") == "nosniff", reply.headers
