"""The browser client as a package (clients/js, @fireflow/client): one source that the hub serves to its pages,
types generated from the schema that type-check a typed example, the files npm would publish, and a runnable
example that connects, subscribes and shows a ticket in Chromium.

The type check needs npm (it installs the package's devDependency, typescript, into clients/js/node_modules,
ignored by git); without npm, or with the registry out of reach, those tests skip and say why.
"""

from __future__ import annotations

import functools
import http.server
import json
import re
import shutil
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from fireflow.hub.domain.actors import Role
from fireflow.hub.run import documents
from fireflow.schema import protocol, typescript
from tests.browser import TIMEOUT_MS, chromium, command, new_order, open_screen
from tests.conftest import ROOT, WAIT, RunningHub

PACKAGE = ROOT / "clients" / "js"
SOURCE = PACKAGE / "src" / "fireflow.js"
PUBLISHED = {
    "package.json",
    "README.md",
    "src/fireflow.js",
    "src/fireflow.d.ts",
    "src/protocol.d.ts",
    "examples/kitchen.html",
    "examples/typed.ts",
}


def _skip(reason: str) -> None:
    print(f"JS package test skipped: {reason}")
    pytest.skip(reason)


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        _skip("no npm: install Node.js and npm (Debian: apt-get install nodejs npm)")
    assert npm is not None
    return npm


@pytest.fixture(scope="module")
def tsc() -> Path:
    """The package's own TypeScript (its devDependency), installed by npm into clients/js/node_modules."""
    done = subprocess.run(
        [_npm(), "install", "--no-package-lock", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=PACKAGE,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        _skip(f"npm install of typescript failed (no registry?): {done.stderr.strip()[-300:]}")
    return PACKAGE / "node_modules" / ".bin" / "tsc"


def test_the_package_version_is_the_protocol_version() -> None:
    """The package's major version, and the client's PROTOCOL_VERSION and SUBPROTOCOL, are the schema's."""
    manifest = json.loads((PACKAGE / "package.json").read_text(encoding="utf-8"))
    assert int(manifest["version"].split(".")[0]) == protocol.PROTOCOL_VERSION
    source = SOURCE.read_text(encoding="utf-8")
    assert f"export const PROTOCOL_VERSION = {protocol.PROTOCOL_VERSION};" in source
    assert f'export const SUBPROTOCOL = "{protocol.SUBPROTOCOL_JSON}";' in source
    assert manifest["exports"]["."] == {"types": "./src/fireflow.d.ts", "default": "./src/fireflow.js"}
    assert manifest["types"] == "./src/fireflow.d.ts" and not manifest.get("dependencies")


def test_the_message_types_are_generated_from_the_schema_and_fresh() -> None:
    """protocol.d.ts is what the documents step writes, with every command and event type the schema has."""
    (text,) = documents.render_clients().values()
    assert typescript.DECLARATIONS.read_text(encoding="utf-8") == text, (
        "clients/js/src/protocol.d.ts is stale: run `python -m fireflow.hub.run.documents`"
    )
    schema = json.loads((ROOT / "schema" / "protocol.schema.json").read_text(encoding="utf-8"))
    for name in (*schema["x-commands"], *schema["x-events"]):
        assert re.search(rf'^  "?{re.escape(name)}"?: \w+;$', text, re.MULTILINE), f"{name} is not typed"


def test_the_generator_translates_each_construct_pydantic_emits() -> None:
    """Required and optional fields, quoted keys, unions, arrays, maps, literals, empty and open objects."""
    odd = {
        "type": "object",
        "description": "Two lines:\n\nthe second.",
        "required": ["a"],
        "properties": {
            "a": {"anyOf": [{"$ref": "#/$defs/Kind"}, {"type": "null"}]},
            "b-c": {"type": "array", "items": {"anyOf": [{"type": "integer"}, {"type": "string"}]}},
            "d": {"type": "object", "patternProperties": {"^x$": {"type": "boolean"}}},
            "e": {"type": "object", "additionalProperties": False},
            "f": {"description": "anything"},
            "g": {"const": "cmd"},
        },
    }
    schema = {"title": "t", "x-protocol-version": 1, "x-subprotocols": ["v1"], "x-commands": [], "x-events": []}
    text = typescript.declarations({**schema, "$defs": {"Odd": odd, "Kind": {"enum": ["A", "B"]}}})
    assert 'export type Kind = "A" | "B";' in text
    assert (
        "/**\n * Two lines:\n *\n * the second.\n */\nexport interface Odd {\n"
        "  a: Kind | null;\n"
        '  "b-c"?: (number | string)[];\n'
        "  d?: {\n    [key: string]: boolean;\n  };\n"
        "  e?: {};\n"
        "  /** anything */\n  f?: unknown;\n"
        '  g?: "cmd";\n'
        "}\n"
    ) in text


@pytest.mark.parametrize(
    "node",
    [{"not": {"type": "string"}}, {"$ref": "#/$defs/order.open"}, {"type": "tuple"}],
    ids=["an unknown keyword", "a reference that is no type name", "an unknown type"],
)
def test_a_schema_construct_the_generator_does_not_know_is_refused(node: dict[str, Any]) -> None:
    """A construct new to the models stops the generator, rather than being typed ``unknown`` in silence."""
    schema = {"title": "t", "x-protocol-version": 1, "x-subprotocols": [], "x-commands": [], "x-events": []}
    with pytest.raises(ValueError, match="cannot type"):
        typescript.declarations({**schema, "$defs": {"Odd": {"type": "object", "properties": {"x": node}}}})


def test_the_browser_client_exists_once() -> None:
    """No copy of fireflow.js is left among the hub's pages: they import the package's file."""
    assert not (ROOT / "clients" / "web" / "fireflow.js").exists()
    importers = [p.name for p in (ROOT / "clients" / "web").glob("*.js") if 'from "./fireflow.js"' in p.read_text()]
    assert "kds.js" in importers and "manager.js" in importers


def test_the_declarations_type_check_the_typed_example(tsc: Path) -> None:
    """``tsc --noEmit`` passes on examples/typed.ts, which imports the package by its name (exports, types)."""
    done = subprocess.run([str(tsc), "-p", str(PACKAGE)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_declarations_refuse_a_wrong_command_and_event(tsc: Path, tmp_path: Path) -> None:
    """The same check fails on a command with a field missing, an unknown command type and a wrong event field."""
    copy = tmp_path / "client"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("node_modules", "examples"))
    (copy / "examples").mkdir()
    (copy / "examples" / "wrong.ts").write_text(
        'import { Hub, type TypedEvent } from "@fireflow/client";\n'
        "declare const hub: Hub;\n"
        'void hub.command("ticket.ack", { order_id: "o-1" });\n'
        'void hub.command("order.teleport", {});\n'
        "export const station = (e: TypedEvent) => "
        '(e.type === "NEW_KITCHEN_ORDER" ? e.data.ticket.stationn : "");\n',
        encoding="utf-8",
    )
    done = subprocess.run([str(tsc), "-p", str(copy)], capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    errors = done.stdout
    assert "Property 'ticket_ids' is missing" in errors, errors
    assert '"order.teleport"\' is not assignable' in errors, errors
    assert "Property 'stationn' does not exist on type 'KitchenTicket'" in errors, errors


def test_npm_pack_lists_the_files_expected() -> None:
    """``npm pack --dry-run`` would publish exactly the client, its declarations, the examples and the README."""
    done = subprocess.run(
        [_npm(), "pack", "--dry-run", "--json"], cwd=PACKAGE, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    (packed,) = json.loads(done.stdout)
    assert (packed["name"], packed["version"]) == ("@fireflow/client", f"{protocol.PROTOCOL_VERSION}.0.0")
    assert {entry["path"] for entry in packed["files"]} == PUBLISHED


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for browser in chromium():
        yield browser


@pytest.fixture
def package_server() -> Iterator[str]:
    """clients/js served over loopback HTTP, as `python3 -m http.server -d clients/js` would (the README's way)."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(PACKAGE)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(WAIT)


async def test_the_hub_serves_the_packages_client_to_its_pages(browser: Any, hub: RunningHub) -> None:
    """/static/fireflow.js is the package's file, byte for byte, and a kitchen screen built on it goes live."""
    async with hub.http() as http:
        served = await http.get("/static/fireflow.js")
    assert served.status_code == 200 and served.headers["content-type"].startswith("text/javascript")
    assert served.content == SOURCE.read_bytes()
    token = hub.token(Role.KITCHEN, stations=("grill",))
    screen = await open_screen(browser, f"{hub.url}/kds?token={token}")
    await screen.live()
    loaded = await screen.page.evaluate(
        "async () => { const m = await import('/static/fireflow.js'); return [m.PROTOCOL_VERSION, typeof m.Hub]; }"
    )
    assert loaded == [protocol.PROTOCOL_VERSION, "function"]
    assert screen.errors == []


async def test_the_kitchen_example_connects_subscribes_and_shows_a_fired_ticket(
    browser: Any, hub: RunningHub, package_server: str
) -> None:
    """examples/kitchen.html, served from the package folder, reaches the hub, subscribes to the grill, lists a ticket."""
    token = hub.token(Role.KITCHEN, stations=("grill",))
    url = f"{package_server}/examples/kitchen.html?url={hub.ws_url}&token={token}"
    screen = await open_screen(browser, url)
    await screen.page.wait_for_selector('body[data-state="live"]', timeout=TIMEOUT_MS)
    async with hub.http() as http:
        order_id = await new_order(http, ("burger", 2))
        await command(http, "order.fire", {"order_id": order_id})
    ticket = screen.page.locator(f'li[data-order-id="{order_id}"]')
    await ticket.wait_for(timeout=TIMEOUT_MS)
    assert "2 x " in await ticket.inner_text()
    assert await screen.page.locator("li").count() == 1
    assert screen.errors == []
