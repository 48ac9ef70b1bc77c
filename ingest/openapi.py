"""The OpenAPI 3.1 document of the HTTP API, generated from the msgspec types the server uses.

Request and response schemas come from ``msgspec.json.schema_components`` over the very types
the handlers decode and encode, so the document cannot drift from what the server validates.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import msgspec

from aggregator import catalog, queries, read
from aggregator.events import StreamEvent
from waymark.settings import MAX_EVENTS_PER_BATCH
from waymark_client.wire import BatchResult, ErrorBody, Event, Id, RawBatch

_REF = "#/components/schemas/{name}"

# (method, path, summary, scope, request type, success status, response type, query params)
ROUTES: list[tuple[str, str, str, str, Any, int, Any, list[str]]] = [
    ("post", "/v1/events", "Send a batch of progress events", "ingest", RawBatch, 202,
     BatchResult, []),
    ("put", "/v1/courses/{course_id}", "Store a course catalog", "admin", catalog.CourseCatalog,
     200, catalog.CatalogView, []),
    ("get", "/v1/courses/{course_id}", "A course catalog and its recompute progress", "read",
     None, 200, catalog.CatalogView, []),
    ("get", "/v1/courses/{course_id}/stats", "Learners, completion and drop-off of a course",
     "read", None, 200, queries.CourseStats, []),
    ("get", "/v1/users/{user_id}/courses/{course_id}",
     "Course progress with modules, chapters and quizzes", "read", None, 200,
     read.CourseProgressView, []),
    ("delete", "/v1/users/{user_id}/courses/{course_id}/progress",
     "Reset a course (a course_reset at server time)", "admin", None, 202,
     queries.ResetAccepted, []),
    ("get", "/v1/users/{user_id}/courses", "Courses, most recently accessed first", "read",
     None, 200, queries.CoursePage, ["status", "limit", "cursor"]),
    ("post", "/v1/users/{user_id}/courses:batchGet", "Several courses in one query", "read",
     queries.BatchGetRequest, 200, queries.BatchGetResult, []),
    ("get", "/v1/users/{user_id}/summary", "The user summary with streaks", "read", None, 200,
     queries.UserSummaryView, []),
    ("get", "/v1/users/{user_id}/activity", "Daily activity (heatmap)", "read", None, 200,
     queries.ActivityView, ["from", "to"]),
    ("get", "/v1/users/{user_id}/stream", "Server-Sent Events of the user's changes", "read",
     None, 200, StreamEvent, []),
]


_ID_SCHEMA = msgspec.json.schema(Id)

# Query parameters with the same bounds the handlers check.
_QUERY: dict[str, dict[str, Any]] = {
    "status": {"enum": sorted(queries.STATUSES)},
    "limit": {"type": "integer", "minimum": 1, "maximum": queries.MAX_LIMIT},
    "cursor": {"type": "string", "description": "`next_cursor` of the previous page (opaque)"},
    "from": {"type": "string", "format": "date"},
    "to": {"type": "string", "format": "date"},
}

# Events are decoded one by one: a bad event is reported by index in the 202 answer while the
# rest of its batch is taken, so the envelope accepts any item and says what each must be.
_EVENT_ITEMS = {
    "description": "An Event (#/components/schemas/Event). Each is validated on its own; one "
    "that fails is listed in `rejected` of the 202 answer and the others are accepted."
}


def _path_params(path: str) -> list[dict[str, Any]]:
    return [{"name": n, "in": "path", "required": True, "schema": _ID_SCHEMA}
            for n in re.findall(r"\{(\w+)\}", path)]


@cache
def document(max_events: int = MAX_EVENTS_PER_BATCH) -> dict[str, Any]:
    """The whole document for a server taking ``max_events`` per batch (built once)."""
    types = [ErrorBody, Event, *(t for r in ROUTES for t in (r[4], r[6]) if t is not None)]
    schemas, components = msgspec.json.schema_components(types, ref_template=_REF)
    ref = dict(zip(types, schemas, strict=True))
    components["Event"] = ref[Event]
    components["Batch"] = batch = components.pop("RawBatch")
    ref[RawBatch] = {"$ref": _REF.format(name="Batch")}
    batch["title"], batch["description"] = "Batch", "A batch of events."
    batch["properties"]["events"].update(items=_EVENT_ITEMS, maxItems=max_events)
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary, scope, req, status, resp, query in ROUTES:
        media = "text/event-stream" if path.endswith("/stream") else "application/json"
        op: dict[str, Any] = {
            "summary": summary,
            "security": [{"bearer": [scope]}],
            "parameters": _path_params(path) + [
                {"name": q, "in": "query", "required": False, "schema": _QUERY[q]}
                for q in query
            ],
            "responses": {
                str(status): {"description": "OK", "content": {media: {"schema": ref[resp]}}},
                "default": {"description": "Error",
                            "content": {"application/json": {"schema": ref[ErrorBody]}}},
            },
        }
        if req is not None:
            op["requestBody"] = {"required": True,
                                 "content": {"application/json": {"schema": ref[req]}}}
        paths.setdefault(path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Waymark", "version": "1"},
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": paths,
    }
