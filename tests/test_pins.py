"""Manager PINs against the real servers: guesses sent at once are limited per device and per restaurant."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import asyncpg
import pytest
from argon2 import PasswordHasher, profiles

from fireflow.clients.python import HubClient
from fireflow.clients.python.client import HubError
from fireflow.hub.commands.pins import DEVICE_LIMIT, RESTAURANT_LIMIT
from fireflow.hub.domain.actors import Role
from fireflow.hub.live.keys import Keys
from fireflow.hub.run.app import create_app
from fireflow.hub.run.config import Settings
from fireflow.schema.protocol import ErrorCode
from tests.conftest import SECRET, WAIT, RunningHub, Servers
from tests.test_settle import ready_dine_in

RIGHT = "1234"  # manager-1's PIN in the demo
ACCEPTED = "ACCEPTED"
WRONG, LIMITED = ErrorCode.WRONG_PIN.value, ErrorCode.RATE_LIMITED.value


async def _audited(servers: Servers, rid: str) -> Counter[str]:
    conn = await asyncpg.connect(servers.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await conn.fetch("SELECT actor FROM audit_log WHERE restaurant_id = $1 AND action = 'WRONG_PIN'", rid)
    finally:
        await conn.close()
    return Counter(r["actor"] for r in rows)


def _big_discount(order_id: str, pin: str) -> dict[str, Any]:
    """20% of a burger and a mojito: over the cashier's 10%, so it needs a manager's PIN."""
    return {"order_id": order_id, "kind": "AMOUNT", "value": 10000, "reason": "cold food", "pin": pin}


async def _try(client: HubClient, order_id: str, pin: str) -> str:
    try:
        ack = await client.command("order.discount", _big_discount(order_id, pin), timeout=4 * WAIT)
    except HubError as exc:
        return exc.code
    assert ack["result"]["approved_by"] == "manager-1"
    return ACCEPTED


async def test_thirty_pins_at_once_from_one_device_judge_at_most_five(hub: RunningHub, servers: Servers) -> None:
    """30 sockets of one till guess at once (the right PIN among them): at most 5 WRONG_PIN, the rest RATE_LIMITED."""
    order_id = await ready_dine_in(hub, "T9", "burger", "mojito")
    sockets = [await hub.client(Role.CASHIER, device="till-2") for _ in range(30)]
    guesses = [f"{5000 + n}" for n in range(29)] + [RIGHT]
    outcomes = Counter(await asyncio.gather(*(_try(s, order_id, pin) for s, pin in zip(sockets, guesses, strict=True))))
    assert set(outcomes) <= {WRONG, LIMITED, ACCEPTED} and outcomes[ACCEPTED] <= 1, outcomes
    assert outcomes[WRONG] <= DEVICE_LIMIT and outcomes[LIMITED] >= 30 - DEVICE_LIMIT - 1, outcomes
    # The right PIN, if it was judged, gave its slot back: one more wrong guess may still be judged, then none.
    wrong = outcomes[WRONG]
    while (outcome := await _try(sockets[0], order_id, "4321")) == WRONG:
        wrong += 1
    assert (outcome, wrong) == (LIMITED, DEVICE_LIMIT)
    assert await _try(sockets[0], order_id, RIGHT) == LIMITED  # the limit holds for the right PIN too
    assert await _try(await hub.client(Role.CASHIER, device="till-3"), order_id, RIGHT) == ACCEPTED  # other tills may
    assert await _audited(servers, hub.rid) == {"till-2": DEVICE_LIMIT}  # every wrong PIN judged is in the audit log


async def test_guesses_spread_over_devices_meet_the_restaurants_limit(hub: RunningHub, servers: Servers) -> None:
    """Six tills guess five times each, all at once: exactly 20 WRONG_PIN, 10 RATE_LIMITED; then a fresh till is limited."""
    order_id = await ready_dine_in(hub, "T10", "burger", "mojito")
    sockets = [await hub.client(Role.CASHIER, device=f"till-{n // DEVICE_LIMIT}") for n in range(30)]
    outcomes = Counter(await asyncio.gather(*(_try(s, order_id, f"{6000 + n}") for n, s in enumerate(sockets))))
    assert outcomes == {WRONG: RESTAURANT_LIMIT, LIMITED: 30 - RESTAURANT_LIMIT}, outcomes
    fresh = await hub.client(Role.CASHIER, device="till-fresh")
    assert await _try(fresh, order_id, RIGHT) == LIMITED
    assert sum((await _audited(servers, hub.rid)).values()) == RESTAURANT_LIMIT


async def test_a_right_pin_costs_no_try_and_wipes_no_wrong_one(hub: RunningHub) -> None:
    """Four wrong, one right, then a fifth wrong is still judged (attempts_left 0), and the sixth is RATE_LIMITED."""
    order_id = await ready_dine_in(hub, "T11", "burger", "mojito")
    till = await hub.client(Role.CASHIER, device="till-4")
    assert [await _try(till, order_id, f"{7000 + n}") for n in range(4)] == [WRONG] * 4
    assert await _try(till, order_id, RIGHT) == ACCEPTED
    try:
        await till.command("order.discount", _big_discount(order_id, "7777"))
    except HubError as exc:
        assert (exc.code, exc.frame["details"]["attempts_left"]) == (WRONG, 0)
    else:
        raise AssertionError("a wrong PIN was accepted")
    try:
        await till.command("order.discount", _big_discount(order_id, RIGHT))
    except HubError as exc:
        assert (exc.code, exc.frame["details"]["scope"]) == (LIMITED, "device")
        assert 0 < exc.frame["details"]["retry_after_s"] <= 300
    else:
        raise AssertionError("a sixth check was judged")


async def test_a_node_hashes_pins_at_argon2s_production_cost_unless_told_test(
    hub: RunningHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node on default settings hashes a PIN with argon2-cffi's own m, t, p; the suite's (PIN_HASH=test) the cheapest."""
    monkeypatch.delenv("FIREFLOW_PIN_HASH", raising=False)
    manager = await hub.client(Role.MANAGER, device="manager-1")
    for who in ("manager-2", "manager-3"):  # only staff who approve may hold a PIN that counts
        await manager.command("setup.staff.put", {"staff_id": who, "name": who, "role": "MANAGER"})
    node = create_app(Settings().with_(redis_url=hub.settings.redis_url, secret=SECRET)).state.hub
    try:
        await node.bus.pins.set(hub.rid, "manager-2", "2468")
    finally:
        await node.redis.aclose()
    await (await hub.client(Role.MANAGER, device="manager-3")).command("manager.set_pin", {"pin": "1357"})
    stored = {k.decode(): v.decode() for k, v in (await hub.hub.redis.hgetall(Keys(hub.rid).pins)).items()}
    default, cheap = PasswordHasher(), profiles.CHEAPEST
    assert f"$m={default.memory_cost},t={default.time_cost},p={default.parallelism}$" in stored["manager-2"]
    assert f"$m={cheap.memory_cost},t={cheap.time_cost},p={cheap.parallelism}$" in stored["manager-3"]
    # Verifying follows the hash: the production-cost PIN approves on the suite's node.
    order_id = await ready_dine_in(hub, "T12", "burger", "mojito")
    till = await hub.client(Role.CASHIER, device="till-5")
    ack = await till.command("order.discount", _big_discount(order_id, "2468"))
    assert ack["result"]["approved_by"] == "manager-2"


async def test_only_the_pin_of_a_manager_on_the_staff_list_approves(hub: RunningHub) -> None:
    """A device not on the staff list cannot set a PIN; a PIN left behind by anyone but a manager approves nothing."""
    stranger = await hub.client(Role.MANAGER, device="mgr-tab")
    with pytest.raises(HubError) as refused:
        await stranger.command("manager.set_pin", {"pin": "9999"})
    assert refused.value.code == ErrorCode.INVALID_STATE and refused.value.frame["details"] == {"staff_id": "mgr-tab"}
    await hub.hub.bus.pins.set(hub.rid, "mgr-tab", "9999")  # as an older hub would have left it
    order_id = await ready_dine_in(hub, "T8", "burger", "mojito")
    till = await hub.client(Role.CASHIER, device="till-6")
    with pytest.raises(HubError) as wrong:
        await till.command("order.discount", _big_discount(order_id, "9999"))
    assert wrong.value.code == ErrorCode.WRONG_PIN
    assert (await till.command("order.discount", _big_discount(order_id, RIGHT)))["result"][
        "approved_by"
    ] == "manager-1"
