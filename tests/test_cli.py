"""The command line: a node on embedded servers starts, serves and stops cleanly; tokens verify."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import psutil

from clients.python import HubClient
from hub.transports.tokens import verify
from tests.conftest import ROOT, WAIT, free_port


def test_token_command_mints_a_verifiable_token() -> None:
    """`fireflow token` prints a token the hub accepts with the role and stations asked for."""
    env = {**os.environ, "FIREFLOW_SECRET": "s3cret"}
    out = subprocess.run(
        [sys.executable, "-m", "hub.run.cli", "token", "--restaurant", "demo", "--role", "kitchen", "--device", "kds-1", "--stations", "grill,fry"],
        env=env, cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    actor = verify("s3cret", out.stdout.strip())
    assert (actor.restaurant_id, actor.role.value, actor.stations) == ("demo", "KITCHEN", ("grill", "fry"))


async def test_demo_on_embedded_servers_serves_and_stops_cleanly_on_sigterm() -> None:
    """`fireflow demo` with no URLs starts embedded Redis and Postgres, serves a fire, and on SIGTERM closes sockets with 1012 and stops both servers."""
    data_dir = Path(tempfile.mkdtemp(prefix="fireflow-cli-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "FIREFLOW_SECRET")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.run.cli", "demo", "--port", str(port), "--data-dir", str(data_dir)],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        tokens: dict[str, str] = {}
        assert proc.stdout is not None
        while "kitchen:bar" not in tokens:
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 12 * WAIT)
            assert line, "demo exited early"
            parts = line.split()
            if len(parts) == 2 and "." in parts[1] and len(parts[1]) > 40:
                tokens[parts[0]] = parts[1]
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {tokens['waiter']}"}) as http:
            for _ in range(int(100 * WAIT)):
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
            screen = await HubClient.connect(f"ws://127.0.0.1:{port}/ws", tokens["kitchen:grill"])
            await screen.subscribe("kitchen:grill")
            order = (await http.post("/api/v1/orders", json={"type": "DINE_IN", "table_id": "T1", "guests": 2})).json()
            order_id = order["result"]["order"]["id"]
            await http.post(f"/api/v1/orders/{order_id}/items", json={"menu_item_id": "burger"})
            await http.post(f"/api/v1/orders/{order_id}/fire")
        event = await screen.next_event(WAIT)
        assert event["type"] == "NEW_KITCHEN_ORDER"
        servers = [
            p for p in psutil.Process(proc.pid).children(recursive=True) if p.name() in ("redis-server", "postgres")
        ]
        assert {p.name() for p in servers} == {"redis-server", "postgres"}
        proc.send_signal(signal.SIGTERM)
        assert await screen.wait_closed(WAIT) == 1012
        assert await asyncio.wait_for(asyncio.to_thread(proc.wait), 4 * WAIT) == 0
        _gone, alive = psutil.wait_procs(servers, timeout=WAIT)
        assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stdout is not None:
            proc.stdout.close()
