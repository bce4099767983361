"""The fallback chain (seed 004) on a running hub, with real agents and loopback ESC/POS printers.

A printer that fails a ticket, or no agent taking it in time: the backup printer prints it and expo and
the manager are told. Every printer failing: the ticket is flagged on its station's screens, it is on the
manual list of expo and the manager with a PRINT_MANUAL alert, and a CRITICAL alert follows if nobody
says it is handled. Each step is an event; waits are on events and printed tickets, never on sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from fireflow.clients.printers.agent import Outcome, PrintAgent
from fireflow.clients.printers.emulator import PrinterEmulator
from fireflow.clients.python import HubClient, HubError
from fireflow.hub.domain.actors import Role
from tests.conftest import WAIT, RunningHub
from tests.helpers import grill_printing_with_backup, new_order, running_agent


@pytest.fixture
async def printers() -> AsyncIterator[tuple[PrinterEmulator, PrinterEmulator]]:
    """The kitchen printer and the pass printer, its backup."""
    async with await PrinterEmulator.start() as kitchen, await PrinterEmulator.start() as pass_:
        yield kitchen, pass_


def _agent(hub: RunningHub, **kw: Any) -> contextlib.AbstractAsyncContextManager[PrintAgent]:
    return running_agent(PrintAgent(hub.ws_url, hub.token(Role.PRINTER, device="print-agent-1"), **kw), WAIT)


async def _next(client: HubClient, match: Any, timeout: float = WAIT) -> dict[str, Any]:
    """The next event ``match(event)`` is true of; the ones before it are passed over."""
    async with asyncio.timeout(timeout):
        while True:
            event = await client.events.get()
            if match(event):
                return event


def _alert(kind: str) -> Any:
    return lambda ev: ev["type"] == "KITCHEN_ALERT" and ev["data"]["alert"]["kind"] == kind


def _path(events: list[dict[str, Any]], job_ids: set[str]) -> list[tuple[str, str, str]]:
    """The printing events about these jobs: (type, job id, state), in the order the hub told them."""
    return [
        (ev["type"], ev["data"]["job"]["id"], ev["data"]["job"]["state"])
        for ev in events
        if ev["type"] in ("PRINT_JOB", "PRINT_JOB_CHANGED") and ev["data"]["job"]["id"] in job_ids
    ]


async def _drain(client: HubClient, until: Any) -> list[dict[str, Any]]:
    """Every event up to and including the first ``until`` is true of."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(WAIT):
        while True:
            seen.append(await client.events.get())
            if until(seen[-1]):
                return seen


async def test_an_offline_printer_s_ticket_prints_on_the_backup_and_expo_and_the_manager_are_told(
    hub: RunningHub, printers: tuple[PrinterEmulator, PrinterEmulator]
) -> None:
    """The kitchen printer off: its agent fails the job ("offline"), the pass printer prints the ticket at
    once (well inside print_confirm_s), expo and the manager get PRINT_REROUTED, and the job's whole path
    is there as events: made, claimed, failed, made again on pass, claimed, printed."""
    kitchen, pass_ = printers
    await grill_printing_with_backup(hub, kitchen.port, pass_.port, confirm_s=5)
    await kitchen.set_offline(True)
    expo, manager = await hub.client(Role.EXPO), await hub.client(Role.MANAGER, device="manager-1")
    await expo.subscribe("expo")
    await manager.subscribe("manager", "printing")
    waiter = await hub.client(Role.WAITER)
    async with _agent(hub) as agent:
        order_id = await new_order(waiter, "burger")
        started = time.monotonic()
        await waiter.command("order.fire", {"order_id": order_id})
        job_id, backup_id = f"{order_id}:t1", f"{order_id}:t1@pass"
        assert (await agent.result(backup_id, WAIT)).outcome is Outcome.PRINTED
        (ticket,) = await pass_.wait_for(1, WAIT)
        took = time.monotonic() - started
    assert took < 5, f"the backup printed {took:.1f} s after the fire; print_confirm_s is 5"
    assert "GRILL" in ticket.text and "1 x Classic Burger" in ticket.text
    assert kitchen.printed == []
    alert = (await _next(expo, _alert("PRINT_REROUTED")))["data"]["alert"]
    assert (alert["job_id"], alert["severity"]) == (job_id, "WARNING")
    assert alert["message"] == "printer Kitchen failed order 1's grill ticket (offline); it goes to printer Pass"
    events = await _drain(manager, lambda ev: _path([ev], {backup_id}) == [("PRINT_JOB_CHANGED", backup_id, "PRINTED")])
    assert [ev["data"]["alert"] for ev in events if ev["type"] == "KITCHEN_ALERT"] == [alert]
    assert _path(events, {job_id, backup_id}) == [
        ("PRINT_JOB", job_id, "PENDING"),
        ("PRINT_JOB_CHANGED", job_id, "CLAIMED"),
        ("PRINT_JOB_CHANGED", job_id, "FAILED"),
        ("PRINT_JOB", backup_id, "PENDING"),
        ("PRINT_JOB_CHANGED", backup_id, "CLAIMED"),
        ("PRINT_JOB_CHANGED", backup_id, "PRINTED"),
    ]


async def test_a_ticket_no_agent_takes_in_time_goes_to_the_backup_within_print_confirm_s(
    hub: RunningHub, printers: tuple[PrinterEmulator, PrinterEmulator]
) -> None:
    """The only agent serves the pass printer alone: the kitchen printer's job waits PENDING until
    print_confirm_s (1 s) runs out, then FAILED "no print agent took it in time" and printed on pass."""
    kitchen, pass_ = printers
    await grill_printing_with_backup(hub, kitchen.port, pass_.port, confirm_s=1)
    manager = await hub.client(Role.MANAGER, device="manager-1")
    await manager.subscribe("manager")
    waiter = await hub.client(Role.WAITER)
    async with _agent(hub, printers=["pass"]) as agent:
        order_id = await new_order(waiter, "burger")
        started = time.monotonic()
        await waiter.command("order.fire", {"order_id": order_id})
        assert (await agent.result(f"{order_id}:t1@pass", 4 * WAIT)).outcome is Outcome.PRINTED
        took = time.monotonic() - started
    assert 1 <= took < 1 + WAIT, took
    alert = (await _next(manager, _alert("PRINT_REROUTED")))["data"]["alert"]
    assert "(no print agent took it in time)" in alert["message"]
    assert len(await pass_.wait_for(1, WAIT)) == 1 and kitchen.printed == []


async def test_with_every_printer_down_the_ticket_is_flagged_listed_and_then_critical(
    hub: RunningHub, printers: tuple[PrinterEmulator, PrinterEmulator]
) -> None:
    """Both printers off: flagged on the grill's screen, on the manual list of expo and the manager with
    PRINT_MANUAL, in their snapshots too; nobody handles it in print_manual_s (1 s): CRITICAL. Then expo
    says it was done by hand: the list and the alerts are empty in a new snapshot."""
    kitchen, pass_ = printers
    await grill_printing_with_backup(hub, kitchen.port, pass_.port, manual_s=1)
    await kitchen.set_offline(True)
    await pass_.set_offline(True)
    grill = await hub.kitchen("grill")
    await grill.subscribe("kitchen:grill")
    expo, manager = await hub.client(Role.EXPO), await hub.client(Role.MANAGER, device="manager-1")
    await expo.subscribe("expo")
    await manager.subscribe("manager")
    waiter = await hub.client(Role.WAITER)
    async with _agent(hub):
        order_id = await new_order(waiter, "burger")
        await waiter.command("order.fire", {"order_id": order_id})
        last = f"{order_id}:t1@pass"
        flagged = await _next(grill, lambda ev: ev["type"] == "PRINT_JOB_CHANGED")
        assert (flagged["data"]["job"]["id"], flagged["data"]["job"]["state"]) == (last, "FAILED")
        assert flagged["data"]["job"]["manual_since"] is not None
        for client in (expo, manager):
            manual = (await _next(client, _alert("PRINT_MANUAL")))["data"]["alert"]
            assert (manual["job_id"], manual["severity"]) == (last, "WARNING")
            assert manual["message"].startswith("No printer could print order 1's grill ticket (offline)")
        fresh = await hub.client(Role.EXPO, device="expo-2")
        snapshot = (await fresh.subscribe("expo"))["snapshot"]["expo"]
        assert [j["id"] for j in snapshot["manual"]] == [last]
        assert [a["kind"] for a in snapshot["alerts"] if a.get("job_id")] == ["PRINT_MANUAL"]
        screen = (
            await (await hub.client(Role.KITCHEN, stations=("grill",), device="kds-grill-2")).subscribe("kitchen:grill")
        )["snapshot"]
        assert [j["id"] for j in screen["kitchen:grill"]["manual"]] == [last]
        for client in (expo, manager):
            critical = (await _next(client, _alert("PRINT_UNHANDLED"), 4 * WAIT))["data"]["alert"]
            assert (critical["job_id"], critical["severity"]) == (last, "CRITICAL")
            assert "it may not be made" in critical["message"]
        async with hub.http(Role.EXPO) as http:
            answer = await http.post(f"/api/v1/print-jobs/{last}/handled", json={"how": "BY_HAND"})
            assert answer.status_code == 200, answer.text
        critical_flag = await _next(grill, lambda ev: ev["type"] == "PRINT_JOB_CHANGED")
        assert critical_flag["data"]["job"]["critical_at"] is not None  # the screen knows it is critical too
        unflagged = await _next(grill, lambda ev: ev["type"] == "PRINT_JOB_CHANGED")
        assert (unflagged["data"]["job"]["handled"], unflagged["data"]["job"]["handled_by"]) == (
            "done by hand",
            "expo-1",
        )
    after = (await (await hub.client(Role.MANAGER, device="manager-2")).subscribe("manager"))["snapshot"]["manager"]
    assert after["manual"] == [] and [a for a in after["alerts"] if a.get("job_id")] == []
    assert kitchen.printed == [] and pass_.printed == []


async def test_handled_twice_at_once_is_handled_once_and_bad_requests_change_nothing(
    hub: RunningHub, printers: tuple[PrinterEmulator, PrinterEmulator]
) -> None:
    """Expo and the manager both press "done by hand" at once: one is recorded, the other is told who did it.
    Another station's screen, another restaurant's job, an unknown job and a job not on the list are refused."""
    kitchen, pass_ = printers
    await grill_printing_with_backup(hub, kitchen.port, pass_.port)
    await kitchen.set_offline(True)
    await pass_.set_offline(True)
    expo, manager = await hub.client(Role.EXPO), await hub.client(Role.MANAGER, device="manager-1")
    await manager.subscribe("manager")
    waiter = await hub.client(Role.WAITER)
    async with _agent(hub):
        order_id = await new_order(waiter, "burger")
        await waiter.command("order.fire", {"order_id": order_id})
        await _next(manager, _alert("PRINT_MANUAL"))
    last = f"{order_id}:t1@pass"
    fry = await hub.kitchen("fry")
    with pytest.raises(HubError) as refused:
        await fry.command("print.handled", {"job_id": last})
    assert refused.value.code == "FORBIDDEN"
    for job_id, code in (
        ("other.o1:t1", "WRONG_TENANT"),
        (f"{order_id}:t9", "NOT_FOUND"),
        (f"{order_id}:t1", "INVALID_STATE"),
    ):
        with pytest.raises(HubError) as refused:
            await expo.command("print.handled", {"job_id": job_id})
        assert refused.value.code == code, (job_id, refused.value)
    outcomes = await asyncio.gather(
        expo.command("print.handled", {"job_id": last}),
        manager.command("print.handled", {"job_id": last, "how": "FOUND_PRINTED"}),
        return_exceptions=True,
    )
    done = [o for o in outcomes if not isinstance(o, BaseException)]
    (lost,) = [o for o in outcomes if isinstance(o, HubError)]
    assert len(done) == 1 and lost.code == "INVALID_STATE" and "handled already by" in str(lost)
    snapshot = (await (await hub.client(Role.EXPO, device="expo-2")).subscribe("expo"))["snapshot"]["expo"]
    assert snapshot["manual"] == []


async def test_a_reprint_from_the_manual_list_handles_it_and_prints_once_the_printer_is_back(
    hub: RunningHub, printers: tuple[PrinterEmulator, PrinterEmulator]
) -> None:
    """Both printers off, then the kitchen printer back: expo reprints the listed ticket (the last try, on
    pass); the copy goes to the ticket's own printer, prints marked REPRINT, and the listed job is handled
    "reprinted as ..."."""
    kitchen, pass_ = printers
    await grill_printing_with_backup(hub, kitchen.port, pass_.port)
    await kitchen.set_offline(True)
    await pass_.set_offline(True)
    manager = await hub.client(Role.MANAGER, device="manager-1")
    await manager.subscribe("manager")
    waiter = await hub.client(Role.WAITER)
    async with _agent(hub) as agent:
        order_id = await new_order(waiter, "burger")
        await waiter.command("order.fire", {"order_id": order_id})
        await _next(manager, _alert("PRINT_MANUAL"))
        await kitchen.set_offline(False)
        last = f"{order_id}:t1@pass"
        expo = await hub.client(Role.EXPO)
        answer = await expo.command("print.reprint", {"job_id": last})
        copy = answer["result"]["job"]["id"]
        assert (copy, answer["result"]["job"]["printer"]) == (f"{last}:r1", "kitchen")  # the ticket's own printer
        handled = await _next(manager, lambda ev: ev["type"] == "PRINT_JOB_CHANGED" and ev["data"]["job"]["id"] == last)
        assert handled["data"]["job"]["handled"] == f"reprinted as {copy}"
        assert (await agent.result(copy, WAIT)).outcome is Outcome.PRINTED
    (ticket,) = await kitchen.wait_for(1, WAIT)
    assert "REPRINT" in ticket.text and "1 x Classic Burger" in ticket.text


async def test_a_listed_ticket_of_a_cancelled_order_leaves_the_list_without_a_critical_alert(
    hub: RunningHub, printers: tuple[PrinterEmulator, PrinterEmulator]
) -> None:
    """Both printers off, the ticket listed, then the order cancelled: at print_manual_s the hub takes it off
    the list ("order cancelled: nothing to make") and raises no CRITICAL alert."""
    kitchen, pass_ = printers
    await grill_printing_with_backup(
        hub, kitchen.port, pass_.port, manual_s=2
    )  # time enough to cancel first, even on a slow machine
    await kitchen.set_offline(True)
    await pass_.set_offline(True)
    manager = await hub.client(Role.MANAGER, device="manager-1")
    await manager.subscribe("manager")
    waiter = await hub.client(Role.WAITER)
    async with _agent(hub):
        order_id = await new_order(waiter, "burger")
        await waiter.command("order.fire", {"order_id": order_id})
        await _next(manager, _alert("PRINT_MANUAL"))
    await manager.command("order.cancel", {"order_id": order_id, "reason": "guest left"})
    last = f"{order_id}:t1@pass"
    events = await _drain(manager, lambda ev: ev["type"] == "PRINT_JOB_CHANGED" and ev["data"]["job"]["id"] == last)
    assert events[-1]["data"]["job"]["handled"] == "order cancelled: nothing to make"
    assert not [ev for ev in events if ev["type"] == "KITCHEN_ALERT"]
