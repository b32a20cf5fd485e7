"""The role matrix for every route, and that nobody reads or changes another user's entries, including through
filters, pagination cursors and the batch route."""
import pytest

ROLES = ["anonymous", "employee", "contractor", "manager", "machine"]
ENTRY = {"date": "2015-03-02", "project": "Matrix", "hours": 1}

# route -> the permission it needs (None: any valid token, "public": no token)
ROUTES = {
    ("GET", "/health/live"): "public", ("GET", "/health/ready"): "public", ("GET", "/metrics"): "public",
    ("GET", "/openapi.json"): "public", ("GET", "/me"): None,
    ("GET", "/timesheets"): "read:timesheets", ("POST", "/timesheets"): "create:timesheets",
    ("GET", "/timesheets/summary"): "read:timesheets", ("GET", "/timesheets/{own}"): "read:timesheets",
    ("GET", "/timesheets/{own}/history"): "read:timesheets",
    ("PUT", "/timesheets/{own}"): "update:timesheets", ("PATCH", "/timesheets/{own}"): "update:timesheets",
    ("DELETE", "/timesheets/{own}"): "delete:timesheets", ("POST", "/timesheets/upload"): "batch:upload",
    ("GET", "/approvals"): "approve:timesheets", ("PUT", "/approvals/{other}"): "approve:timesheets",
    ("POST", "/approvals/{other}/reject"): "approve:timesheets",
    ("GET", "/reports/hours?from=2015-03-01&to=2015-03-31"): "read:reports",
}
GRANTS = {
    "anonymous": set(),
    "employee": {"read:timesheets", "create:timesheets", "update:timesheets", "delete:timesheets"},
    "contractor": {"read:timesheets", "create:timesheets", "update:timesheets", "delete:timesheets"},
    "manager": {"read:timesheets", "create:timesheets", "update:timesheets", "delete:timesheets", "approve:timesheets",
                "read:reports"},
    "machine": {"batch:upload"},
}
SUCCESS = {"POST": 201, "DELETE": 204}


def body_for(method, path):
    if path == "/timesheets/upload":
        return [dict(ENTRY, user_id="auth0|batch-target")]
    if method in ("POST", "PUT") and path.startswith("/timesheets"):
        return ENTRY
    if method == "PATCH":
        return {"hours": 2}
    if path.endswith("/reject"):
        return {"reason": "matrix"}
    return None


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("method,path", list(ROUTES), ids=[f"{m} {p}" for m, p in ROUTES])
def test_role_matrix(dev, tokens, role, method, path):
    needs = ROUTES[(method, path)]
    token = tokens.get(role)
    owner = role if role in ("employee", "contractor", "manager") else "employee"
    own = dev.api.call("POST", "/timesheets", tokens[owner], json_body=ENTRY).json()["id"]
    # An entry of someone else for the approval routes (nobody reviews their own).
    reviewed_owner = "contractor" if role == "manager" else "employee"
    other = dev.api.call("POST", "/timesheets", tokens[reviewed_owner], json_body=ENTRY).json()["id"]
    before = dev.snapshot()
    reply = dev.api.call(method, path.replace("{own}", str(own)).replace("{other}", str(other)), token,
                         json_body=body_for(method, path))
    if needs == "public":
        assert reply.status_code in (200,), reply.text[:300]
    elif role == "anonymous":
        assert reply.status_code == 401 and reply.headers["www-authenticate"].startswith("Bearer")
        assert dev.snapshot() == before
    elif needs is not None and needs not in GRANTS[role]:
        assert reply.status_code == 403, reply.text[:300]
        assert reply.json()["code"] == "insufficient_scope"
        assert f'scope="{needs}"' in reply.headers["www-authenticate"]
        assert dev.snapshot() == before, "a refused request changed the database"
    else:
        expected = 200 if path.startswith("/approvals") else SUCCESS.get(method, 200)
        assert reply.status_code == expected, reply.text[:300]
    for entry_id, entry_owner in ((own, owner), (other, reviewed_owner)):
        dev.api.call("DELETE", f"/timesheets/{entry_id}", tokens[entry_owner])


@pytest.fixture(scope="module")
def victims(dev, tokens):
    """Three entries of the employee, one approved; the contractor must never reach them."""
    ids = []
    for day in ("2014-06-02", "2014-06-03", "2014-06-04"):
        reply = dev.api.call("POST", "/timesheets", tokens["employee"], json_body={"date": day, "project": "Secret", "hours": 3})
        assert reply.status_code == 201
        ids.append(reply.json()["id"])
    assert dev.api.call("PUT", f"/approvals/{ids[2]}", tokens["manager"]).status_code == 200
    return ids


@pytest.mark.parametrize("method,template,body", [
    ("GET", "/timesheets/{id}", None), ("PUT", "/timesheets/{id}", ENTRY), ("PATCH", "/timesheets/{id}", {"hours": 9}),
    ("DELETE", "/timesheets/{id}", None), ("GET", "/timesheets/{id}/history", None),
])
@pytest.mark.parametrize("index", [0, 1, 2])
def test_another_users_entry_is_not_found(dev, tokens, victims, method, template, body, index):
    before = dev.snapshot()
    reply = dev.api.call(method, template.format(id=victims[index]), tokens["contractor"], json_body=body)
    assert reply.status_code == 404 and reply.json()["code"] == "not_found", reply.text
    assert dev.snapshot() == before


@pytest.mark.parametrize("query", [
    "", "?project=Secret", "?from=2014-06-01&to=2014-06-30", "?status=approved", "?status=pending", "?limit=500",
    "?project=Secret&user_id=auth0%7Cdev-employee",
])
def test_filters_show_only_the_callers_entries(dev, tokens, victims, query):
    reply = dev.api.call("GET", "/timesheets" + query, tokens["contractor"])
    if "user_id" in query:
        # An unknown filter is either refused or ignored; it never widens the result to another user.
        assert reply.status_code in (200, 400)
        if reply.status_code == 400:
            return
    assert reply.status_code == 200
    items = reply.json()["items"]
    assert all(item["user_id"] == "auth0|dev-contractor" for item in items)
    assert not set(victims) & {item["id"] for item in items}


def test_summary_counts_only_the_callers_hours(dev, tokens, victims):
    reply = dev.api.call("GET", "/timesheets/summary?from=2014-06-01&to=2014-06-30", tokens["contractor"])
    assert reply.status_code == 200 and reply.json()["weeks"] == []
    mine = dev.api.call("GET", "/timesheets/summary?from=2014-06-01&to=2014-06-30", tokens["employee"]).json()
    assert sum(week["hours"] for week in mine["weeks"]) == 9


def test_a_cursor_from_another_users_list_shows_only_the_callers_entries(dev, tokens, victims):
    page = dev.api.call("GET", "/timesheets?limit=1&project=Secret", tokens["employee"]).json()
    cursor = page["next_cursor"]
    assert cursor, "the employee has more than one Secret entry, so there is a next page"
    reply = dev.api.call("GET", f"/timesheets?limit=500&cursor={cursor}", tokens["contractor"])
    assert reply.status_code in (200, 400)
    if reply.status_code == 200:
        assert all(item["user_id"] == "auth0|dev-contractor" for item in reply.json()["items"])
    # An approvals cursor is no list cursor, and the other way round.
    approvals_page = dev.api.call("GET", "/approvals?limit=1", tokens["manager"]).json()
    assert approvals_page["next_cursor"], "the employee's pending Secret entries fill more than one page of 1"
    crossed = dev.api.call("GET", f"/timesheets?cursor={approvals_page['next_cursor']}", tokens["contractor"])
    assert crossed.status_code == 400


def test_the_batch_route_cannot_be_used_by_people_and_cannot_change_existing_entries(dev, tokens, victims):
    before = dev.snapshot()
    for role in ("employee", "contractor", "manager"):
        reply = dev.api.call("POST", "/timesheets/upload", tokens[role], json_body=[dict(ENTRY, user_id="auth0|dev-employee")])
        assert reply.status_code == 403
    # The machine may only add entries: an id or status in an item is refused, nothing is overwritten.
    for extra in ({"id": victims[0]}, {"status": "approved"}, {"approved": True}, {"reviewed_by": "x"}):
        reply = dev.api.call("POST", "/timesheets/upload", tokens["machine"], json_body=[dict(ENTRY, user_id="auth0|dev-employee", **extra)])
        assert reply.status_code == 400, reply.text
    assert dev.snapshot() == before


@pytest.mark.parametrize("items", [
    {"user_id": "auth0|dev-employee", "date": "2013-09-17", "project": "Probe", "hours": 5},
    [{"user_id": "auth0|dev-employee", "date": "2013-09-17", "project": "Probe", "hours": 2.5},
     {"user_id": "auth0|dev-employee", "date": "2013-09-17", "project": "Probe", "hours": 2.5}],
], ids=["one entry", "an array"])
def test_a_batch_refused_by_the_daily_cap_does_not_disclose_another_users_hours(dev, tokens, items):
    for hours in (10.5, 9.25):
        reply = dev.api.call("POST", "/timesheets", tokens["employee"],
                             json_body={"date": "2013-09-17", "project": "Private", "hours": hours})
        assert reply.status_code in (201, 409), reply.text
    recorded = sum(item["hours"] for item in dev.api.call(
        "GET", "/timesheets?from=2013-09-17&to=2013-09-17&limit=500", tokens["employee"]).json()["items"])
    assert recorded == 19.75, recorded
    before = dev.snapshot()
    reply = dev.api.call("POST", "/timesheets/upload", tokens["machine"], json_body=items)
    assert reply.status_code == 409 and reply.json()["code"] == "daily_limit_exceeded", reply.text
    for figure in ("19.75", "10.5", "9.25", "4.25"):
        assert figure not in reply.text, f"the refusal discloses the employee's hours ({figure}): {reply.text}"
    assert "auth0|dev-employee" in reply.json()["detail"] and "2013-09-17" in reply.json()["detail"]
    assert dev.snapshot() == before


def test_nobody_reviews_their_own_entries_and_people_cannot_approve(dev, tokens):
    own = dev.api.call("POST", "/timesheets", tokens["manager"], json_body=ENTRY).json()["id"]
    before = dev.snapshot()
    assert dev.api.call("PUT", f"/approvals/{own}", tokens["manager"]).status_code in (403, 409)
    assert dev.api.call("POST", f"/approvals/{own}/reject", tokens["manager"]).status_code in (403, 409)
    for role in ("employee", "contractor", "machine"):
        assert dev.api.call("PUT", f"/approvals/{own}", tokens[role]).status_code == 403
    assert dev.snapshot() == before
    dev.api.call("DELETE", f"/timesheets/{own}", tokens["manager"])


def test_the_approvals_queue_shows_no_approved_or_rejected_entries(dev, tokens, victims):
    seen = set()
    cursor = None
    pages = 0
    while True:
        pages += 1
        # Pages of 2, so the walk goes through cursors whatever else the queue holds.
        reply = dev.api.call("GET", "/approvals?limit=2" + (f"&cursor={cursor}" if cursor else ""), tokens["manager"]).json()
        for item in reply["items"]:
            assert item["status"] == "pending"
            seen.add(item["id"])
        cursor = reply["next_cursor"]
        if not cursor:
            break
    assert victims[0] in seen and victims[2] not in seen
    assert pages > 1, "the queue fitted one page, so no cursor was followed"


def test_another_users_history_is_not_found_even_after_deletion_but_reviewers_see_it(dev, tokens):
    """History is the entry's owner's and the reviewers' (approve:timesheets): anyone else gets the 404 the entry
    itself gives, for a live entry and for a deleted one, and learns nothing from the difference."""
    entry = dev.api.call("POST", "/timesheets", tokens["employee"],
                         json_body={"date": "2014-07-01", "project": "Private", "hours": 2}).json()
    gone = dev.api.call("POST", "/timesheets", tokens["employee"],
                        json_body={"date": "2014-07-02", "project": "Private", "hours": 2}).json()
    assert dev.api.call("DELETE", f"/timesheets/{gone['id']}", tokens["employee"]).status_code == 204
    never = dev.api.call("GET", "/timesheets/987654321/history", tokens["contractor"])
    for entry_id in (entry["id"], gone["id"]):
        reply = dev.api.call("GET", f"/timesheets/{entry_id}/history", tokens["contractor"])
        assert reply.status_code == 404 and reply.json()["code"] == "not_found"
        assert reply.json()["detail"].replace(str(entry_id), "N") == never.json()["detail"].replace("987654321", "N")
        for role in ("employee", "manager"):
            assert dev.api.call("GET", f"/timesheets/{entry_id}/history", tokens[role]).status_code == 200
    machine = dev.api.call("GET", f"/timesheets/{entry['id']}/history", tokens["machine"])
    assert machine.status_code == 403 and 'scope="read:timesheets"' in machine.headers["www-authenticate"]
