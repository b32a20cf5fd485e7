"""Safe retries and who wrote what (issue #17): `Idempotency-Key` on the creating routes, replayed by every replica
of the service because the keys live in PostgreSQL; `created_by` on every entry; and each entry's history.

Two `timesheets serve` processes share one database (as two replicas behind a load balancer would): duplicates of
one key sent to both at once must store one entry, and the rows are counted in the database afterwards."""
import concurrent.futures
import json
import uuid

import pytest

import stack

ENTRY = {"date": "2013-02-04", "project": "Retry", "hours": 2}


@pytest.fixture(scope="module")
def replicas():
    postgres = stack.Postgres()
    stack.migrate(postgres.url)
    identity = stack.IdentityProvider()
    servers = []
    try:
        servers = [stack.Serve(postgres.url, identity), stack.Serve(postgres.url, identity)]
        yield postgres, identity, servers
    finally:
        for server in servers:
            server.stop()
        identity.close()
        postgres.destroy()


def post(server, path, token, body, key, raw=None):
    headers = {"Idempotency-Key": key} if key is not None else {}
    if raw is not None:
        headers["Content-Type"] = "application/json"
        return server.api.call("POST", path, token, data=raw, headers=headers)
    return server.api.call("POST", path, token, json_body=body, headers=headers)


def count(postgres, where):
    return int(postgres.sql(f"SELECT count(*) FROM timesheets WHERE {where}").strip())


def test_a_replay_on_the_other_replica_returns_the_first_answer(replicas):
    postgres, identity, (first, second) = replicas
    token = identity.signer.token("employee")
    key = str(uuid.uuid4())
    body = dict(ENTRY, date="2013-02-05")
    created = post(first, "/timesheets", token, body, key)
    assert created.status_code == 201, created.text
    assert "Idempotent-Replayed" not in created.headers
    assert created.json()["created_by"] == "auth0|dev-employee"
    for server in (second, first, second):
        again = post(server, "/timesheets", token, body, key)
        assert again.status_code == 201
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.headers["Location"] == created.headers["Location"]
        assert again.content == created.content
    assert count(postgres, "project = 'Retry' AND work_date = '2013-02-05'") == 1


def test_the_same_key_with_another_body_is_422_and_changes_nothing(replicas):
    postgres, identity, (first, second) = replicas
    token = identity.signer.token("employee")
    key = str(uuid.uuid4())
    assert post(first, "/timesheets", token, dict(ENTRY, date="2013-02-06"), key).status_code == 201
    before = postgres.sql("SELECT string_agg(t::text, E'\\n' ORDER BY id) FROM timesheets t")
    for server, body in ((second, dict(ENTRY, date="2013-02-06", hours=3)), (first, dict(ENTRY, date="2013-02-07"))):
        reply = post(server, "/timesheets", token, body, key)
        assert reply.status_code == 422, reply.text
        assert reply.headers["Content-Type"] == "application/problem+json"
        assert reply.json()["code"] == "idempotency_key_reused"
    # A byte-different spelling of the same JSON is another body too: the key compares the body's SHA-256.
    spaced = json.dumps(dict(ENTRY, date="2013-02-06"), indent=1)
    assert post(second, "/timesheets", token, None, key, raw=spaced).status_code == 422
    assert postgres.sql("SELECT string_agg(t::text, E'\\n' ORDER BY id) FROM timesheets t") == before


def test_malformed_keys_are_400(replicas):
    postgres, identity, (first, _) = replicas
    token = identity.signer.token("employee")
    before = count(postgres, "true")
    # (A control byte such as DEL never reaches the route: the HTTP parser refuses any head holding one.)
    for key in ["", "x" * 256, "\"unterminated", "\"a\\b\"", "caf\u00e9"]:
        reply = post(first, "/timesheets", token, dict(ENTRY, date="2013-02-08"), key)
        assert reply.status_code == 400, (key[:10], reply.text)
        assert reply.json()["code"] == "invalid_idempotency_key"
    assert count(postgres, "true") == before


@pytest.mark.parametrize("path,role,month,size", [("/timesheets", "employee", 3, 1), ("/timesheets/upload", "machine", 4, 20)])
def test_concurrent_duplicates_across_two_replicas_write_once(replicas, path, role, month, size):
    postgres, identity, servers = replicas
    token = identity.signer.token(role)
    for round_number in range(5):
        day = f"2013-{month:02d}-{10 + round_number}"
        if size == 1:
            body = dict(ENTRY, date=day)
        else:
            body = [dict(ENTRY, date=day, user_id=f"auth0|dup-{n}") for n in range(size)]
        key = f"dup-{uuid.uuid4()}"
        # 24 requests under one key, alternating between the two replicas, all at once.
        with concurrent.futures.ThreadPoolExecutor(max_workers=24) as pool:
            replies = list(pool.map(lambda n: post(servers[n % 2], path, token, body, key), range(24)))
        assert all(reply.status_code == 201 for reply in replies), [(r.status_code, r.text[:200]) for r in replies]
        assert len({reply.content for reply in replies}) == 1, "every duplicate gets the one answer"
        assert sum(1 for reply in replies if reply.headers.get("Idempotent-Replayed") == "true") == 23
        assert count(postgres, f"work_date = '{day}'") == size, "one write per key"
        assert int(postgres.sql(f"SELECT count(*) FROM timesheet_events e JOIN timesheets t ON t.id = e.entry_id "
                                f"WHERE t.work_date = '{day}'")) == size, "one created event per entry"


def test_a_batch_upload_records_the_machine_client_as_creator(replicas):
    postgres, identity, (first, second) = replicas
    token = identity.signer.token("machine")
    items = [dict(ENTRY, date="2013-05-06", user_id="auth0|dev-employee"),
             dict(ENTRY, date="2013-05-06", user_id="auth0|dev-contractor")]
    reply = post(first, "/timesheets/upload", token, items, None)
    assert reply.status_code == 201, reply.text
    ids = [item["id"] for item in reply.json()["items"]]
    assert [item["created_by"] for item in reply.json()["items"]] == ["timesheets-batch@clients"] * 2
    stored = postgres.sql(f"SELECT user_id || '/' || created_by FROM timesheets WHERE id IN ({ids[0]}, {ids[1]}) ORDER BY id")
    assert stored.split() == ["auth0|dev-employee/timesheets-batch@clients", "auth0|dev-contractor/timesheets-batch@clients"]
    # The owner sees the upload in the entry's history, by the machine client.
    history = second.api.call("GET", f"/timesheets/{ids[0]}/history", identity.signer.token("employee"))
    assert history.status_code == 200
    assert [(item["action"], item["actor"]) for item in history.json()["items"]] == [("created", "timesheets-batch@clients")]
    events = postgres.sql(f"SELECT count(*) FROM timesheet_events WHERE entry_id IN ({ids[0]}, {ids[1]}) AND action = 'created'")
    assert int(events) == 2


def test_history_follows_every_change_and_stays_with_the_owner_and_reviewers(replicas):
    postgres, identity, (first, second) = replicas
    employee, contractor, manager = (identity.signer.token(role) for role in ("employee", "contractor", "manager"))
    entry = post(first, "/timesheets", employee, dict(ENTRY, date="2013-06-03"), None).json()
    assert first.api.call("PATCH", f"/timesheets/{entry['id']}", employee, json_body={"project": "Renamed"}).status_code == 200
    assert second.api.call("POST", f"/approvals/{entry['id']}/reject", manager, json_body={"reason": "Wrong week"}).status_code == 200
    other = post(first, "/timesheets", employee, dict(ENTRY, date="2013-06-04"), None).json()
    assert first.api.call("DELETE", f"/timesheets/{other['id']}", employee).status_code == 204
    for token in (employee, manager):
        items = second.api.call("GET", f"/timesheets/{entry['id']}/history", token).json()["items"]
        assert [(i["action"], i["actor"]) for i in items] == [
            ("created", "auth0|dev-employee"), ("updated", "auth0|dev-employee"), ("rejected", "auth0|dev-manager")]
        assert items[1]["before"] == {"project": "Retry"} and items[1]["after"] == {"project": "Renamed"}
        assert items[2]["reason"] == "Wrong week"
        deleted = first.api.call("GET", f"/timesheets/{other['id']}/history", token)
        assert [i["action"] for i in deleted.json()["items"]] == ["created", "deleted"]
    for entry_id in (entry["id"], other["id"], 987654321):
        reply = first.api.call("GET", f"/timesheets/{entry_id}/history", contractor)
        assert reply.status_code == 404 and reply.json()["code"] == "not_found"
