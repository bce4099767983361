"""The installed distribution ships one top-level package, ``fireflow``, with everything the hub reads at run time."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP = shutil.ignore_patterns(".git", ".venv", ".fireflow", "build", "*.egg-info", "__pycache__", ".*_cache", "tests")


def _wheel(tmp_path: Path) -> zipfile.ZipFile:
    """Build the wheel from a copy of the tree (links kept), so the build leaves nothing in the repository."""
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, symlinks=True, ignore=SKIP)
    out = tmp_path / "dist"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = out.glob("fireflow_hub-*.whl")
    return zipfile.ZipFile(wheel)


def test_the_wheel_ships_only_fireflow_with_its_data_files(tmp_path: Path) -> None:
    """No generic ``hub``/``schema``/``clients``/``migrations`` in site-packages; pages, Lua and migrations inside."""
    with _wheel(tmp_path) as wheel:
        names = wheel.namelist()
        entry_points = next(wheel.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
    top = {name.split("/")[0] for name in names if ".dist-info/" not in name}
    assert top == {"fireflow"}, f"top-level names in the wheel: {sorted(top)}"
    for needed in (
        "fireflow/hub/run/cli.py",
        "fireflow/hub/live/lua/commit.lua",
        "fireflow/clients/js/src/fireflow.js",  # the browser client the pages import, from its package (clients/js)
        "fireflow/clients/web/vendor/uPlot.iife.min.js",  # the dashboard's charts, served by the hub (no CDN)
        "fireflow/clients/web/vendor/uPlot.LICENSE",
        "fireflow/schema/asyncapi.json",
        "fireflow/migrations/env.py",
    ):
        assert needed in names, f"{needed} is missing from the wheel"
    assert any(n.startswith("fireflow/migrations/versions/") and n.endswith(".py") for n in names)
    assert "fireflow = fireflow.hub.run.cli:main" in entry_points


def test_no_module_is_loaded_under_a_generic_top_level_name() -> None:
    """Importing the hub's entry points loads every module under ``fireflow.``, none twice under another name."""
    code = (
        "import sys, fireflow.hub.run.app, fireflow.hub.run.cli, fireflow.clients.python\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'hub', 'schema', 'clients', 'migrations'}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
