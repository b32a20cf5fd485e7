"""Hostile requests: each gets its exact status and a problem body with a code and a detail, and changes nothing."""
import json
import socket

import pytest

import stack

ENTRY = {"date": "2017-05-10", "project": "Hardening", "hours": 5}


@pytest.fixture(scope="module")
def entry_id(dev, tokens):
    reply = dev.api.call("POST", "/timesheets", tokens["employee"], json_body=ENTRY)
    assert reply.status_code == 201, reply.text
    return reply.json()["id"]


def raw_json(text):
    return text.encode() if isinstance(text, str) else text


DEEP = "[" * 5000 + "]" * 5000
DEEP_OBJECT = '{"notes":' * 40 + '"x"' + "}" * 40
BIG_NUMBER = "1" + "0" * 400
ID_CASES = ["-1", "0", "abc", "1.5", "+1", "0x10", "1e3", "9223372036854775808", "99999999999999999999999999",
            "..%2F..%2Fetc%2Fpasswd", "%2e%2e", "1%00", "1;DROP TABLE timesheets", "%27%20OR%201=1--"]

# name, method, path, role, content type, body, status, code
CASES = [
    ("duplicate JSON key", "POST", "/timesheets", "employee", "application/json",
     '{"date":"2017-05-10","project":"A","hours":5,"hours":6}', 400, "duplicate_key"),
    ("duplicate key spelled with an escape", "POST", "/timesheets", "employee", "application/json",
     '{"date":"2017-05-10","project":"A","hours":5,"hour\\u0073":6}', 400, "duplicate_key"),
    ("duplicate form field", "POST", "/timesheets", "employee", "application/x-www-form-urlencoded",
     "date=2017-05-10&project=A&hours=5&hours=6", 400, "duplicate_key"),
    ("duplicate key in a batch item", "POST", "/timesheets/upload", "machine", "application/json",
     '[{"user_id":"u1","user_id":"u2","date":"2017-05-10","project":"A","hours":5}]', 400, "duplicate_key"),
    ("duplicate key in a PATCH", "PATCH", "/timesheets/{id}", "employee", "application/json",
     '{"hours":1,"hours":2}', 400, "duplicate_key"),
    ("duplicate reason", "POST", "/approvals/{id}/reject", "manager", "application/json",
     '{"reason":"a","reason":"b"}', 400, "duplicate_key"),
    ("NaN", "POST", "/timesheets", "employee", "application/json", '{"date":"2017-05-10","project":"A","hours":NaN}', 400, "malformed_json"),
    ("Infinity", "POST", "/timesheets", "employee", "application/json", '{"date":"2017-05-10","project":"A","hours":Infinity}', 400, "malformed_json"),
    ("-Infinity", "POST", "/timesheets", "employee", "application/json", '{"date":"2017-05-10","project":"A","hours":-Infinity}', 400, "malformed_json"),
    ("NaN as a string", "POST", "/timesheets", "employee", "application/json", '{"date":"2017-05-10","project":"A","hours":"NaN"}', 400, "validation_failed"),
    ("Infinity as a string", "POST", "/timesheets", "employee", "application/json", '{"date":"2017-05-10","project":"A","hours":"Infinity"}', 400, "validation_failed"),
    ("1e400", "POST", "/timesheets", "employee", "application/json", '{"date":"2017-05-10","project":"A","hours":1e400}', 400, "validation_failed"),
    ("400-digit integer", "POST", "/timesheets", "employee", "application/json", '{"date":"2017-05-10","project":"A","hours":%s}' % BIG_NUMBER, 400, "validation_failed"),
    ("tiny 1e-400", "POST", "/timesheets", "employee", "application/json", '{"date":"2017-05-10","project":"A","hours":1e-400}', 400, "validation_failed"),
    ("hours as a form NaN", "POST", "/timesheets", "employee", "application/x-www-form-urlencoded", "date=2017-05-10&project=A&hours=NaN", 400, "validation_failed"),
    ("invalid UTF-8 in JSON", "POST", "/timesheets", "employee", "application/json", b'{"date":"2017-05-10","project":"A\xff\xfe","hours":1}', 400, "malformed_json"),
    ("overlong UTF-8 in JSON", "POST", "/timesheets", "employee", "application/json", b'{"date":"2017-05-10","project":"\xc0\xaf","hours":1}', 400, "malformed_json"),
    ("UTF-16 surrogate bytes", "POST", "/timesheets", "employee", "application/json", b'{"date":"2017-05-10","project":"\xed\xa0\x80","hours":1}', 400, "malformed_json"),
    ("invalid UTF-8 in a form", "POST", "/timesheets", "employee", "application/x-www-form-urlencoded", b"date=2017-05-10&project=A\xff&hours=1", 400, "malformed_form"),
    ("percent-encoded invalid UTF-8", "POST", "/timesheets", "employee", "application/x-www-form-urlencoded", "date=2017-05-10&project=A%FF&hours=1", 400, "malformed_form"),
    ("invalid UTF-8 in a reason", "POST", "/approvals/{id}/reject", "manager", "application/json", b'{"reason":"\xff"}', 400, "malformed_json"),
    ("deeply nested arrays", "POST", "/timesheets/upload", "machine", "application/json", DEEP, 400, "malformed_json"),
    ("deeply nested objects", "POST", "/timesheets", "employee", "application/json", DEEP_OBJECT, 400, "malformed_json"),
    ("truncated JSON", "POST", "/timesheets", "employee", "application/json", '{"date":"2017-05-10","project":"A"', 400, "malformed_json"),
    ("JSON array for one entry", "POST", "/timesheets", "employee", "application/json", "[1,2]", 400, "invalid_body"),
    ("JSON null", "POST", "/timesheets", "employee", "application/json", "null", 400, "invalid_body"),
    ("empty body", "POST", "/timesheets", "employee", "application/json", "", 400, "malformed_json"),
    ("NUL in project", "POST", "/timesheets", "employee", "application/json", '{"date":"2017-05-10","project":"A\\u0000","hours":1}', 400, "validation_failed"),
    ("NUL in notes", "POST", "/timesheets", "employee", "application/json", '{"date":"2017-05-10","project":"A","hours":1,"notes":"\\u0000"}', 400, "validation_failed"),
    ("unknown field", "POST", "/timesheets", "employee", "application/json", '{"date":"2017-05-10","project":"A","hours":1,"status":"approved"}', 400, "validation_failed"),
    ("owner in a create", "POST", "/timesheets", "employee", "application/json", '{"date":"2017-05-10","project":"A","hours":1,"user_id":"auth0|dev-contractor"}', 400, "validation_failed"),
    ("project of 201 characters", "POST", "/timesheets", "employee", "application/json", json.dumps({"date": "2017-05-10", "project": "x" * 201, "hours": 1}), 400, "validation_failed"),
    ("date before year 1", "POST", "/timesheets", "employee", "application/json", '{"date":"0000-12-31","project":"A","hours":1}', 400, "validation_failed"),
    ("date without zone", "POST", "/timesheets", "employee", "application/json", '{"date":"2017-05-10T10:00:00","project":"A","hours":1}', 400, "validation_failed"),
    ("body over 1 MiB with a length", "POST", "/timesheets", "employee", "application/json", b"x" * ((1 << 20) + 1), 413, "body_too_large"),
    ("another content type", "POST", "/timesheets", "employee", "text/xml", "<entry/>", 415, "unsupported_media_type"),
    ("multipart", "POST", "/timesheets", "employee", "multipart/form-data; boundary=x", "--x--", 415, "unsupported_media_type"),
    ("batch of 10 MiB + 1", "POST", "/timesheets/upload", "machine", "application/json", b" " * ((10 << 20) + 1), 413, "body_too_large"),
    ("script in a reason that is too long", "POST", "/approvals/{id}/reject", "manager", "application/json",
     json.dumps({"reason": "<script>" * 500}), 400, "validation_failed"),
    ("batch of 50,000 empty objects", "POST", "/timesheets/upload", "machine", "application/json",
     "[" + ",".join(["{}"] * 50_000) + "]", 413, "too_many_entries"),
    ("batch of 10,001 valid entries", "POST", "/timesheets/upload", "machine", "application/json",
     json.dumps([{"user_id": f"u{i}", "date": "2011-01-03", "project": "Many", "hours": 1} for i in range(10_001)]),
     413, "too_many_entries"),
    ("batch of 2,000,000 numbers", "POST", "/timesheets/upload", "machine", "application/json",
     "[" + ",".join(["1"] * 2_000_000) + "]", 413, "too_many_entries"),
    ("batch of 10,000 empty objects", "POST", "/timesheets/upload", "machine", "application/json",
     "[" + ",".join(["{}"] * 10_000) + "]", 400, "validation_failed"),
]


def check_problem(reply, status, code):
    assert reply.status_code == status, reply.text[:500]
    assert reply.headers.get("content-type", "").startswith("application/problem+json"), reply.headers
    problem = reply.json()
    assert problem["status"] == status and problem["code"] == code, problem
    assert problem["detail"] and problem["title"] and problem["type"].startswith("https://"), problem


@pytest.mark.parametrize("name,method,path,role,content_type,body,status,code", CASES, ids=[case[0] for case in CASES])
def test_hostile_body(dev, tokens, entry_id, name, method, path, role, content_type, body, status, code):
    before = dev.snapshot()
    reply = dev.api.call(method, path.replace("{id}", str(entry_id)), tokens[role], data=raw_json(body),
                         headers={"Content-Type": content_type})
    check_problem(reply, status, code)
    assert dev.snapshot() == before, "a refused request changed the database"


def chunks(total, size=64 * 1024):
    sent = 0
    while sent < total:
        piece = min(size, total - sent)
        sent += piece
        yield b" " * piece


@pytest.mark.parametrize("path,role,limit", [("/timesheets", "employee", 1 << 20), ("/timesheets/upload", "machine", 10 << 20)])
def test_chunked_body_over_the_limit_is_413_while_streaming(dev, tokens, path, role, limit):
    before = dev.snapshot()
    # A generator makes requests send Transfer-Encoding: chunked without Content-Length.
    reply = dev.api.session.post(dev.base + path, data=chunks(limit + 1), timeout=60,
                                 headers={"Authorization": f"Bearer {tokens[role]}", "Content-Type": "application/json"})
    assert "content-length" not in reply.request.headers and reply.request.headers.get("transfer-encoding") == "chunked"
    check_problem(reply, 413, "body_too_large")
    assert dev.snapshot() == before


@pytest.mark.parametrize("raw_id", ID_CASES)
@pytest.mark.parametrize("method,prefix,suffix,role", [
    ("GET", "/timesheets/", "", "employee"), ("PATCH", "/timesheets/", "", "employee"),
    ("DELETE", "/timesheets/", "", "employee"), ("PUT", "/approvals/", "", "manager"),
    ("POST", "/approvals/", "/reject", "manager"),
])
def test_ids_that_name_no_entry_are_404(dev, tokens, method, prefix, suffix, role, raw_id):
    before = dev.snapshot()
    body = json.dumps({"hours": 1}) if method == "PATCH" else None
    reply = dev.api.call(method, prefix + raw_id + suffix, tokens[role], data=body,
                         headers={"Content-Type": "application/json"} if body else None)
    # `..%2F..` may be normalised by a proxy into another route; here the server must not resolve it at all.
    check_problem(reply, 404, "not_found")
    assert dev.snapshot() == before


def raw_request(dev, request_bytes, read_limit=65536):
    with socket.create_connection(("127.0.0.1", dev.port), timeout=20) as sock:
        sock.sendall(request_bytes)
        data = b""
        while b"\r\n\r\n" not in data or len(data) < read_limit:
            piece = sock.recv(65536)
            if not piece:
                break
            data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    return status, head.decode(errors="replace"), body


HEADS = [
    ("one 100 KB header", "X-Padding: " + "a" * 100_000),
    ("a 100 KB URL", None),
    ("2,000 small headers", "\r\n".join(f"X-H{i}: v" for i in range(2000))),
    ("a 100 KB token", "Authorization: Bearer " + "a" * 100_000),
    ("a 100 KB cookie", "Cookie: c=" + "a" * 100_000),
]


@pytest.mark.parametrize("name,header", HEADS, ids=[name for name, _ in HEADS])
def test_oversized_heads_are_431_with_a_problem_body(dev, tokens, name, header):
    before = dev.snapshot()
    path = "/timesheets?project=" + "a" * 100_000 if header is None else "/timesheets"
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{dev.port}", f"Authorization: Bearer {tokens['employee']}"]
    if header and not header.startswith("Authorization"):
        lines.append(header)
    elif header:
        lines[2] = header
    status, head, body = raw_request(dev, ("\r\n".join(lines) + "\r\n\r\n").encode())
    assert status == 431, head
    assert "application/problem+json" in head.lower()
    assert json.loads(body)["code"] == "headers_too_large"
    assert dev.api.call("GET", "/health/live").status_code == 200, "the server still answers"
    assert dev.snapshot() == before


@pytest.mark.parametrize("query,field", [
    ("limit=99999999999999999999999", "limit"), ("limit=-1", "limit"), ("limit=NaN", "limit"), ("limit=1e3", "limit"),
    ("cursor=%00", "cursor"), ("cursor=" + "A" * 3000, "cursor"), ("cursor=eyJpZCI6MX0", "cursor"),
    ("cursor=../../etc/passwd", "cursor"), ("from=2017-02-30", "from"), ("from=99999-01-01", "from"),
    ("to=%27%20OR%201%3D1--", "to"), ("status=approved%27--", "status"), ("project=a%00b", "project"),
    ("project=" + "x" * 201, "project"),
])
def test_hostile_query_parameters_are_400(dev, tokens, query, field):
    reply = dev.api.call("GET", "/timesheets?" + query, tokens["employee"])
    check_problem(reply, 400, "validation_failed")
    assert field in [error["field"] for error in reply.json()["errors"]]


PAYLOADS = [
    "'; DROP TABLE timesheets; --",
    "Robert'); DELETE FROM timesheets WHERE ('1'='1",
    "1 OR 1=1",
    "<script>alert(document.cookie)</script>",
    "<img src=x onerror=alert(1)>",
    '"quoted" \\ back\\slash </script>',
    "{{7*7}} ${7*7} %s %n",
    "\u202eRTL override \U0001F600 emoji",
]


@pytest.mark.parametrize("payload", PAYLOADS, ids=[f"payload{i}" for i in range(len(PAYLOADS))])
def test_sql_and_script_payloads_are_stored_verbatim_and_returned_escaped(dev, tokens, payload):
    owner = tokens["contractor"]
    reply = dev.api.call("POST", "/timesheets", owner, json_body={"date": "2016-01-04", "project": payload[:200], "hours": 0.25, "notes": payload})
    assert reply.status_code == 201, reply.text
    assert reply.headers["content-type"].startswith("application/json")
    created = reply.json()
    assert created["project"] == payload[:200] and created["notes"] == payload
    # Escaped as JSON: the raw body parses back to the same text, quotes and backslashes never break out.
    assert json.loads(reply.content)["notes"] == payload
    row = dev.sql(f"SELECT notes FROM timesheets WHERE id = {int(created['id'])}")
    assert row.rstrip("\n") == payload, "stored verbatim"
    read = dev.api.call("GET", f"/timesheets/{created['id']}", owner)
    assert read.json()["notes"] == payload
    # The payload as a filter matches only itself.
    listed = dev.api.session.get(dev.base + "/timesheets", params={"project": payload[:200], "limit": 500},
                                 headers={"Authorization": f"Bearer {owner}"})
    assert listed.status_code == 200
    assert {item["id"] for item in listed.json()["items"]} >= {created["id"]}
    assert all(item["project"] == payload[:200] for item in listed.json()["items"])
    assert int(dev.sql("SELECT count(*) FROM timesheets")) > 0, "the table is still there"
    assert dev.api.call("DELETE", f"/timesheets/{created['id']}", owner).status_code == 204


@pytest.mark.parametrize("query", ["project=%FF", "project=%C0%AF", "status=%E2%82", "project=%ED%A0%80"])
def test_query_escapes_that_are_not_utf8_are_400(dev, tokens, query):
    check_problem(dev.api.call("GET", "/timesheets?" + query, tokens["employee"]), 400, "malformed_query")


def test_plus_in_a_query_is_a_space_as_browsers_send_it(dev, tokens):
    owner = tokens["contractor"]
    created = dev.api.call("POST", "/timesheets", owner, json_body={"date": "2016-02-01", "project": "Store Zero", "hours": 1})
    assert created.status_code == 201
    listed = dev.api.call("GET", "/timesheets?project=Store+Zero", owner).json()["items"]
    assert [item["id"] for item in listed] == [created.json()["id"]]
    assert dev.api.call("DELETE", f"/timesheets/{created.json()['id']}", owner).status_code == 204


def unknown_fields(count):
    """`count` distinct short field names (hexadecimal numbers), none of them a real field."""
    return {f"{index:x}": 0 for index in range(count)}


# route, role, body: each breaks one rule 100,000 times (or 40,000: a batch of 10,000 `{}` misses four fields each).
ERROR_FLOODS = [
    ("POST", "/timesheets", "employee", dict(ENTRY, **unknown_fields(100_000)), 100_000),
    ("PUT", "/timesheets/{id}", "employee", dict(ENTRY, **unknown_fields(100_000)), 100_000),
    ("PATCH", "/timesheets/{id}", "employee", dict(unknown_fields(100_000), hours=2), 100_000),
    ("POST", "/approvals/{id}/reject", "manager", unknown_fields(100_000), 100_000),
    ("POST", "/timesheets/upload", "machine", [{}] * 10_000, 40_000),
    ("POST", "/timesheets/upload", "machine", dict(user_id="u", **ENTRY, **unknown_fields(100_000)), 100_000),
]


@pytest.mark.parametrize("method,path,role,body,count", ERROR_FLOODS,
                         ids=[f"{method} {path} {count}" for method, path, _, _, count in ERROR_FLOODS])
def test_error_lists_are_bounded_and_counted(dev, tokens, entry_id, method, path, role, body, count):
    before = dev.snapshot()
    data = json.dumps(body, separators=(",", ":")).encode()
    reply = dev.api.call(method, path.replace("{id}", str(entry_id)), tokens[role], data=data,
                         headers={"Content-Type": "application/json"})
    check_problem(reply, 400, "validation_failed")
    problem = reply.json()
    assert problem.get("error_count") == count, {key: value for key, value in problem.items() if key != "errors"}
    assert len(problem["errors"]) == 100, len(problem["errors"])
    assert all(error["field"] and error["code"] and error["message"] for error in problem["errors"])
    assert str(count) in problem["detail"], problem["detail"]
    assert len(reply.content) < 32 * 1024, f"{len(reply.content)} bytes of errors for a {len(data)}-byte body"
    assert dev.snapshot() == before, "a refused request changed the database"


def test_a_few_errors_are_all_listed_and_counted(dev, tokens):
    reply = dev.api.call("POST", "/timesheets", tokens["employee"], json_body={"hours": 30, "extra": 1})
    check_problem(reply, 400, "validation_failed")
    problem = reply.json()
    assert problem["error_count"] == len(problem["errors"]) == 4, problem
