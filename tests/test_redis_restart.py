"""Losing Redis for a moment: commands answer a retryable error, and every node's feed and wake-ups come back by themselves."""

from __future__ import annotations

import asyncio

import pytest

from fireflow.clients.python import HubError
from fireflow.hub.domain.actors import Role
from fireflow.hub.run.embedded import EmbeddedRedis
from tests.conftest import WAIT, Servers, seed, serve_in_process, settings_for
from tests.helpers import new_order, retry_command


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
        await retry_command(waiter, "order.fire", {"order_id": second}, "fire-second")
        await retry_command(
            waiter, "order.fire", {"order_id": second}, "fire-second"
        )  # a retry after success: no effect
        event = await grill.next_event(4 * WAIT)
        assert event["data"]["ticket"]["order_id"] == second
        third = await new_order(waiter, "burger")
        await waiter.command("order.fire", {"order_id": third})
        assert (await grill.next_event(WAIT))["data"]["ticket"]["order_id"] == third
        assert grill.events.empty()
