"""A crowd of sockets subscribing at once (a node restarted, a restaurant's network back) shares its snapshot reads."""

from __future__ import annotations

import asyncio
from typing import Any

from fireflow.clients.python import HubClient
from fireflow.hub.domain.actors import Role
from tests.conftest import WAIT, RunningHub
from tests.helpers import new_order

CROWD = 30
ADDS = 20


async def _events_through(client: HubClient, offset: int) -> list[dict[str, Any]]:
    """The events ``client`` hears, up to the one at ``offset``."""
    heard: list[dict[str, Any]] = []
    while not heard or heard[-1]["offset"] < offset:
        heard.append(await client.next_event(WAIT))
    return heard


async def test_a_crowd_subscribing_together_shares_its_reads_and_misses_no_event(hub: RunningHub) -> None:
    """Thirty tills subscribe to `orders` at once while a waiter keeps adding items: two snapshot reads at most
    (one under way when they asked, and one for all of them), and each till then hears every later event of the
    channel exactly once, as a till subscribed before them all hears it."""
    waiter = await hub.client(Role.WAITER)
    order_id = await new_order(waiter, "burger")
    reference = await hub.client(Role.CASHIER, device="till-ref")
    await reference.subscribe("orders")
    tills = [await hub.client(Role.CASHIER, device=f"till-{n}") for n in range(CROWD)]
    snapshots = hub.hub.subscriptions.snapshots
    before = snapshots.reads

    async def adding() -> int:
        last = 0
        for _ in range(ADDS):
            ack = await waiter.command("order.add_item", {"order_id": order_id, "menu_item_id": "fries"})
            last = ack["offset"]
        return last

    adds = asyncio.create_task(adding())
    answers = await asyncio.gather(*(till.subscribe("orders") for till in tills))
    last = await adds
    assert 1 <= snapshots.reads - before <= 2, snapshots.reads - before

    everything = await _events_through(reference, last)
    for till, answer in zip(tills, answers, strict=True):
        (shown,) = answer["snapshot"]["orders"]["orders"]
        later = [e for e in everything if e["offset"] > answer["offset"]]
        heard = await _events_through(till, last) if later else []
        assert [e["offset"] for e in heard] == [e["offset"] for e in later], (answer["offset"], till)
        updates = [e["data"]["order"] for e in heard if e["type"] == "ORDER_UPDATED"]
        final = updates[-1] if updates else shown  # the order as the till shows it at the end
        assert len(final["items"]) == 1 + ADDS, (answer["offset"], len(shown["items"]), len(updates))
    by_offset = {answer["offset"]: answer["snapshot"] for answer in answers}
    assert all(answer["snapshot"] == by_offset[answer["offset"]] for answer in answers)
