"""The pure core stays pure: the domain and the schema import no I/O libraries, and the domain reads no clock."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = ROOT / "hub" / "domain"
SCHEMA = ROOT / "schema"
EXCLUDED = {SCHEMA / "tables.py", SCHEMA / "generate.py"}  # the Postgres tables and the document generator
IO_PACKAGES = ("asyncio", "redis", "sqlalchemy", "starlette", "uvicorn", "asyncpg", "websockets")
CLOCK_READS = ("time.time(", "time.time_ns(", "datetime.now(", "datetime.utcnow(", "date.today(", "monotonic(")


def _module_name(path: Path) -> str:
    parts = ("fireflow", *path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _pure_modules() -> list[str]:
    files = [*sorted(DOMAIN.glob("*.py")), *sorted(SCHEMA.glob("*.py"))]
    return [_module_name(path) for path in files if path not in EXCLUDED]


def test_pure_modules_are_found() -> None:
    """The module list covers the domain's state machines and the wire schema."""
    modules = _pure_modules()
    for expected in (
        "fireflow.hub.domain",
        "fireflow.hub.domain.orders",
        "fireflow.hub.domain.actors",
        "fireflow.schema.protocol",
        "fireflow.schema.commands",
    ):
        assert expected in modules
    assert "fireflow.schema.tables" not in modules and "fireflow.schema.generate" not in modules


def test_domain_and_schema_import_no_io() -> None:
    """Importing every domain and schema module in a fresh interpreter loads no asyncio, Redis, SQL or web server."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {_pure_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        f"banned = {IO_PACKAGES!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in banned)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded == [], f"the pure core imported I/O modules: {loaded}"


@pytest.mark.parametrize("path", sorted(DOMAIN.glob("*.py")), ids=lambda p: p.name)
def test_domain_never_reads_the_clock(path: Path) -> None:
    """Domain code takes ``now`` as an argument and never reads the clock itself."""
    source = path.read_text(encoding="utf-8")
    found = [call for call in CLOCK_READS if call in source]
    assert not found, f"hub/domain/{path.name} reads the clock: {found}"
