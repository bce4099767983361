"""Write the generated contract documents: ``python -m fireflow.hub.run.documents [--check]``.

``schema/protocol.schema.json`` (JSON Schema of every frame and payload),
``schema/asyncapi.json`` (the WebSocket protocol), ``schema/openapi.json``
(the HTTP API) and ``schema/restaurant.schema.json`` (the setup file) come from the pydantic models in ``schema/`` and the command
registry, and ``clients/js/src/protocol.d.ts`` (the JS package's TypeScript types, ``schema/typescript.py``)
from the first; ``--check`` writes nothing and exits 1 when any file is stale.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from fireflow.hub.commands.registry import PUBLIC, REGISTRY
from fireflow.hub.transports.http_api import openapi_document
from fireflow.schema import generate, typescript

__all__ = ["main", "render", "render_clients"]

SCHEMA_DIR = Path(generate.__file__).resolve().parent


def render() -> dict[str, str]:
    """File name (in ``schema/``) -> the text it must hold."""
    notes = {
        spec.name: {
            "x-roles": sorted(role.value for role in spec.roles),
            "x-durable-first": spec.durable_first,
            **({"x-http": f"{spec.http.method} /api/v1{spec.http.path}"} if spec.http else {}),
        }
        for spec in REGISTRY
        if not spec.internal
    }
    return {
        generate.JSON_SCHEMA: generate.dump(generate.json_schema(PUBLIC)),
        generate.ASYNCAPI: generate.dump(generate.asyncapi(PUBLIC, notes)),
        generate.OPENAPI: generate.dump(openapi_document()),
        generate.RESTAURANT_SCHEMA: generate.dump(generate.restaurant_schema()),
    }


def render_clients() -> dict[Path, str]:
    """Files outside ``schema/`` made from the same document: the JS package's message types."""
    return {typescript.DECLARATIONS: typescript.declarations(generate.json_schema(PUBLIC))}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fireflow.hub.run.documents", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if a generated file is stale; write nothing")
    args = parser.parse_args(argv)
    stale = []
    targets = {f"schema/{name}": (SCHEMA_DIR / name, text) for name, text in render().items()}
    targets |= {str(path.relative_to(typescript.ROOT)): (path, text) for path, text in render_clients().items()}
    for name, (path, text) in targets.items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(name)
        if not args.check:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {name}")
    if args.check and stale:
        print(
            f"stale: {', '.join(stale)}; run `python -m fireflow.hub.run.documents`",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
