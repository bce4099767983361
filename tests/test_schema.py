"""The generated protocol documents: fresh, complete, and self-contained."""

from __future__ import annotations

import enum
import importlib
import json
import pkgutil
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

import fireflow.hub.domain
from fireflow.hub.commands.registry import PUBLIC, REGISTRY
from fireflow.hub.run import documents
from fireflow.schema import base, generate
from fireflow.schema.commands import Command
from fireflow.schema.events import EVENTS, EventData
from fireflow.schema.protocol import CloseCode, ErrorCode

SCHEMA_DIR = Path(generate.__file__).resolve().parent
ORDERS_SOURCE = SCHEMA_DIR.parent / "hub" / "domain" / "orders.py"


def _load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))
    return doc


def _refs(node: Any) -> list[str]:
    """Every ``$ref`` in a document, and every discriminator mapping target (also a reference)."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.append(value)
            elif key == "discriminator" and isinstance(value, dict):
                found.extend(value.get("mapping", {}).values())
            else:
                found.extend(_refs(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_refs(value))
    return found


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"{ref} points outside the document"
    node: Any = doc
    for token in ref[2:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and token in node, f"{ref} does not resolve"
        node = node[token]
    return node


def test_generated_files_are_fresh() -> None:
    """The checked-in protocol.schema.json, asyncapi.json and openapi.json are exactly what the models generate."""
    for name, text in documents.render().items():
        path = SCHEMA_DIR / name
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        assert current == text, (
            f"schema/{name} is stale: run `python -m fireflow.hub.run.documents` and commit the result"
        )


def test_render_is_deterministic() -> None:
    """Two renders give the same text, so regenerating never shows a spurious diff."""
    assert documents.render() == documents.render()


def test_check_flag_reports_stale_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--check`` exits 1 on missing or stale files and writes nothing; a plain run writes them."""
    monkeypatch.setattr(documents, "SCHEMA_DIR", tmp_path)
    assert documents.main(["--check"]) == 1
    assert not list(tmp_path.iterdir())
    assert documents.main([]) == 0
    assert documents.main(["--check"]) == 0
    (tmp_path / generate.ASYNCAPI).write_text("{}\n", encoding="utf-8")
    assert documents.main(["--check"]) == 1


def test_every_command_has_a_model_in_the_document() -> None:
    """Each command type has a payload model, a permission entry, and a $defs entry pointing at its schema."""
    defs = _load(generate.JSON_SCHEMA)["$defs"]
    components = _load(generate.ASYNCAPI)["components"]["schemas"]
    assert {spec.name for spec in REGISTRY if not spec.internal} == set(PUBLIC)
    for command_type, model in PUBLIC.items():
        assert issubclass(model, Command)
        assert defs[command_type]["$ref"] == f"#/$defs/{model.__name__}"
        assert defs[model.__name__]["title"] == model.__name__
        assert components[command_type]["$ref"] == f"#/components/schemas/{model.__name__}"


def test_every_event_has_a_model_in_the_document() -> None:
    """Each event type has a payload model and a $defs entry pointing at its schema."""
    defs = _load(generate.JSON_SCHEMA)["$defs"]
    components = _load(generate.ASYNCAPI)["components"]["schemas"]
    for event_type, model in EVENTS.items():
        assert issubclass(model, EventData)
        assert defs[event_type]["$ref"] == f"#/$defs/{model.__name__}"
        assert defs[model.__name__]["title"] == model.__name__
        assert components[event_type]["$ref"] == f"#/components/schemas/{model.__name__}"


def test_every_event_the_domain_emits_is_registered() -> None:
    """Every event type written in hub/domain/orders.py has a model in EVENTS."""
    emitted = set(re.findall(r'Event\(\s*"([A-Z_0-9]+)"', ORDERS_SOURCE.read_text(encoding="utf-8")))
    assert emitted, "no Event(...) found in hub/domain/orders.py"
    assert emitted <= set(EVENTS), f"events without a model: {sorted(emitted - set(EVENTS))}"


def test_frames_and_enums_are_in_the_document() -> None:
    """Every client and server frame, ErrorCode and CloseCode have $defs with the enum values of the code."""
    doc = _load(generate.JSON_SCHEMA)
    defs = doc["$defs"]
    for model in (*generate.client_frames(), *generate.server_frames()):
        assert defs[model.__name__]["title"] == model.__name__
    client_ops = set(defs["ClientFrame"]["discriminator"]["mapping"])
    server_ops = set(defs["ServerFrame"]["discriminator"]["mapping"])
    assert client_ops == {"auth", "subscribe", "unsubscribe", "cmd", "outcome", "ping", "pong", "position"}
    assert server_ops == {"welcome", "subscribed", "unsubscribed", "ack", "error", "event", "positions", "ping", "pong"}
    assert defs["ErrorCode"]["enum"] == [code.value for code in ErrorCode]
    assert defs["CloseCode"]["enum"] == [code.value for code in CloseCode]


def test_asyncapi_has_a_message_per_frame() -> None:
    """The AsyncAPI document has one message per op, received or sent on /ws, with the frame's schema."""
    doc = _load(generate.ASYNCAPI)
    assert doc["asyncapi"].startswith("3.")
    assert doc["channels"]["ws"]["address"] == "/ws"
    operations = doc["operations"]
    for action, models in (("receive", generate.client_frames()), ("send", generate.server_frames())):
        (operation,) = (op for op in operations.values() if op["action"] == action)
        names = [ref["$ref"].rsplit("/", 1)[1] for ref in operation["messages"]]
        assert len(names) == len(models)
        for name, model in zip(names, models, strict=True):
            message = doc["components"]["messages"][name]
            assert message["payload"]["$ref"] == f"#/components/schemas/{model.__name__}"


@pytest.mark.parametrize("name", [generate.JSON_SCHEMA, generate.ASYNCAPI])
def test_every_reference_resolves_within_the_document(name: str) -> None:
    """Every $ref (and discriminator mapping) in a generated document points at something in that document."""
    doc = _load(name)
    refs = _refs(doc)
    assert refs
    for ref in refs:
        target = _resolve(doc, ref)
        assert isinstance(target, dict) and target, f"{ref} resolves to {target!r}"


def _string_enums() -> list[type[enum.StrEnum]]:
    for package in (fireflow.schema, fireflow.hub.domain):
        for module in pkgutil.iter_modules(package.__path__, f"{package.__name__}."):
            importlib.import_module(module.name)
    found, todo = [], list(enum.StrEnum.__subclasses__())
    while todo:
        kind = todo.pop()
        todo.extend(kind.__subclasses__())
        if kind.__module__.startswith(("fireflow.schema.", "fireflow.hub.")) and kind is not base.StrEnum:
            found.append(kind)
    return found


def test_every_string_enum_reads_its_value_in_c_and_writes_the_json_the_standard_one_would() -> None:
    """pydantic writes an enum field as its ``value``: the schema's and the hub's enums read it through
    ``base.StrEnum``'s C-level descriptor (the standard one runs Python on every write), and it is the very
    string the standard ``Enum.value`` gives."""
    kinds = _string_enums()
    assert len(kinds) > 20
    standard = enum.Enum.__dict__["value"]
    for kind in kinds:
        assert issubclass(kind, base.StrEnum), f"{kind.__module__}.{kind.__name__} is a plain enum.StrEnum"
        adapter = TypeAdapter(kind)
        for member in kind:
            assert type(member.value) is str and member.value == standard.__get__(member, kind)
            assert adapter.dump_json(member) == json.dumps(standard.__get__(member, kind)).encode()
            assert adapter.validate_json(adapter.dump_json(member)) is member
