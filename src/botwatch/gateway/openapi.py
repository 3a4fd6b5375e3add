"""The OpenAPI document the gateway serves at ``/openapi.json`` (committed as ``docs/openapi.json``).

Schemas come from the Pydantic models that validate the events, so the
document cannot drift from what the gateway accepts.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from botwatch.gateway.events import Batch, BatchResponse, ErrorResponse, Event

VERSION = "1.0.0"
_REF = "#/components/schemas/{model}"


def _error(description: str, *, retry_after: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model="ErrorResponse")}}},
    }
    if retry_after:
        response["headers"] = {
            "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}
        }
    return response


def _results(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model="BatchResponse")}}},
    }


def _health(description: str, codes: tuple[int, ...], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"status": {"type": "string"}, **(extra or {})}, "required": ["status"]}
    return {
        "get": {
            "summary": description,
            "operationId": description.split()[0].lower(),
            "security": [],
            "responses": {
                str(code): {
                    "description": "ok" if code == 200 else "not ready",
                    "content": {"application/json": {"schema": schema}},
                }
                for code in codes
            },
        }
    }


def openapi_document() -> dict[str, Any]:
    _, definitions = models_json_schema(
        [
            (Event, "validation"),
            (Batch, "validation"),
            (BatchResponse, "serialization"),
            (ErrorResponse, "serialization"),
        ],
        ref_template=_REF,
    )
    schemas = definitions["$defs"]
    body_schema = {
        "oneOf": [
            {"$ref": _REF.format(model="Event")},
            {"type": "array", "items": {"$ref": _REF.format(model="Event")}, "minItems": 1},
            {"$ref": _REF.format(model="Batch")},
        ]
    }
    signature_headers = [
        {
            "name": "X-Botwatch-Timestamp",
            "in": "header",
            "required": False,
            "description": "Unix time of signing; required when the tenant has a signing secret.",
            "schema": {"type": "string"},
        },
        {
            "name": "X-Botwatch-Signature",
            "in": "header",
            "required": False,
            "description": 'sha256=hex(HMAC-SHA256(signing_secret, timestamp + "." + body)); '
            "required when the tenant has a signing secret.",
            "schema": {"type": "string"},
        },
    ]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "botwatch webhook gateway",
            "version": VERSION,
            "description": "Events from no-code bots become traces, logs and metrics of their conversations.",
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "The tenant's token."}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/v1/events": {
                "post": {
                    "summary": "Send one event or a batch",
                    "operationId": "postEvents",
                    "parameters": signature_headers,
                    "requestBody": {"required": True, "content": {"application/json": {"schema": body_schema}}},
                    "responses": {
                        "200": _results("Every event answered: accepted, duplicate (already seen) or rejected."),
                        "400": _error('Not JSON, or not an event, a list or {"events": [...]}; or empty.'),
                        "401": _error("No valid token, or a missing, wrong or stale signature."),
                        "413": _error("Body or batch too large."),
                        "422": _results("Every event of the request was rejected; see the reasons."),
                        "429": _error("Rate limit of the token exceeded.", retry_after=True),
                        "503": _error(
                            "The idempotency store is unreachable, or the export to the collector is behind; retry.",
                            retry_after=True,
                        ),
                    },
                }
            },
            "/health/live": _health("Live: the process answers", (200,)),
            "/health/ready": _health(
                "Ready: the idempotency store answers and the gateway accepts events",
                (200, 503),
                {
                    "checks": {"type": "object", "additionalProperties": {"type": "boolean"}},
                    "pending_events": {"type": "integer", "description": "Accepted events not yet recorded."},
                    "export_backlog": {
                        "type": "number",
                        "description": "How full the fullest export queue is, 0..1; requests wait past 0.5.",
                    },
                },
            ),
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "operationId": "openapi",
                    "security": [],
                    "responses": {"200": {"description": "OpenAPI document", "content": {"application/json": {}}}},
                }
            },
        },
    }
