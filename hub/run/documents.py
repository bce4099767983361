"""Write the generated contract documents: ``python -m fireflow.hub.run.documents [--check]``.

``schema/protocol.schema.json`` (JSON Schema of every frame and payload),
``schema/asyncapi.json`` (the WebSocket protocol), ``schema/openapi.json``
(the HTTP API) and ``schema/restaurant.schema.json`` (the setup file) come from the pydantic models in ``schema/`` and the command
registry; ``--check`` writes nothing and exits 1 when any file is stale.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from fireflow.hub.commands.registry import PUBLIC, REGISTRY
from fireflow.hub.transports.http_api import openapi_document
from fireflow.schema import generate

__all__ = ["main", "render"]

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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fireflow.hub.run.documents", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if a generated file is stale; write nothing")
    args = parser.parse_args(argv)
    stale = []
    for name, text in render().items():
        path = SCHEMA_DIR / name
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(name)
        if not args.check:
            path.write_text(text, encoding="utf-8")
            print(f"wrote schema/{name}")
    if args.check and stale:
        print(
            f"stale: {', '.join(f'schema/{n}' for n in stale)}; run `python -m fireflow.hub.run.documents`",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
