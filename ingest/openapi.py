"""The OpenAPI 3.1 document of the HTTP API, generated from the route table and its types.

Paths, methods, scopes and query parameters come from the ``Route`` entries the router is built
from (``ingest.routes``); request and response schemas from ``msgspec.json.schema_components``
over the very types the handlers decode and encode, so the document cannot drift from what the
server serves and validates.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import msgspec
from aiohttp import web

from aggregator import queries
from ingest.routing import Route
from waymark.settings import MAX_EVENTS_PER_BATCH
from waymark_client.wire import ErrorBody, Event, Id, RawBatch

_REF = "#/components/schemas/{name}"
_encode = msgspec.json.Encoder().encode

_ID_SCHEMA = msgspec.json.schema(Id)

# Query parameters with the same bounds the handlers check.
_QUERY: dict[str, dict[str, Any]] = {
    "status": {"enum": sorted(queries.STATUSES)},
    "limit": {"type": "integer", "minimum": 1, "maximum": queries.MAX_LIMIT},
    "cursor": {"type": "string", "description": "`next_cursor` of the previous page (opaque)"},
    "from": {"type": "string", "format": "date"},
    "to": {"type": "string", "format": "date"},
    "week": {"type": "string", "pattern": "^[0-9]{4}-W(0[1-9]|[1-4][0-9]|5[0-3])$",
             "example": "2026-W48"},
    "month": {"type": "string", "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])$", "example": "2026-11"},
    "as_of": {"type": "string", "format": "date-time"},
    "format": {"enum": ["json", "ndjson"]},
    "include": {"enum": ["dropped"], "description": "also list courses the learner dropped"},
    "course_id": {"type": "string", "description": "one course; absent: across all courses"},
    "period": {"enum": ["all", "month", "week"]},
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


def documented(routes: tuple[Route, ...]) -> tuple[Route, ...]:
    """The routes the document describes: the API's (``/v1``), public ones too, not the ops'."""
    return tuple(r for r in routes if r.scope is not None or r.path.startswith("/v1/"))


@cache
def document(
    routes: tuple[Route, ...], max_events: int = MAX_EVENTS_PER_BATCH
) -> dict[str, Any]:
    """The whole document of ``routes`` for a server taking ``max_events`` per batch."""
    api = documented(routes)
    types = [ErrorBody, Event,
             *(t for r in api for t in (r.request, r.response) if t is not None)]
    schemas, components = msgspec.json.schema_components(types, ref_template=_REF)
    ref = dict(zip(types, schemas, strict=True))
    components["Event"] = ref[Event]
    components["Batch"] = batch = components.pop("RawBatch")
    ref[RawBatch] = {"$ref": _REF.format(name="Batch")}
    batch["title"], batch["description"] = "Batch", "A batch of events."
    batch["properties"]["events"].update(items=_EVENT_ITEMS, maxItems=max_events)
    paths: dict[str, dict[str, Any]] = {}
    for r in api:
        op: dict[str, Any] = {
            "summary": r.summary,
            "security": [{"bearer": [r.scope]}] if r.scope else [],
            "parameters": _path_params(r.path) + [
                {"name": q, "in": "query", "required": False, "schema": _QUERY[q]}
                for q in r.query
            ],
            "responses": {
                str(r.status): {"description": "OK",
                                "content": {r.media: {"schema": ref[r.response]}} | {
                                    m: {"schema": {"type": "string"}} for m in r.alt_media}},
                "default": {"description": "Error",
                            "content": {"application/json": {"schema": ref[ErrorBody]}}},
            },
        }
        if r.request is not None:
            op["requestBody"] = {"required": True,
                                 "content": {"application/json": {"schema": ref[r.request]}}}
        paths.setdefault(r.path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Waymark", "version": "1"},
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": paths,
    }


@cache
def _encoded(routes: tuple[Route, ...], max_events: int) -> bytes:
    return _encode(document(routes, max_events))


def response(routes: tuple[Route, ...], max_events: int) -> web.Response:
    """``GET /openapi.json``: the document, encoded once per process."""
    return web.Response(body=_encoded(routes, max_events), content_type="application/json")
