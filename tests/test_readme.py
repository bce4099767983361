"""The README's Python example runs as written against a hub."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

from fireflow.hub.domain.actors import Role
from tests.conftest import ROOT, WAIT, RunningHub


def test_the_readme_has_one_python_example() -> None:
    """The README shows exactly one Python block: the one the next test runs."""
    assert len(re.findall(r"^```python$", (ROOT / "README.md").read_text(), re.M)) == 1


async def test_the_readme_python_example_fires_receives_and_acknowledges(hub: RunningHub, tmp_path: Path) -> None:
    """Pasted into a file and run with the tokens in env vars, the example gets its burger's grill ticket and acks it."""
    (example,) = re.findall(r"^```python\n(.*?)^```$", (ROOT / "README.md").read_text(), re.M | re.S)
    script = tmp_path / "grill.py"
    script.write_text(example)
    env = {
        **os.environ,
        "FIREFLOW_URL": hub.ws_url,
        "GRILL_TOKEN": hub.token(Role.KITCHEN, stations=("grill",), device="kds-grill"),
        "WAITER_TOKEN": hub.token(Role.WAITER),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 6 * WAIT)
    assert proc.returncode == 0, out.decode()
    lines = out.decode().splitlines()
    assert lines[0] == "grill: 1 x Classic Burger", lines
    assert lines[1].startswith("acknowledged: ['") and lines[1].endswith("']"), lines
