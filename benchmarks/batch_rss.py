#!/usr/bin/env python3
"""Peak RSS of `timesheets serve` for the worst 10 MiB batch uploads we can build.

Each payload gets a fresh server (VmHWM is a high-water mark for the process's life), its own PostgreSQL cluster and
identity provider on 127.0.0.1 (from tests/hardening/stack.py). Prints one line per payload: body size, status, code,
seconds, and the server's peak RSS after start-up and after the upload. A figure, not a test: it never fails on one.

    swift build && python3 benchmarks/batch_rss.py            # the debug binary; TIMESHEETS_BINARY for another
"""
import json
import os
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "hardening"))
import stack  # noqa: E402

LIMIT = 10 << 20


def maximal_valid_entries():
    """As many entries as fit, each at every field's length limit, for different users (so none hits the 24 h rule)."""
    items, size, index = [], 2, 0
    while True:
        item = {"user_id": f"{index:08d}" + "u" * 247, "date": "2010-06-01", "project": "p" * 200, "hours": 24,
                "notes": "n" * 2000}
        piece = len(json.dumps(item, separators=(",", ":"))) + 1
        if size + piece > LIMIT:
            return items
        items.append(item)
        size += piece
        index += 1


def unknown_field_flood():
    """10,000 items, each with as many distinct unknown fields as fit: about a million field errors."""
    per_item = (LIMIT // 10_000 - 4) // 9
    item = {f"{index:x}": 0 for index in range(per_item)}
    return [item] * 10_000


def payloads():
    entry = {"user_id": "u", "date": "2010-06-01", "project": "p", "hours": 1}
    filler = LIMIT - 200
    yield "maximal valid entries (stored)", maximal_valid_entries()
    yield "10,000 items of unknown fields", unknown_field_flood()
    yield "one 10 MiB string", [dict(entry, notes="a" * filler)]
    yield "one string of 10 MiB of \\u00e9 escapes", '[{"user_id":"u","date":"2010-06-01","project":"p","hours":1,"notes":"' + "\\u00e9" * (filler // 6) + '"}]'
    yield "10 MiB of nested empty arrays in one value", '[{"user_id":"u","date":"2010-06-01","project":"p","hours":1,"notes":[' + ",".join(["[[[]]]"] * (filler // 7)) + "]}]"
    yield "a 10 MiB number", '[{"user_id":"u","date":"2010-06-01","project":"p","hours":' + "1" * filler + "}]"
    yield "10,000 x 1,000-byte strings in unknown fields", [dict(entry, extra="x" * 960) for _ in range(10_000)]


def peak_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def main():
    postgres = stack.Postgres()
    identity = stack.IdentityProvider()
    try:
        stack.migrate(postgres.url)
        token = identity.signer.token("machine")
        print(f"{'payload':<44}{'bytes':>10}{'status':>8}  {'code':<22}{'s':>6}{'peak MiB at start':>19}{'peak MiB after':>16}")
        for name, payload in payloads():
            body = payload.encode() if isinstance(payload, str) else json.dumps(payload, separators=(",", ":")).encode()
            assert len(body) <= LIMIT, (name, len(body))
            postgres.sql("TRUNCATE timesheets")
            server = stack.Serve(postgres.url, identity)
            try:
                before = peak_kib(server.process.pid)
                started = time.monotonic()
                reply = server.api.call("POST", "/timesheets/upload", token, data=body,
                                        headers={"Content-Type": "application/json"}, timeout=300)
                elapsed = time.monotonic() - started
                after = peak_kib(server.process.pid)
                code = reply.json().get("code", "") if reply.headers.get("content-type", "").startswith("application/problem") else ""
                print(f"{name:<44}{len(body):>10}{reply.status_code:>8}  {code:<22}{elapsed:>6.1f}{before / 1024:>19.0f}{after / 1024:>16.0f}",
                      flush=True)
            finally:
                server.stop()
    finally:
        identity.close()
        postgres.destroy()


if __name__ == "__main__":
    main()
