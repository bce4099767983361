"""TypeScript declarations of protocol v1, written from ``protocol.schema.json`` for the JS package.

The browser client ships ``clients/js/src/protocol.d.ts`` so a TypeScript caller gets the frames,
each command's data by command type and each event's data by event type checked at compile time.
It is generated here, in Python, from the same JSON Schema document that
``python -m fireflow.hub.run.documents`` writes, so ``--check`` keeps it current with no node on the
machine and it cannot drift from the pydantic models. Only the JSON Schema that pydantic emits is
translated (``$ref``, ``const``, ``enum``, ``anyOf``/``oneOf``, arrays, objects with ``properties``,
``additionalProperties`` or ``patternProperties``); anything else raises, so a new construct in the
models is noticed here rather than typed ``unknown`` in silence.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["DECLARATIONS", "ROOT", "declarations"]

ROOT = Path(__file__).resolve().parent.parent  # the repository
DECLARATIONS = ROOT / "clients" / "js" / "src" / "protocol.d.ts"

_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
_REF = "#/$defs/"
_SCALARS = {"string": "string", "integer": "number", "number": "number", "boolean": "boolean", "null": "null"}
_IGNORED = frozenset(
    {
        "title",
        "description",
        "default",
        "examples",
        "minLength",
        "maxLength",
        "pattern",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minItems",
        "maxItems",
        "maxProperties",
        "propertyNames",
        "format",
        "discriminator",
    }
)


def _ref(ref: str) -> str:
    if not ref.startswith(_REF) or not _IDENTIFIER.match(ref[len(_REF) :]):
        raise ValueError(f"cannot type the reference {ref!r}")
    return ref[len(_REF) :]


def _comment(text: str | None, indent: str) -> str:
    if not text:
        return ""
    lines = text.replace("*/", "*\\/").strip().splitlines()
    if len(lines) == 1:
        return f"{indent}/** {lines[0]} */\n"
    body = "".join(f"{indent} *{' ' + line if line else ''}\n" for line in lines)
    return f"{indent}/**\n{body}{indent} */\n"


def _union(parts: list[str]) -> str:
    unique = list(dict.fromkeys(parts))
    return " | ".join(unique)


def _key(name: str) -> str:
    return name if _IDENTIFIER.match(name) else json.dumps(name)


def _type(node: Mapping[str, Any], indent: str = "") -> str:
    """The TypeScript type of one schema node."""
    unknown = set(node) - _IGNORED - {"$ref", "const", "enum", "anyOf", "oneOf", "type", "items"}
    unknown -= {"properties", "required", "additionalProperties", "patternProperties"}
    if unknown:
        raise ValueError(f"cannot type the schema keywords {sorted(unknown)}")
    if "$ref" in node:
        return _ref(node["$ref"])
    if "const" in node:
        return json.dumps(node["const"])
    if "enum" in node:
        return _union([json.dumps(value) for value in node["enum"]])
    for key in ("anyOf", "oneOf"):
        if key in node:
            return _union([_type(member, indent) for member in node[key]])
    kind = node.get("type")
    if kind in _SCALARS:
        return _SCALARS[kind]
    if kind == "array":
        item = _type(node.get("items", {}), indent)
        return f"({item})[]" if " " in item and not item.startswith("{") else f"{item}[]"
    if kind == "object":
        return _object(node, indent)
    if not node or (kind is None and set(node) <= _IGNORED):
        return "unknown"
    raise ValueError(f"cannot type the schema {dict(node)}")


def _object(node: Mapping[str, Any], indent: str) -> str:
    inner = indent + "  "
    required = set(node.get("required", ()))
    members = []
    for name, schema in node.get("properties", {}).items():
        optional = "" if name in required else "?"
        members.append(
            f"{_comment(schema.get('description'), inner)}{inner}{_key(name)}{optional}: {_type(schema, inner)};\n"
        )
    extra = [_type(schema, inner) for schema in node.get("patternProperties", {}).values()]
    additional = node.get("additionalProperties")
    if additional is True or (additional is None and not members and not extra):
        extra.append("unknown")
    elif isinstance(additional, Mapping):
        extra.append(_type(additional, inner))
    if extra:
        members.append(f"{inner}[key: string]: {_union(extra)};\n")
    if not members:
        return "{}"
    return "{\n" + "".join(members) + indent + "}"


def _definition(name: str, node: Mapping[str, Any]) -> str:
    comment = _comment(node.get("description"), "")
    if node.get("type") == "object" and "properties" in node:
        return f"{comment}export interface {name} {_object(node, '')}\n"
    return f"{comment}export type {name} = {_type(node)};\n"


def _map(name: str, comment: str, entries: Mapping[str, str]) -> str:
    body = "".join(f"  {_key(key)}: {value};\n" for key, value in entries.items())
    return f"/** {comment} */\nexport interface {name} {{\n{body}}}\n"


def declarations(schema: Mapping[str, Any]) -> str:
    """The text of ``protocol.d.ts`` for the protocol's JSON Schema document."""
    defs: Mapping[str, Any] = schema["$defs"]
    commands = {name: _ref(defs[name]["$ref"]) for name in schema["x-commands"]}
    events = {name: _ref(defs[name]["$ref"]) for name in schema["x-events"]}
    version = int(schema["x-protocol-version"])
    parts = [
        f"// {schema['title']}: TypeScript declarations generated by `python -m fireflow.hub.run.documents`\n"
        "// from schema/protocol.schema.json (schema/typescript.py); do not edit.\n",
        f"/** The protocol version these declarations describe (the package's major version). */\n"
        f"export type ProtocolVersion = {version};\n",
        f"/** The WebSocket subprotocols a client offers. */\nexport type Subprotocol = {_union([json.dumps(s) for s in schema['x-subprotocols']])};\n",
        _map("Commands", "Each command type and the `data` its `cmd` frame carries.", commands),
        "/** A command type the hub runs. */\nexport type CommandType = keyof Commands;\n",
        _map("Events", "Each event type and the `data` its `event` frame carries.", events),
        "/** An event type the hub sends. */\nexport type EventType = keyof Events;\n",
        "/** An `event` frame whose `data` is typed by its `type`: narrow it with `if (event.type === ...)`. */\n"
        "export type TypedEvent = {\n"
        '  [T in EventType]: Omit<EventFrame, "type" | "data"> & { type: T; data: Events[T] };\n'
        "}[EventType];\n",
        "/** A `cmd` frame whose `data` is typed by its `type`. */\n"
        "export type TypedCmd = {\n"
        '  [T in CommandType]: Omit<Cmd, "type" | "data"> & { type: T; data: Commands[T] };\n'
        "}[CommandType];\n",
        "/** Any frame on /ws, either way. */\nexport type Frame = ClientFrame | ServerFrame;\n",
    ]
    skipped = set(commands) | set(events)
    parts += [_definition(name, node) for name, node in sorted(defs.items()) if name not in skipped]
    return "\n".join(parts)
