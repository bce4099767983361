"""Losing Redis for a moment: commands answer a retryable error, and every node's feed and wake-ups come back by themselves."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from clients.python import HubClient, HubError
from hub.domain.actors import Role
from hub.embedded import EmbeddedRedis
from tests.conftest import WAIT, Servers, seed, serve_in_process, settings_for
from tests.helpers import new_order


async def _retry(client: HubClient, command_type: str, data: dict[str, Any], command_id: str) -> dict[str, Any]:
    """What a terminal does: retry a retryable error with the same command id."""
    for _ in range(int(100 * WAIT)):
        try:
            return await client.command(command_type, data, id=command_id)
        except HubError as err:
            assert err.retryable, err.frame
            await asyncio.sleep(0.05)
    raise TimeoutError(command_type)


async def test_kill_9_of_redis_then_restart_resumes_the_kitchen_flow(
    own_redis: EmbeddedRedis, servers: Servers, rid: str
) -> None:
    """Redis killed: commands get UNAVAILABLE (retryable); after its restart the same screen gets new tickets, nothing doubled."""
    live = Servers(own_redis.url, servers.database_url, None)
    await seed(live, rid)
    async with serve_in_process(settings_for(live), rid) as hub:
        grill = await hub.kitchen("grill")
        await grill.subscribe("kitchen:grill")
        waiter = await hub.client(Role.WAITER)
        first = await new_order(waiter, "burger")
        await waiter.command("order.fire", {"order_id": first})
        assert (await grill.next_event(WAIT))["data"]["ticket"]["order_id"] == first
        second = await new_order(waiter, "burger")
        await asyncio.to_thread(own_redis.kill)
        with pytest.raises(HubError) as err:
            await waiter.command("order.fire", {"order_id": second}, id="fire-second")
        assert err.value.code == "UNAVAILABLE" and err.value.retryable
        await asyncio.to_thread(own_redis.start)
        await _retry(waiter, "order.fire", {"order_id": second}, "fire-second")
        await _retry(waiter, "order.fire", {"order_id": second}, "fire-second")  # a retry after success: no effect
        event = await grill.next_event(4 * WAIT)
        assert event["data"]["ticket"]["order_id"] == second
        third = await new_order(waiter, "burger")
        await waiter.command("order.fire", {"order_id": third})
        assert (await grill.next_event(WAIT))["data"]["ticket"]["order_id"] == third
        assert grill.events.empty()
