"""The browser client (clients/js/src/fireflow.js) drops a hub that went silent and resumes when it answers again."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from fireflow.hub.domain.actors import Role
from fireflow.hub.transports.tokens import mint
from tests.browser import TIMEOUT_MS, chromium, open_screen
from tests.conftest import SECRET, NodeProcess, Servers, free_port, seed


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for browser in chromium():
        yield browser


@pytest.mark.slow
async def test_a_page_drops_a_hung_hub_after_two_and_a_half_heartbeats_and_resumes(
    servers: Servers, redis: Any, rid: str, tmp_path: Path, browser: Any
) -> None:
    """A KDS whose node hangs (SIGSTOP) reconnects after 2.5 silent heartbeats and resumes once the node answers."""
    await seed(servers, rid)
    node = NodeProcess(servers, free_port(), tmp_path / "node.log", FIREFLOW_HEARTBEAT="0.5")
    stopped = False
    try:
        await node.ready()
        token = mint(SECRET, rid, Role.KITCHEN, device="kds-grill", stations=("grill",))
        kds = await open_screen(browser, f"{node.url}/kds?token={token}")
        await kds.live()
        os.kill(node.proc.pid, signal.SIGSTOP)
        stopped = True
        await kds.page.wait_for_selector('body[data-conn="reconnecting"]', timeout=TIMEOUT_MS)
        os.kill(node.proc.pid, signal.SIGCONT)
        stopped = False
        await kds.page.wait_for_selector('body[data-conn="live"]', timeout=4 * TIMEOUT_MS)
        stats = await kds.stats()
        assert stats["snapshots"] == 1 and stats["resumes"] >= 1, stats
        assert kds.errors == [], kds.errors
    finally:
        if stopped:
            os.kill(node.proc.pid, signal.SIGCONT)
        node.stop()
