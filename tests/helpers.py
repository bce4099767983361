"""Small helpers shared by the integration tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fireflow.clients.printers.agent import PrintAgent
from fireflow.clients.python import HubClient, HubError
from fireflow.hub.domain.actors import Role
from tests.conftest import WAIT


async def new_order(waiter: HubClient, *items: str, notes: str = "", **open_fields: Any) -> str:
    """Open an order (takeaway unless told) and add ``items``; returns its id, unfired."""
    data = {"type": "TAKEAWAY", "notes": notes, **open_fields}
    ack = await waiter.command("order.open", data)
    order_id: str = ack["result"]["order"]["id"]
    for item in items:
        await waiter.command("order.add_item", {"order_id": order_id, "menu_item_id": item, "notes": notes})
    return order_id


async def fired_order(waiter: HubClient, *items: str, **kw: Any) -> str:
    order_id = await new_order(waiter, *items, **kw)
    await waiter.command("order.fire", {"order_id": order_id})
    return order_id


async def retry_command(
    client: HubClient, command_type: str, data: dict[str, Any], command_id: str, *, final: tuple[str, ...] = ()
) -> dict[str, Any]:
    """What a terminal does: retry a retryable error with the same command id (``final`` codes end it, raised)."""
    from tests.conftest import WAIT

    for _ in range(int(100 * WAIT)):
        try:
            return await client.command(command_type, data, id=command_id)
        except HubError as err:
            if err.code in final:
                raise
            assert err.retryable, err.frame
            await asyncio.sleep(0.05)
    raise TimeoutError(command_type)


async def events_until(client: HubClient, count: int, timeout: float, type_: str | None = None) -> list[dict[str, Any]]:
    """The next ``count`` events (of ``type_`` if given), failing if they do not all come within ``timeout``."""
    got: list[dict[str, Any]] = []

    async def collect() -> None:
        while len(got) < count:
            event = await client.events.get()
            if type_ is None or event["type"] == type_:
                got.append(event)

    await asyncio.wait_for(collect(), timeout)
    return got


async def event_about(client: Any, type_: str, order_id: str | None = None, **fields: Any) -> dict[str, Any]:
    """The first event of ``type_`` about ``order_id`` (and with data ``fields``) the client gets; others pass."""

    async def wait() -> dict[str, Any]:
        while True:
            event: dict[str, Any] = await client.events.get()
            data = event["data"]
            about = data.get("order_id") or data.get("order", {}).get("id")
            if event["type"] == type_ and (order_id is None or about == order_id):
                if all(data.get(k) == v for k, v in fields.items()):
                    return event

    return await asyncio.wait_for(wait(), WAIT)


async def ready_delivery(hub: Any, n: int, *, prepaid: bool = False, **customer: Any) -> str:
    """A delivery order for customer ``n`` with a burger, fired and bumped READY (paid first when ``prepaid``);
    phone 555020<n> and address "<n> Rider Rd" unless ``customer`` says otherwise. ``hub``: a RunningHub."""
    waiter, expo = await hub.client(Role.WAITER), await hub.client(Role.EXPO)
    where = {"phone": f"555020{n}", "address": f"{n} Rider Rd"} | customer
    order_id = await new_order(waiter, "burger", type="DELIVERY", **where)
    await waiter.command("order.fire", {"order_id": order_id})
    if prepaid:
        cashier = await hub.client(Role.CASHIER)
        due = (await cashier.command("bill.preview", {"order_ids": [order_id]}))["result"]["due"]
        await cashier.command("order.pay", {"order_ids": [order_id], "tenders": [{"method": "UPI", "amount": due}]})
    await expo.command("order.bump", {"order_id": order_id})
    return order_id


@contextlib.asynccontextmanager
async def running_agent(agent: PrintAgent, timeout: float) -> AsyncIterator[PrintAgent]:
    """``agent`` running in this event loop from its first snapshot on; stopped (and its end checked) after."""
    task = asyncio.create_task(agent.run())
    ready = asyncio.ensure_future(agent.ready.wait())
    await asyncio.wait({task, ready}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
    assert ready.done(), "the agent did not take its first snapshot in time"
    try:
        yield agent
    finally:
        await agent.stop()
        await asyncio.wait_for(task, timeout)


async def grill_printing_with_backup(
    hub: Any, kitchen: int, pass_: int, *, confirm_s: int = 20, manual_s: int = 120
) -> None:
    """The grill prints (and shows) on "kitchen" at port ``kitchen``, whose backup is "pass" at ``pass_``."""
    async with hub.http(Role.MANAGER) as http:
        for printer in (
            {"id": "pass", "name": "Pass", "host": "127.0.0.1", "port": pass_},
            {"id": "kitchen", "name": "Kitchen", "host": "127.0.0.1", "port": kitchen, "backup": "pass"},
        ):
            answer = await http.put("/api/v1/setup/printers", json={"printer": printer})
            assert answer.status_code == 200, answer.text
        station = {"id": "grill", "name": "Grill", "routing": "BOTH", "printer": "kitchen"}
        assert (await http.put("/api/v1/setup/stations", json={"station": station})).status_code == 200
        timers = {"print_confirm_s": confirm_s, "print_manual_s": manual_s}
        answer = await http.put("/api/v1/kitchen/settings", json=timers)
        assert answer.status_code == 200, answer.text
