"""The HTTP face of protocol v1: status codes for the error codes, and the OpenAPI document's shape.

Commands over HTTP are the same commands as over the WebSocket (``POST
/api/v1/commands``, or a REST-shaped route that fills payload fields from its
path); the answer is the same ``{id, offset, result}`` or error body. The hub
describes each route as an ``Operation``; ``openapi()`` turns them into the
document served at ``GET /api/v1/openapi.json`` and kept in
``schema/openapi.json``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from fireflow.schema.protocol import PROTOCOL_VERSION, CommandId, CommandType, ErrorCode, Sent

__all__ = ["API_PREFIX", "STATUS", "CommandRequest", "Operation", "openapi"]

API_PREFIX = "/api/v1"

STATUS: dict[ErrorCode, int] = {
    ErrorCode.BAD_FRAME: 400,
    ErrorCode.UNKNOWN_OP: 400,
    ErrorCode.INVALID_FRAME: 400,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.TOKEN_EXPIRED: 401,
    ErrorCode.TOKEN_REVOKED: 401,
    ErrorCode.ALREADY_AUTHENTICATED: 400,
    ErrorCode.UNKNOWN_COMMAND: 400,
    ErrorCode.INVALID_COMMAND: 422,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.WRONG_TENANT: 403,
    ErrorCode.UNKNOWN_CHANNEL: 400,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.VERSION_CONFLICT: 409,
    ErrorCode.INVALID_STATE: 409,
    ErrorCode.INVALID_SETUP: 422,
    ErrorCode.TABLE_UNAVAILABLE: 409,
    ErrorCode.ITEM_UNAVAILABLE: 409,
    ErrorCode.INVALID_MODIFIERS: 422,
    ErrorCode.NOTHING_TO_FIRE: 409,
    ErrorCode.OUT_OF_STOCK: 409,
    ErrorCode.RECALL_EXPIRED: 409,
    ErrorCode.ORDER_LOCKED: 409,
    ErrorCode.ALREADY_SETTLED: 409,
    ErrorCode.ITEMS_NOT_READY: 409,
    ErrorCode.AMOUNT_MISMATCH: 422,
    ErrorCode.PIN_REQUIRED: 403,
    ErrorCode.WRONG_PIN: 403,
    ErrorCode.BILL_LOCKED: 409,
    ErrorCode.IDEMPOTENCY_KEY_REUSED: 422,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.BUSY: 503,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 500,
}


class CommandRequest(Sent):
    """The body of ``POST /api/v1/commands``: a WebSocket ``cmd`` frame without its ``op``, as strictly typed. Any
    other field is refused: a misspelt ``id`` would otherwise run the command under a new id on every retry."""

    type: CommandType
    data: dict[str, Any] = Field(default_factory=dict)
    id: CommandId | None = Field(
        default=None, description="the command id; else the Idempotency-Key header's; else the hub makes one up"
    )


@dataclass(frozen=True)
class Operation:
    """One HTTP route as the document shows it."""

    method: str
    path: str  # under API_PREFIX, with {name} parameters
    summary: str
    operation_id: str
    roles: tuple[str, ...] = ()
    command: str | None = None  # the command it runs, if any
    body: type[BaseModel] | None = None  # the payload model; path parameters are taken out of it
    query: tuple[tuple[str, str], ...] = ()  # (name, description)
    tags: tuple[str, ...] = field(default_factory=tuple)
    html: bool = False


_ERROR_BODY = {
    "type": "object",
    "required": ["code", "message", "retryable"],
    "properties": {
        "code": {"$ref": "#/components/schemas/ErrorCode"},
        "message": {"type": "string", "description": "one line for a person"},
        "retryable": {"type": "boolean", "description": "the same command (same id) may succeed later"},
        "id": {"type": ["string", "null"], "description": "the command id, when a command was sent"},
        "details": {"type": "object"},
    },
}
_ACK_BODY = {
    "type": "object",
    "required": ["id", "offset", "result"],
    "properties": {
        "id": {"type": "string", "description": "the command id (Idempotency-Key); a retry gets this same answer"},
        "offset": {"type": "integer", "description": "the restaurant stream offset of the commit"},
        "result": {"type": "object"},
    },
}


def _body_schema(op: Operation, schema_of: Callable[[type[BaseModel]], dict[str, Any]]) -> dict[str, Any]:
    assert op.body is not None
    schema = schema_of(op.body)
    params = set(_path_params(op.path))
    if not params:
        return schema
    trimmed = dict(schema)
    trimmed["properties"] = {k: v for k, v in schema.get("properties", {}).items() if k not in params}
    trimmed["required"] = [k for k in schema.get("required", []) if k not in params]
    return trimmed


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]


def _operation(op: Operation, schema_of: Callable[[type[BaseModel]], dict[str, Any]]) -> dict[str, Any]:
    codes = sorted({STATUS[code] for code in ErrorCode})
    runs = op.command is not None or op.body is CommandRequest  # answered with an ack, keyed by its command id
    out: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": list(op.tags),
        "security": [{"device": []}],
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _path_params(op.path)
        ]
        + [
            {"name": name, "in": "query", "required": False, "description": d, "schema": {"type": "string"}}
            for name, d in op.query
        ],
        "responses": {
            "200": (
                {"description": "the printable page", "content": {"text/html": {"schema": {"type": "string"}}}}
                if op.html
                else {
                    "description": "the command's result (the same for every retry of its id)" if runs else "OK",
                    "content": {"application/json": {"schema": _ACK_BODY if runs else {"type": "object"}}},
                }
            ),
            **{
                str(code): {
                    "description": ", ".join(c.value for c in ErrorCode if STATUS[c] == code),
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
                for code in codes
                if code != 200
            },
        },
    }
    if op.roles:
        out["x-roles"] = list(op.roles)
    if op.command:
        out["x-command"] = op.command
    if runs:
        out["parameters"].append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "the command id (1 to 64 of A-Za-z0-9_.:-); resend with the same key after a timeout",
                "schema": {"type": "string"},
            }
        )
    if op.body is not None:
        out["requestBody"] = {
            "required": not _path_params(op.path),
            "content": {"application/json": {"schema": _body_schema(op, schema_of)}},
        }
    return out


def openapi(
    operations: Iterable[Operation],
    schemas: dict[str, Any],
    schema_of: Callable[[type[BaseModel]], dict[str, Any]],
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the HTTP API: ``schemas`` are the named components (``ErrorCode``, payloads)."""
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(API_PREFIX + op.path, {})[op.method.lower()] = _operation(op, schema_of)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Fireflow Hub HTTP API",
            "version": str(PROTOCOL_VERSION),
            "description": (
                "The same commands as the WebSocket protocol (schema/PROTOCOL.md), for integrations, and the reads "
                "a screen or report needs. Authenticate with `Authorization: Bearer <device token>`. Generated from "
                "the command registry (hub/commands/registry.py) and the pydantic models; do not edit."
            ),
        },
        "servers": [{"url": "http://127.0.0.1:8000"}],
        "components": {
            "securitySchemes": {"device": {"type": "http", "scheme": "bearer", "description": "a device token"}},
            "schemas": {**schemas, "Error": _ERROR_BODY},
        },
        "paths": dict(sorted(paths.items())),
    }
