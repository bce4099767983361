"""The command registry is the one place a command is declared; everything else is derived from it."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Route

from fireflow.clients.python import HubError
from fireflow.hub.commands import (
    customer_handlers,
    delivery_handlers,
    group_handlers,
    handlers,
    print_documents,
    print_handlers,
    printer_health_handlers,
    setup_handlers,
)
from fireflow.hub.commands.registry import PUBLIC, REGISTRY, Flow, spec
from fireflow.hub.domain.actors import Role
from fireflow.hub.transports.http_api import READS, routes
from fireflow.schema import generate
from fireflow.schema.commands import Command
from fireflow.schema.http import API_PREFIX, STATUS
from fireflow.schema.protocol import ErrorCode
from tests.conftest import RunningHub

ROOT = Path(__file__).resolve().parent.parent
REGISTRY_FILE = ROOT / "hub" / "commands" / "registry.py"
NAMES = {s.name for s in REGISTRY}
DASH = "\u2013"  # PROTOCOL.md's "no HTTP status"


def _load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((ROOT / "schema" / name).read_text(encoding="utf-8"))
    return doc


def _command_tables(path: Path) -> list[str]:
    """Dict, set, list and tuple literals in a file that hold two or more command names (a second registry)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Dict):
            items: list[ast.expr | None] = list(node.keys)
        elif isinstance(node, ast.Set | ast.List | ast.Tuple):
            items = list(node.elts)
        else:
            continue
        names = {i.value for i in items if isinstance(i, ast.Constant) and i.value in NAMES}
        if len(names) >= 2:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} {sorted(names)}")
    return found


def test_no_other_table_of_commands_exists() -> None:
    """No module of the hub, the schema or the clients keeps its own table of command names."""
    files = [p for d in ("hub", "schema", "clients") for p in sorted((ROOT / d).rglob("*.py")) if p != REGISTRY_FILE]
    assert len(files) > 40
    tables = [table for path in files for table in _command_tables(path)]
    assert not tables, f"command names listed outside hub/commands/registry.py: {tables}"


def test_each_spec_is_whole() -> None:
    """Names are unique; live commands have a handler, durable-first ones none; only internal ones have no roles."""
    assert len(NAMES) == len(REGISTRY)
    for s in REGISTRY:
        assert issubclass(s.payload, Command), s.name
        assert (s.handler is not None) == (s.flow is Flow.LIVE), s.name
        assert bool(s.roles) != s.internal, s.name
        assert s.handler is None or s.handler.__module__ in (
            handlers.__name__,
            setup_handlers.__name__,
            customer_handlers.__name__,
            delivery_handlers.__name__,
            group_handlers.__name__,
            print_handlers.__name__,
            printer_health_handlers.__name__,
            print_documents.__name__,
        ), s.name
    assert {s.name for s in REGISTRY if s.durable_first} >= {"order.pay", "invoice.refund", "day.close"}


def test_http_routes_are_the_registrys() -> None:
    """Every route that runs a command is the registry's (or the generic /commands); the reads are READS."""
    app_routes = [r for r in routes() if isinstance(r, Route) and r.path.startswith(API_PREFIX)]
    declared = {(s.http.method, API_PREFIX + s.http.path) for s in REGISTRY if s.http}
    reads = {("GET", API_PREFIX + r.path) for r in READS}
    extras = {("POST", API_PREFIX + "/commands"), ("GET", API_PREFIX + "/openapi.json"), ("POST", API_PREFIX + "/pair")}
    served = {(m, r.path) for r in app_routes for m in (r.methods or ()) if m != "HEAD"}
    assert served == declared | reads | extras


def test_documents_agree_with_the_registry() -> None:
    """The JSON Schema, AsyncAPI and OpenAPI documents list exactly the registry's public commands, roles and routes."""
    assert _load(generate.JSON_SCHEMA)["x-commands"] == sorted(PUBLIC)
    asyncapi = _load(generate.ASYNCAPI)["x-commands"]
    assert set(asyncapi) == set(PUBLIC)
    for name, entry in asyncapi.items():
        found = spec(name)
        assert found is not None
        assert entry["x-roles"] == sorted(r.value for r in found.roles)
        assert entry["x-durable-first"] == found.durable_first
        assert entry["payload"]["$ref"].endswith("/" + found.payload.__name__)
    openapi = _load(generate.OPENAPI)
    commands = {
        (method.upper(), path): op["x-command"]
        for path, item in openapi["paths"].items()
        for method, op in item.items()
        if "x-command" in op
    }
    assert commands == {(s.http.method, API_PREFIX + s.http.path): s.name for s in REGISTRY if s.http}
    for (method, path), name in commands.items():
        found = spec(name)
        assert found is not None
        assert openapi["paths"][path][method.lower()]["x-roles"] == sorted(r.value for r in found.roles)


def test_the_generic_command_route_documents_its_body() -> None:
    """``POST /api/v1/commands`` shows the envelope the hub checks: type required, id as a cmd frame's, nothing else."""
    post = _load(generate.OPENAPI)["paths"][API_PREFIX + "/commands"]["post"]
    body = post["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["properties"]) == {"type", "data", "id"} and body["required"] == ["type"]
    assert body["additionalProperties"] is False
    assert body["properties"]["id"]["anyOf"][0]["pattern"] == "^[A-Za-z0-9_.:-]+$"
    assert "Idempotency-Key" in [p["name"] for p in post["parameters"]]
    assert post["responses"]["200"]["content"]["application/json"]["schema"]["required"] == ["id", "offset", "result"]


def test_every_error_code_has_an_http_status() -> None:
    """Each error code maps to an HTTP status, so no refusal is answered 500 by accident."""
    assert set(STATUS) == set(ErrorCode)


async def test_openapi_is_served(hub: RunningHub) -> None:
    """GET /api/v1/openapi.json serves the document checked in as schema/openapi.json, without a token."""
    async with hub.http(Role.WAITER) as http:
        r = await http.get("/api/v1/openapi.json")
    assert r.status_code == 200
    assert r.json() == _load(generate.OPENAPI)


async def test_internal_commands_are_unknown_to_clients(hub: RunningHub) -> None:
    """A client sending a hub-internal command type gets UNKNOWN_COMMAND, even as a manager."""
    manager = await hub.client(Role.MANAGER)
    for s in REGISTRY:
        if s.internal:
            with pytest.raises(HubError) as err:
                await manager.command(s.name, {"order_id": f"{hub.rid}.o1"})
            assert err.value.code == ErrorCode.UNKNOWN_COMMAND


async def test_roles_come_from_the_registry(hub: RunningHub) -> None:
    """For every public command, each role outside the spec's roles gets FORBIDDEN before the payload is looked at."""
    clients = {role: await hub.client(role, device=f"{role.value.lower()}-r") for role in Role}
    for s in REGISTRY:
        if s.internal:
            continue
        for role in set(Role) - s.roles:
            with pytest.raises(HubError) as err:
                await clients[role].command(s.name, {})
            assert err.value.code == ErrorCode.FORBIDDEN, (s.name, role)


def test_protocol_md_error_table_matches_the_statuses() -> None:
    """The HTTP column of PROTOCOL.md's error table says what schema/http.py answers (a dash for WebSocket-only codes)."""
    text = (ROOT / "schema" / "PROTOCOL.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([A-Z_]+)` \|.*\| (\d{3}|\u2013)[^|]*\|$", text, flags=re.M)
    documented = dict(rows)
    assert set(documented) == {code.value for code in ErrorCode}
    for code in ErrorCode:
        if documented[code.value] != DASH:
            assert int(documented[code.value]) == STATUS[code], code
