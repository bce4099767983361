"""Printer health end to end: a real print agent reads the loopback ESC/POS printer's real-time status and the
hub tells expo and the manager (PRINTER_STATUS) only when it changed; snapshots carry it; bad reports are refused.

Waits are on the hub's events and answers (and, for the agent's status reads, on the emulator's count of
connections), never on sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from fireflow.clients.printers.agent import STATUS_EVERY, PrintAgent, PrintFailed, Status, health_from
from fireflow.clients.printers.emulator import Printed, PrinterEmulator
from fireflow.clients.python import HubClient, HubError
from fireflow.hub.domain.actors import Role
from fireflow.hub.domain.printer_health import NO_AGENT
from fireflow.hub.run import cli
from fireflow.schema.records import PrinterState
from tests.conftest import WAIT, RunningHub, Servers, seed, serve_in_process, settings_for
from tests.helpers import new_order, running_agent

POLL = 0.05  # seconds between the agent's status reads in these tests (STATUS_EVERY in production)


@pytest.fixture
async def printer() -> AsyncIterator[PrinterEmulator]:
    async with await PrinterEmulator.start() as emulator:
        yield emulator


@pytest.fixture
async def quick_hub(servers: Servers, redis: Any, rid: str) -> AsyncIterator[RunningHub]:
    """A hub node that gives a print agent gone 0.2 s (FIREFLOW_PRINT_AGENT_GRACE) to come back."""
    await seed(servers, rid)
    async with serve_in_process(settings_for(servers, print_agent_grace=0.2), rid) as running:
        yield running


async def _put_printer(hub: RunningHub, port: int, printer_id: str = "kitchen", name: str = "Grill") -> None:
    async with hub.http(Role.MANAGER) as http:
        body = {"printer": {"id": printer_id, "name": name, "host": "127.0.0.1", "port": port}}
        answer = await http.put("/api/v1/setup/printers", json=body)
        assert answer.status_code == 200, answer.text


def _agent(
    hub: RunningHub, device: str = "print-agent-1", **kw: Any
) -> contextlib.AbstractAsyncContextManager[PrintAgent]:
    """A print agent reading its printers every POLL seconds, from its first snapshot on; stopped after."""
    agent = PrintAgent(hub.ws_url, hub.token(Role.PRINTER, device=device), status_every=POLL, **kw)
    return running_agent(agent, WAIT)


async def _watchers(hub: RunningHub) -> tuple[HubClient, HubClient]:
    """An expo screen on `expo` and the back office on `manager`."""
    expo = await hub.client(Role.EXPO, device="expo-1")
    await expo.subscribe("expo")
    manager = await hub.client(Role.MANAGER, device="manager-1")
    await manager.subscribe("manager")
    return expo, manager


async def _next_status(client: HubClient) -> dict[str, Any]:
    """The health of the next PRINTER_STATUS this client hears (other events are passed over)."""
    async with asyncio.timeout(WAIT):
        while True:
            event = await client.events.get()
            if event["type"] == "PRINTER_STATUS":
                assert set(event["channels"]) == {"expo", "manager", "printing"}
                health: dict[str, Any] = event["data"]["health"]
                return health


async def _told(watchers: tuple[HubClient, ...], state: PrinterState, printer: str = "kitchen") -> dict[str, Any]:
    """The next PRINTER_STATUS on every watcher: the same record, of ``printer``, in ``state``."""
    found = [await _next_status(client) for client in watchers]
    assert all(health == found[0] for health in found)
    assert (found[0]["printer"], found[0]["state"]) == (printer, state.value), found[0]
    return found[0]


async def _health(hub: RunningHub, channel: str, printer: str = "kitchen") -> dict[str, Any]:
    """The printer's health in a fresh snapshot of ``channel``."""
    role = Role.EXPO if channel == "expo" else Role.MANAGER  # a PRINTER on `printing` would count as an agent
    client = await hub.client(role, device=f"{channel}-reader")
    try:
        answer = await client.subscribe(channel)
    finally:
        await client.close()
    found: dict[str, Any] = next(h for h in answer["snapshot"][channel]["printer_health"] if h["printer"] == printer)
    return found


async def _reads(printer: PrinterEmulator, more: int) -> None:
    """Wait until the agent has read the printer ``more`` more times (each read is a connection of its own)."""
    target = printer.connections + more
    async with asyncio.timeout(WAIT):
        while printer.connections < target:
            await asyncio.sleep(POLL / 5)


# -- without servers ------------------------------------------------------------------------------------


def test_what_the_printer_says_becomes_the_state_the_hub_is_told() -> None:
    """Status bytes and failures to read them map to the five words of the protocol (never UNKNOWN)."""
    assert health_from(Status(online=True)) == (PrinterState.ONLINE, "")
    assert health_from(Status(online=True, paper_low=True)) == (PrinterState.ONLINE, "paper low")
    assert health_from(Status(online=False, paper_out=True)) == (PrinterState.PAPER_OUT, "")
    assert health_from(Status(online=False, cover_open=True, paper_out=True)) == (PrinterState.COVER_OPEN, "")
    assert health_from(Status(online=False, error=True)) == (PrinterState.OFFLINE, "printer error")
    assert health_from(Status(online=False)) == (PrinterState.OFFLINE, "the printer says it is offline")
    assert health_from(PrintFailed("offline", sent=False)) == (PrinterState.OFFLINE, "")
    assert health_from(PrintFailed("no answer", sent=False)) == (PrinterState.OFFLINE, "no answer")


def test_the_command_line_says_how_often_printers_are_read() -> None:
    """`fireflow print-agent --status-every` defaults to the agent's own default and takes seconds."""
    assert cli.PRINTER_STATUS_EVERY == STATUS_EVERY
    args = cli.build_parser().parse_args(["print-agent", "--hub", "http://127.0.0.1:8000", "--status-every", "2.5"])
    assert args.status_every == 2.5
    assert cli.build_parser().parse_args(["print-agent", "--hub", "x"]).status_every == STATUS_EVERY


# -- the agent, the emulator and a real hub --------------------------------------------------------------


async def test_the_agent_reports_every_printer_on_connect_and_the_snapshots_show_it(
    hub: RunningHub, printer: PrinterEmulator
) -> None:
    """Before any agent, the printers are UNKNOWN; an agent connects: each printer ONLINE, told to expo and the
    manager once, and the expo, manager and printing snapshots say so."""
    await _put_printer(hub, printer.port)
    async with await PrinterEmulator.start() as other:
        await _put_printer(hub, other.port, "pass", "Pass")
        assert (await _health(hub, "expo"))["state"] == "UNKNOWN"
        watchers = await _watchers(hub)
        async with _agent(hub):
            first = {(await _next_status(client))["printer"] for client in watchers}
            second = {(await _next_status(client))["printer"] for client in watchers}
            assert first | second == {"kitchen", "pass"}
            for channel in ("expo", "manager", "printing"):
                kitchen = await _health(hub, channel)
                assert (kitchen["state"], kitchen["name"], kitchen["agent"]) == ("ONLINE", "Grill", "print-agent-1")
                assert (await _health(hub, channel, "pass"))["state"] == "ONLINE"


@pytest.mark.parametrize(
    ("fault", "state"),
    [("offline", PrinterState.OFFLINE), ("paper_out", PrinterState.PAPER_OUT), ("cover_open", PrinterState.COVER_OPEN)],
)
async def test_a_printer_that_cannot_print_is_told_and_so_is_its_return(
    hub: RunningHub, printer: PrinterEmulator, fault: str, state: PrinterState
) -> None:
    """Switched off, out of paper or with its cover open: expo and the manager hear it with the state, the
    snapshots show it since then; fixed: ONLINE again, with a new `since`."""
    await _put_printer(hub, printer.port)
    watchers = await _watchers(hub)
    async with _agent(hub):
        online = await _told(watchers, PrinterState.ONLINE)
        if fault == "offline":
            await printer.set_offline(True)
        else:
            setattr(printer, fault, True)
        broken = await _told(watchers, state)
        assert broken["since"] >= online["since"] and broken["version"] == online["version"] + 1
        for channel in ("expo", "manager", "printing"):
            assert await _health(hub, channel) == broken
        if fault == "offline":
            await printer.set_offline(False)
        else:
            setattr(printer, fault, False)
        back = await _told(watchers, PrinterState.ONLINE)
        assert back["since"] >= broken["since"] and (await _health(hub, "expo"))["state"] == "ONLINE"


async def test_an_unchanged_status_makes_no_event(hub: RunningHub, printer: PrinterEmulator) -> None:
    """The agent reads an ONLINE printer again and again: nothing is told; the same report sent by hand is answered
    `changed: false` with the stored record; the next event heard is the next change."""
    await _put_printer(hub, printer.port)
    watchers = await _watchers(hub)
    async with _agent(hub):
        online = await _told(watchers, PrinterState.ONLINE)
        await _reads(printer, 5)  # five more reads, all ONLINE
        by_hand = await hub.client(Role.PRINTER, device="print-agent-2")
        same = await by_hand.command("print.status", {"printer_id": "kitchen", "state": "ONLINE"})
        assert same["result"] == {"health": online, "changed": False}
        printer.paper_out = True  # the marker: the first event after all those reads
        await _told(watchers, PrinterState.PAPER_OUT)


async def test_a_printer_out_of_paper_after_a_job_is_told_at_once(hub: RunningHub) -> None:
    """The roll ends with a ticket: the agent reads the printer after the job, so the hub hears PAPER_OUT without
    waiting for the next periodic read (an hour away here)."""

    def run_out(ticket: Printed) -> None:
        emulator.paper_out = True

    async with await PrinterEmulator.start(on_printed=run_out) as emulator:
        await _put_printer(hub, emulator.port)
        async with hub.http(Role.MANAGER) as http:
            station = {"id": "grill", "name": "Grill", "routing": "BOTH", "printer": "kitchen"}
            assert (await http.put("/api/v1/setup/stations", json={"station": station})).status_code == 200
        watchers = await _watchers(hub)
        waiter = await hub.client(Role.WAITER)
        agent = PrintAgent(hub.ws_url, hub.token(Role.PRINTER, device="print-agent-1"), status_every=3600)
        task = asyncio.create_task(agent.run())
        try:
            await _told(watchers, PrinterState.ONLINE)  # on connect
            order_id = await new_order(waiter, "burger")
            await waiter.command("order.fire", {"order_id": order_id})
            await _told(watchers, PrinterState.PAPER_OUT)
            assert len(emulator.printed) == 1
        finally:
            await agent.stop()
            await asyncio.wait_for(task, WAIT)


async def test_an_agent_that_leaves_makes_its_printers_unknown(quick_hub: RunningHub, printer: PrinterEmulator) -> None:
    """The agent's last socket closes and it is not back within the grace: its printer is UNKNOWN ("no print
    agent connected"); an agent back: ONLINE."""
    hub = quick_hub
    await _put_printer(hub, printer.port)
    watchers = await _watchers(hub)
    async with _agent(hub):
        await _told(watchers, PrinterState.ONLINE)
    gone = await _told(watchers, PrinterState.UNKNOWN)
    assert (gone["detail"], gone["agent"]) == (NO_AGENT, "print-agent-1")
    assert (await _health(hub, "manager"))["state"] == "UNKNOWN"
    async with _agent(hub):
        await _told(watchers, PrinterState.ONLINE)


async def test_an_agent_says_its_printers_again_on_every_reconnect(hub: RunningHub, printer: PrinterEmulator) -> None:
    """The hub was told otherwise behind the agent's back; the agent's link drops and resumes: it says what it
    reads once more on the new link, so the hub is right again, and, back within the grace, it was never
    UNKNOWN. Another agent leaving leaves the printers it did not report on as they are."""
    await _put_printer(hub, printer.port)
    watchers = await _watchers(hub)
    async with _agent(hub) as agent:
        await _told(watchers, PrinterState.ONLINE)
        other = await hub.client(Role.PRINTER, device="print-agent-2")
        await other.command("print.status", {"printer_id": "kitchen", "state": "OFFLINE", "detail": "by hand"})
        await _told(watchers, PrinterState.OFFLINE)
        assert agent.client is not None
        agent.client.ws.transport.abort()
        assert await asyncio.wait_for(agent.client.lost_links.get(), WAIT) == 1006
        back = await _told(watchers, PrinterState.ONLINE)
        assert back["agent"] == "print-agent-1"
        async with _agent(hub, "print-agent-3"):  # serves the same printer; the hub has nothing new from it
            pass  # leaves: its printers were told by print-agent-1, so they stay known
        agents = hub.hub.print_agents  # both agents' leaving seen, both graces over, both decided:
        left = {(hub.rid, "print-agent-1"): 1}  # its new socket only
        await _until(lambda: agents._counts == left and not agents._tasks)
        await other.command("print.status", {"printer_id": "kitchen", "state": "COVER_OPEN"})  # the marker
        await _told(watchers, PrinterState.COVER_OPEN)


async def test_a_printer_moved_or_added_in_the_setup_is_read_at_its_new_address(
    hub: RunningHub, printer: PrinterEmulator
) -> None:
    """setup.printer.put moves the printer to another port (a printer out of paper there): the agent reads it at
    once; a printer added while it runs is read and told too."""
    await _put_printer(hub, printer.port)
    watchers = await _watchers(hub)
    async with await PrinterEmulator.start() as elsewhere, _agent(hub):
        await _told(watchers, PrinterState.ONLINE)
        elsewhere.paper_out = True
        await _put_printer(hub, elsewhere.port)
        moved = await _told(watchers, PrinterState.PAPER_OUT)
        assert moved["name"] == "Grill"
        await _put_printer(hub, printer.port, "pass", "Pass")
        added = await _told(watchers, PrinterState.ONLINE, "pass")
        assert added["name"] == "Pass"


async def test_screens_and_print_agents_are_counted_apart(hub: RunningHub) -> None:
    """A grill screen counts for its station, not as a print agent; a PRINTER following `printing` counts as
    connected (on any node) until its last socket goes, and never as a screen."""
    store, now = hub.hub.store, lambda: int(time.time() * 1000)
    grill = await hub.kitchen("grill")
    await grill.subscribe("kitchen:grill")
    agent = await hub.client(Role.PRINTER, device="print-agent-1")
    await agent.subscribe("printing")
    assert "grill" in await store.live_stations(hub.rid, now())
    assert await store.print_agent_connected(hub.rid, "print-agent-1", now())
    assert not await store.print_agent_connected(hub.rid, "kds-grill", now())
    assert "print-agent-1" not in await store.live_stations(hub.rid, now())
    again = await hub.client(Role.PRINTER, device="print-agent-1")
    await again.subscribe("printing")
    agents = hub.hub.print_agents
    await agent.close()  # one of its two sockets: still connected
    await _until(lambda: agents._counts.get((hub.rid, "print-agent-1")) == 1)
    assert await store.print_agent_connected(hub.rid, "print-agent-1", now())
    await again.close()
    await _until(lambda: agents._counts == {} and agents._tasks == set())
    assert not await store.print_agent_connected(hub.rid, "print-agent-1", now())
    await grill.close()
    await _until(lambda: hub.hub.presence._counts == {} and hub.hub.presence._tasks == set())
    assert "grill" not in await store.live_stations(hub.rid, now())


async def _until(condition: Any) -> None:
    """Wait for a state nothing announces (the hub's own counts of sockets), checking it often."""
    async with asyncio.timeout(WAIT):
        while not condition():
            await asyncio.sleep(0.02)


async def test_bad_reports_are_refused_and_change_nothing(hub: RunningHub, printer: PrinterEmulator) -> None:
    """An unknown printer (NOT_FOUND, named), a role that is no print agent (FORBIDDEN), a state that is no state
    or the hub's own UNKNOWN (INVALID_COMMAND): each refused with a clear message; the stored state is the same."""
    await _put_printer(hub, printer.port)
    agent = await hub.client(Role.PRINTER, device="print-agent-1")
    told = await agent.command("print.status", {"printer_id": "kitchen", "state": "PAPER_OUT"})
    before = told["result"]["health"]
    with pytest.raises(HubError) as unknown:
        await agent.command("print.status", {"printer_id": "bar", "state": "ONLINE"})
    assert unknown.value.code == "NOT_FOUND" and "no printer 'bar'" in str(unknown.value)
    for role in (Role.WAITER, Role.EXPO, Role.MANAGER, Role.KITCHEN):
        someone = await hub.client(role, device=f"{role.value.lower()}-9")
        with pytest.raises(HubError) as forbidden:
            await someone.command("print.status", {"printer_id": "kitchen", "state": "ONLINE"})
        assert forbidden.value.code == "FORBIDDEN", role
    for state in ("ON_FIRE", "UNKNOWN", "online", 3):
        with pytest.raises(HubError) as invalid:
            await agent.command("print.status", {"printer_id": "kitchen", "state": state})
        assert invalid.value.code == "INVALID_COMMAND" and invalid.value.frame["details"]["errors"][0]["loc"] == [
            "state"
        ]
    with pytest.raises(HubError) as long_detail:
        await agent.command("print.status", {"printer_id": "kitchen", "state": "OFFLINE", "detail": "x" * 201})
    assert long_detail.value.code == "INVALID_COMMAND"
    for channel in ("expo", "manager", "printing"):
        assert await _health(hub, channel) == before
