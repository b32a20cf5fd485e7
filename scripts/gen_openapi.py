#!/usr/bin/env python3
"""Writes Sources/TimesheetAPI/Resources/openapi.json, the API description served at /openapi.json.

The document is generated from this one table so routes, scopes and responses stay consistent; a Swift test checks
that every route the router serves is described and every described route is served.
"""
import json
import pathlib

ENTRY = {
    "type": "object",
    "required": ["id", "user_id", "date", "project", "hours", "notes", "status", "approved", "created_at",
                 "updated_at", "reviewed_by", "reviewed_at", "rejection_reason", "created_by"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "user_id": {"type": "string"},
        "date": {"type": "string", "format": "date"},
        "project": {"type": "string", "minLength": 1, "maxLength": 200},
        "hours": {"type": "number", "exclusiveMinimum": 0, "maximum": 24},
        "notes": {"type": ["string", "null"], "maxLength": 2000},
        "status": {"type": "string", "enum": ["pending", "approved", "rejected"]},
        "approved": {"type": "boolean"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "reviewed_by": {"type": ["string", "null"]},
        "reviewed_at": {"type": ["string", "null"], "format": "date-time"},
        "rejection_reason": {"type": ["string", "null"]},
        "created_by": {"type": "string",
                       "description": "Who recorded the entry: the owner, or the machine client (its sub) that uploaded it"},
    },
}

CHANGED_FIELDS = {
    "type": "object", "additionalProperties": False,
    "description": "The fields an edit changed, on one side of it",
    "properties": {
        "date": {"type": "string", "format": "date"},
        "project": {"type": "string"},
        "hours": {"type": "number"},
        "notes": {"type": ["string", "null"]},
    },
}

HISTORY = {
    "type": "object", "required": ["items"], "additionalProperties": False,
    "properties": {"items": {"type": "array", "items": {
        "type": "object", "required": ["action", "actor", "at"], "additionalProperties": False,
        "properties": {
            "action": {"type": "string", "enum": ["created", "updated", "approved", "rejected", "deleted"]},
            "actor": {"type": "string", "description": "The caller who made the change"},
            "at": {"type": "string", "format": "date-time"},
            "before": {**CHANGED_FIELDS, "description": "updated only: the changed fields before the edit"},
            "after": {**CHANGED_FIELDS, "description": "updated only: the changed fields after the edit"},
            "reason": {"type": ["string", "null"], "description": "rejected only: the reviewer's reason"},
        }}}},
}

# IETF httpapi draft "The Idempotency-Key HTTP Header Field". The pattern describes keys that are valid sent bare: a
# quoted Structured Field string ("key") is accepted too, and names the same key as the bare one.
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "A key of the caller's choice (1 to 255 printable ASCII characters, such as a UUID), kept 24 hours. "
                   "A repeat with the same key and the same body gets the first answer again, with "
                   "Idempotent-Replayed: true, and creates nothing; the same key with another body is 422 "
                   "idempotency_key_reused; a malformed key is 400 invalid_idempotency_key.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!#-~]([ -~]*[!-~])?$"},
}
REPLAYED = {"Idempotent-Replayed": {"schema": {"type": "string", "enum": ["true"]},
                                    "description": "Present on a replayed answer to a repeated Idempotency-Key"}}
KEY_REUSED = ("422", "The Idempotency-Key was already used for another request (idempotency_key_reused)")

HOURS = {"oneOf": [{"type": "number", "exclusiveMinimum": 0, "maximum": 24},
                   {"type": "string", "pattern": r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)\s*$"}]}
DATE_INPUT = {"type": "string", "description": "YYYY-MM-DD, or an ISO 8601 date-time with Z or an offset (its UTC day)"}

def entry_input(required, with_user=False):
    properties = {
        "date": DATE_INPUT,
        "project": {"type": "string", "minLength": 1, "maxLength": 200},
        "hours": HOURS,
        "notes": {"type": ["string", "null"], "maxLength": 2000},
    }
    if with_user:
        properties["user_id"] = {"type": "string", "minLength": 1, "maxLength": 255}
    return {"type": "object", "required": required, "additionalProperties": False, "properties": properties}

PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "request_id": {"type": "string"},
        "error_count": {"type": "integer", "minimum": 1,
                        "description": "How many problems the request has; errors lists at most the first 100"},
        "errors": {"type": "array", "maxItems": 100, "items": {
            "type": "object", "required": ["field", "code", "message"],
            "properties": {"field": {"type": "string"}, "code": {"type": "string"}, "message": {"type": "string"}}}},
    },
}

PAGE = {"type": "object", "required": ["items", "next_cursor"], "additionalProperties": False,
        "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Timesheet"}},
                       "next_cursor": {"type": ["string", "null"]}}}

def problem(description, auth=False):
    response = {"description": description,
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    if auth:
        response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "RFC 6750 challenge"}}
    return response

def ok(description, schema, status="200", headers=None):
    response = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return {status: response}

def secured(scope, responses, extra_errors=()):
    result = dict(responses)
    result["400"] = problem("Invalid request: every problem is listed in errors")
    result["401"] = problem("Missing or invalid access token", auth=True)
    result["403"] = problem("The token lacks the needed scope", auth=True)
    for status, text in extra_errors:
        result[status] = problem(text)
    result["503"] = problem("The database is unavailable; retry after Retry-After seconds")
    return result

def body(schema, form=True):
    content = {"application/json": {"schema": schema}}
    if form:
        content["application/x-www-form-urlencoded"] = {"schema": schema}
    return {"required": True, "content": content}

ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"}}
PAGING = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}},
    {"name": "cursor", "in": "query", "schema": {"type": "string"}, "description": "next_cursor of the previous page"},
]
FILTERS = [
    {"name": "from", "in": "query", "schema": {"type": "string", "format": "date"}},
    {"name": "to", "in": "query", "schema": {"type": "string", "format": "date"}},
    {"name": "project", "in": "query", "schema": {"type": "string"}},
    {"name": "status", "in": "query", "schema": {"type": "string", "enum": ["pending", "approved", "rejected"]}},
]
ENTRY_REF = {"$ref": "#/components/schemas/Timesheet"}
GROUP_KEYS = ["user", "project", "week", "day"]
REPORT_PARAMETERS = [
    {"name": "from", "in": "query", "required": True, "schema": {"type": "string", "format": "date"},
     "description": "first day, included"},
    {"name": "to", "in": "query", "required": True, "schema": {"type": "string", "format": "date"},
     "description": "last day, included; at most 366 days after from, counting both"},
    {"name": "group_by", "in": "query", "schema": {"type": "string", "default": "user,project"},
     "description": "comma-separated, each at most once, rows sorted by them in this order: " + ", ".join(GROUP_KEYS)
                    + " (unknown_grouping, duplicate_grouping)"},
    {"name": "status", "in": "query",
     "schema": {"type": "string", "enum": ["approved", "pending", "rejected", "all"], "default": "approved"}},
    {"name": "user_id", "in": "query", "schema": {"type": "string"}, "description": "only this user's entries"},
    {"name": "project", "in": "query", "schema": {"type": "string"}, "description": "only this project's entries"},
    {"name": "Accept", "in": "header", "schema": {"type": "string", "enum": ["application/json", "text/csv"]},
     "description": "application/json (the default) or text/csv; anything naming neither is 406"},
]
REPORT = {
    "type": "object", "required": ["from", "to", "group_by", "status", "rows", "total_hours"],
    "additionalProperties": False,
    "properties": {
        "from": {"type": "string", "format": "date"},
        "to": {"type": "string", "format": "date"},
        "group_by": {"type": "array", "minItems": 1, "items": {"type": "string", "enum": GROUP_KEYS}},
        "status": {"type": "string", "enum": ["approved", "pending", "rejected", "all"]},
        "rows": {"type": "array", "items": {
            "type": "object", "required": ["hours", "entries"], "additionalProperties": False,
            "description": "the group keys asked for, then the exact sum of hours and the number of entries",
            "properties": {
                "user_id": {"type": "string"},
                "project": {"type": "string"},
                "week": {"type": "string", "pattern": "^[0-9]{4}-W[0-9]{2}$", "description": "ISO week, 2019-W23"},
                "day": {"type": "string", "format": "date"},
                "hours": {"type": "number", "exclusiveMinimum": 0},
                "entries": {"type": "integer", "minimum": 1}}}},
        "total_hours": {"type": "number", "minimum": 0},
    },
}
MESSAGE = {"type": "object", "required": ["message"], "additionalProperties": False,
           "properties": {"message": {"type": "string"}}}

def op(operation_id, summary, scope=None, **rest):
    result = {"operationId": operation_id, "summary": summary}
    if scope is not None:
        result["security"] = [{"bearer": [scope] if scope else []}]
        if scope:
            result["x-required-scope"] = scope
    else:
        result["security"] = []
    result.update(rest)
    return result

paths = {
    "/timesheets": {
        "post": op("createTimesheet", "Record an entry owned by the caller", "create:timesheets",
                   parameters=[IDEMPOTENCY_KEY],
                   requestBody=body(entry_input(["date", "project", "hours"], with_user=True)),
                   responses=secured("create:timesheets",
                                     ok("The entry", ENTRY_REF, "201",
                                        {"Location": {"schema": {"type": "string"}}, **REPLAYED}),
                                     [("409", "The day would exceed 24 hours"), ("413", "Body too large"),
                                      ("415", "Unsupported content type"), KEY_REUSED])),
        "get": op("listTimesheets", "The caller's own entries, latest day first", "read:timesheets",
                  parameters=FILTERS + PAGING,
                  responses=secured("read:timesheets", ok("A page", {"$ref": "#/components/schemas/Page"}))),
    },
    "/timesheets/summary": {
        "get": op("timesheetSummary", "The caller's hours per ISO week and project", "read:timesheets",
                  parameters=FILTERS[:2],
                  responses=secured("read:timesheets", ok("Weekly totals", {
                      "type": "object", "required": ["from", "to", "weeks"],
                      "properties": {"from": {"type": "string"}, "to": {"type": "string"},
                                     "weeks": {"type": "array", "items": {
                                         "type": "object", "required": ["week", "week_start", "project", "hours"],
                                         "properties": {"week": {"type": "string"}, "week_start": {"type": "string"},
                                                        "project": {"type": "string"}, "hours": {"type": "number"}}}}}}))),
    },
    "/timesheets/upload": {
        "post": op("uploadTimesheets", "Batch upload by a machine client: one entry or an array, all or nothing",
                   "batch:upload",
                   parameters=[IDEMPOTENCY_KEY],
                   requestBody=body({"oneOf": [entry_input(["user_id", "date", "project", "hours"], True),
                                               {"type": "array", "maxItems": 10000,
                                                "items": entry_input(["user_id", "date", "project", "hours"], True)}]}),
                   responses=secured("batch:upload",
                                     ok("The created entries", {"type": "object", "required": ["items"],
                                                                "properties": {"items": {"type": "array", "items": ENTRY_REF}}}, "201",
                                        REPLAYED),
                                     [("409", "A day would exceed 24 hours"),
                                      ("413", "Body too large (body_too_large), or more than 10,000 entries (too_many_entries)"),
                                      ("415", "Unsupported content type"), KEY_REUSED])),
    },
    "/timesheets/{id}": {
        "parameters": [ID],
        "get": op("getTimesheet", "One of the caller's entries", "read:timesheets",
                  responses=secured("read:timesheets", ok("The entry", ENTRY_REF), [("404", "No such entry of the caller")])),
        "put": op("replaceTimesheet", "Replace a pending entry", "update:timesheets",
                  requestBody=body(entry_input(["date", "project", "hours"], with_user=True)),
                  responses=secured("update:timesheets", ok("The entry", ENTRY_REF),
                                    [("404", "No such entry of the caller"), ("409", "Not pending, or over 24 hours"),
                                     ("413", "Body too large"), ("415", "Unsupported content type")])),
        "patch": op("updateTimesheet", "Change fields of a pending entry", "update:timesheets",
                    requestBody=body(entry_input([], with_user=True)),
                    responses=secured("update:timesheets", ok("The entry", ENTRY_REF),
                                      [("404", "No such entry of the caller"), ("409", "Not pending, or over 24 hours"),
                                       ("413", "Body too large"), ("415", "Unsupported content type")])),
        "delete": op("deleteTimesheet", "Delete a pending entry", "delete:timesheets",
                     responses=secured("delete:timesheets", {"204": {"description": "Deleted"}},
                                       [("404", "No such entry of the caller"), ("409", "Not pending")])),
    },
    "/timesheets/{id}/history": {
        "parameters": [ID],
        "get": op("timesheetHistory",
                  "Every change of an entry, oldest first: to its owner and to callers with approve:timesheets "
                  "(also after the entry was deleted); 404 to anyone else", "read:timesheets",
                  responses=secured("read:timesheets", ok("The history", {"$ref": "#/components/schemas/History"}),
                                    [("404", "No such entry the caller may see")])),
    },
    "/approvals": {
        "get": op("listPendingApprovals", "Pending entries of all users, oldest first", "approve:timesheets",
                  parameters=PAGING,
                  responses=secured("approve:timesheets", ok("A page", {"$ref": "#/components/schemas/Page"}))),
    },
    "/approvals/{id}": {
        "parameters": [ID],
        "put": op("approveTimesheet", "Approve a pending entry (idempotent)", "approve:timesheets",
                  responses=secured("approve:timesheets", ok("The entry", ENTRY_REF),
                                    [("404", "No such entry"), ("409", "Already rejected")])),
    },
    "/approvals/{id}/reject": {
        "parameters": [ID],
        "post": op("rejectTimesheet", "Reject a pending entry with an optional reason", "approve:timesheets",
                   requestBody={"required": False, "content": {
                       "application/json": {"schema": {"type": "object", "additionalProperties": False,
                                                        "properties": {"reason": {"type": ["string", "null"], "maxLength": 1000}}}},
                       "application/x-www-form-urlencoded": {"schema": {"type": "object", "additionalProperties": False,
                                                                        "properties": {"reason": {"type": "string", "maxLength": 1000}}}}}},
                   responses=secured("approve:timesheets", ok("The entry", ENTRY_REF),
                                     [("404", "No such entry"), ("409", "Already approved"), ("413", "Body too large"),
                                      ("415", "Unsupported content type")])),
    },
    "/reports/hours": {
        "get": op("hoursReport", "Hours per user, project, ISO week or day over every user's entries; JSON or CSV "
                  "(Accept: text/csv), streamed", "read:reports",
                  parameters=REPORT_PARAMETERS,
                  responses=secured("read:reports", {"200": {
                      "description": "The report: JSON by default, CSV for Accept: text/csv (an attachment named "
                                     "hours-FROM-TO.csv: a header row of the group keys then hours,entries; RFC 4180 "
                                     "quoting; a cell starting with =, +, -, @, tab or CR gets a leading ')",
                      "headers": {"Content-Disposition": {"schema": {"type": "string"},
                                                          "description": "CSV only: attachment; filename=\"hours-FROM-TO.csv\""}},
                      "content": {"application/json": {"schema": REPORT},
                                  "text/csv": {"schema": {"type": "string"}}}}},
                                    [("406", "Accept names neither application/json nor text/csv")])),
    },
    "/me": {
        "get": op("me", "Who the token says the caller is", "",
                  responses={**ok("The caller", {
                      "type": "object", "required": ["user_id", "subject", "permissions", "client_id", "is_machine", "expires_at"],
                      "properties": {"user_id": {"type": "string"}, "subject": {"type": "string"},
                                     "permissions": {"type": "array", "items": {"type": "string"}},
                                     "client_id": {"type": ["string", "null"]}, "is_machine": {"type": "boolean"},
                                     "expires_at": {"type": "string", "format": "date-time"}}}),
                      "400": problem("Malformed Authorization header", auth=True),
                      "401": problem("Missing or invalid access token", auth=True)}),
    },
    "/api/public": {"get": op("publicMessage", "Auth0 quickstart: an open endpoint, no token needed",
                              responses=ok("A message", MESSAGE))},
    "/api/private": {"get": op("privateMessage", "Auth0 quickstart: any valid access token", "",
                               responses={**ok("A message", MESSAGE),
                                          "400": problem("Malformed Authorization header", auth=True),
                                          "401": problem("Missing or invalid access token", auth=True)})},
    "/api/private-scoped": {"get": op("privateScopedMessage", "Auth0 quickstart: a token with read:messages",
                                      "read:messages",
                                      responses={**ok("A message", MESSAGE),
                                                 "400": problem("Malformed Authorization header", auth=True),
                                                 "401": problem("Missing or invalid access token", auth=True),
                                                 "403": problem("The token lacks read:messages", auth=True)})},
    "/health/live": {"get": op("live", "Liveness", responses=ok("Alive", {"type": "object"}))},
    "/health/ready": {"get": op("ready", "Readiness: database and signing keys", responses={
        **ok("Ready", {"type": "object"}),
        "503": {"description": "Not ready, with reasons", "content": {"application/json": {"schema": {"type": "object"}}}}})},
    "/metrics": {"get": op("metrics", "Prometheus metrics", responses={
        "200": {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}})},
    "/openapi.json": {"get": op("openapi", "This document", responses=ok("OpenAPI 3.1", {"type": "object"}))},
}

document = {
    "openapi": "3.1.0",
    "info": {"title": "ExampleCo Timesheets API", "version": "1.0.0",
             "description": "Timesheet entries for employees and contractors, approvals for managers, batch upload for machine clients. Every error is application/problem+json (RFC 9457)."},
    "servers": [{"url": "/"}],
    "paths": paths,
    "components": {
        "securitySchemes": {"bearer": {
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": "An access token: `Authorization: Bearer <token>`. A DPoP-bound token (RFC 9449, with a "
                           "`cnf.jkt` claim) is sent as `Authorization: DPoP <token>` with a fresh `DPoP` proof header "
                           "instead, and is refused as a Bearer token.",
        }},
        "schemas": {"Timesheet": ENTRY, "Page": PAGE, "Problem": PROBLEM, "History": HISTORY},
    },
}

target = pathlib.Path(__file__).resolve().parent.parent / "Sources/TimesheetAPI/Resources/openapi.json"
target.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
print(f"wrote {target}")
