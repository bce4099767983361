"""The Python client: it notices a dead hub, and with ``resume`` it survives losing its node, missing nothing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.server import ServerConnection, serve

from fireflow.clients.python import HubClient
from fireflow.clients.python.client import DEAD_AFTER
from fireflow.hub.domain.actors import Role
from fireflow.hub.transports.tokens import mint
from fireflow.schema.protocol import SUBPROTOCOL_JSON
from tests.conftest import SECRET, WAIT, NodeProcess, Servers, free_port, seed

HEARTBEAT = 0.2


@contextlib.asynccontextmanager
async def mute_hub() -> AsyncIterator[str]:
    """A loopback server that welcomes every socket, then never sends another byte (a hung node)."""

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        welcome = {"op": "welcome", "protocol": 1, "restaurant": "r", "role": "KITCHEN", "device": "d",
                   "stations": [], "offset": 0, "epoch": "e", "heartbeat": HEARTBEAT, "max_frame": 65536}  # fmt: skip
        await ws.send(orjson.dumps(welcome).decode())
        await ws.wait_closed()  # silent until the client leaves

    async with serve(handler, "127.0.0.1", 0, subprotocols=[SUBPROTOCOL_JSON]) as server:  # type: ignore[list-item]
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/ws"


async def test_a_hub_that_goes_silent_is_dropped_after_two_and_a_half_heartbeats() -> None:
    """A hub that says nothing (no ping, no frame) for 2.5 x its heartbeat is treated as dead: the link is dropped."""
    async with mute_hub() as url:
        loop = asyncio.get_running_loop()
        client = await HubClient.connect(url, "token")
        assert client.heartbeat == HEARTBEAT
        started = loop.time()
        assert await client.wait_closed(WAIT) == 1006
        assert DEAD_AFTER * HEARTBEAT * 0.9 <= loop.time() - started < WAIT
        await client.close()


def _token(rid: str, role: Role, **kw: Any) -> str:
    return mint(SECRET, rid, role, device=kw.pop("device", role.value.lower()), **kw)


async def _fire(http: httpx.AsyncClient) -> str:
    order = await http.post("/api/v1/orders", json={"type": "TAKEAWAY"})
    order_id: str = order.json()["result"]["order"]["id"]
    assert (await http.post(f"/api/v1/orders/{order_id}/items", json={"menu_item_id": "burger"})).status_code == 200
    assert (await http.post(f"/api/v1/orders/{order_id}/fire")).status_code == 200
    return order_id


async def _tickets(client: HubClient, count: int, seen: list[dict[str, Any]]) -> list[str]:
    """Order ids of the next ``count`` NEW_KITCHEN_ORDER events; every event read is added to ``seen``."""
    ids: list[str] = []
    while len(ids) < count:
        event = await client.next_event(4 * WAIT)
        seen.append(event)
        if event["type"] == "NEW_KITCHEN_ORDER":
            ids.append(event["data"]["ticket"]["order_id"])
    return ids


@pytest.mark.slow
async def test_a_resuming_client_survives_its_node_stopping_and_dying_and_sees_every_event_once_in_order(
    servers: Servers, redis: Any, rid: str, nodes: Any, tmp_path: Path
) -> None:
    """With resume, a screen whose node hangs, then dies and restarts, gets every ticket once, in order, and its acks."""
    await seed(servers, rid)
    env = {"FIREFLOW_HEARTBEAT": "0.5"}
    log = tmp_path / "screen-node.log"
    node = NodeProcess(servers, free_port(), log, **env)
    other = await nodes()
    started = [node]
    try:
        await node.ready()
        screen = await HubClient.connect(node.ws_url, _token(rid, Role.KITCHEN, stations=["grill"]), resume=True)
        await screen.subscribe("kitchen:grill")
        seen: list[dict[str, Any]] = []
        headers = {"Authorization": f"Bearer {_token(rid, Role.WAITER)}"}
        async with httpx.AsyncClient(base_url=other.url, headers=headers, timeout=WAIT) as http:
            fired = [await _fire(http) for _ in range(2)]
            assert await _tickets(screen, 2, seen) == fired

            os.kill(node.proc.pid, signal.SIGSTOP)  # hung: its sockets stay open and say nothing
            fired += [await _fire(http) for _ in range(2)]
            assert await asyncio.wait_for(screen.lost_links.get(), WAIT) == 1006  # 2.5 silent heartbeats
            os.kill(node.proc.pid, signal.SIGCONT)
            first = await asyncio.wait_for(screen.resumed.get(), 4 * WAIT)
            assert first["recovered"] is True

            node.kill()
            assert await asyncio.wait_for(screen.lost_links.get(), WAIT) == 1006
            ticket = seen[0]["data"]["ticket"]
            ack = asyncio.create_task(
                screen.command(
                    "ticket.ack", {"order_id": ticket["order_id"], "ticket_ids": [ticket["id"]]}, timeout=8 * WAIT
                )
            )
            fired += [await _fire(http) for _ in range(3)]
            restarted = NodeProcess(servers, node.port, log, **env)
            started.append(restarted)
            await restarted.ready()
            second = await asyncio.wait_for(screen.resumed.get(), 4 * WAIT)
            assert second["recovered"] is True
            assert (await asyncio.wait_for(ack, 8 * WAIT))["result"]["acked"] == [ticket["id"]]
            fired += [await _fire(http) for _ in range(2)]
            assert fired[:2] + await _tickets(screen, len(fired) - 2, seen) == fired
        offsets = [e["offset"] for e in seen]
        assert offsets == sorted(set(offsets))  # once each, in order
        assert screen.events.empty() and not screen.closed.is_set()
        await screen.close()
    finally:
        for n in started:
            n.stop()
