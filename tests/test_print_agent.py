"""The print agent: jobs printed on the loopback ESC/POS printer over real sockets, and confirmed only when it says so.

First the printing path alone (render, connect, status, write, status again) against the emulator and
its faults; then the agent end to end with a real hub (Redis and Postgres): one fire, one ticket,
whatever is retried, however many agents, across a lost link, an agent's restart, an agent killed
mid-job (the hub's policy: never printed again by itself) and a hub node killed. Waits are on printed
tickets, on the agent's outcomes and on the hub's events, never on sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from fireflow.clients.printers.agent import (
    CONNECT_TIMEOUT,
    STATUS_QUERY,
    WRITE_TIMEOUT,
    Outcome,
    PrintAgent,
    PrintFailed,
    Status,
    hub_ws_url,
    print_bytes,
    status_from,
)
from fireflow.clients.printers.emulator import Parser, Printed, PrinterEmulator, status_byte
from fireflow.clients.python import HubClient, HubError
from fireflow.hub.domain.actors import Role
from fireflow.hub.printing import render
from fireflow.hub.run import cli
from fireflow.schema.records import KitchenTicket
from tests.conftest import (
    ROOT,
    WAIT,
    NodeProcess,
    RunningHub,
    Servers,
    free_port,
    seed,
    serve_in_process,
    settings_for,
)
from tests.domain_support import add, fire, opened, tickets
from tests.helpers import new_order, running_agent

QUICK = 0.2 * WAIT / 5  # a timeout meant to run out: a printer that does not answer


@pytest.fixture
async def printer() -> AsyncIterator[PrinterEmulator]:
    async with await PrinterEmulator.start() as emulator:
        yield emulator


def _ticket() -> KitchenTicket:
    """The grill's ticket for a takeaway of two medium burgers with a note."""
    order = opened().orders[0]
    order = add(order, "burger", 2, modifiers={"doneness": ["medium"]}, notes="no onion").orders[0]
    (ticket,) = tickets(fire(order), "kitchen:grill")
    return ticket


def _kot() -> bytes:
    return render.kot(_ticket(), station_name="Grill", fired_by="waiter-1", now_text="19:42")


async def _send(printer: PrinterEmulator, data: bytes, timeout: float = WAIT) -> Status:
    return await print_bytes("127.0.0.1", printer.port, data, connect_timeout=timeout, write_timeout=timeout)


async def _refused(printer: PrinterEmulator, data: bytes, timeout: float = WAIT) -> PrintFailed:
    with pytest.raises(PrintFailed) as failed:
        await _send(printer, data, timeout)
    return failed.value


# -- the printer's status, without a printer -------------------------------------------------------------


def test_status_bytes_decode_as_the_epson_spec_says() -> None:
    """Online with paper; paper out and cover open name their cause; a near end is not a failure; junk is refused."""

    def answer(**faults: bool) -> bytes:
        return b"".join(status_byte(n, **faults) for n in (1, 2, 4))

    assert status_from(answer()) == Status(online=True) and Status(online=True).problem is None
    assert status_from(answer(paper_out=True)).problem == "paper out"
    assert status_from(answer(cover_open=True)).problem == "cover open"
    assert status_from(b"\x1a\x12\x12").problem == "offline"  # offline, no cause given
    assert status_from(b"\x12\x52\x12").problem == "printer error"
    low = status_from(b"\x12\x12\x1e")  # paper near its end: still prints
    assert low.paper_low and low.problem is None
    for junk in (b"", b"\x12\x12", b"\x00\x12\x12", b"\x12\x12\x92"):
        with pytest.raises(ValueError):
            status_from(junk)


def test_the_hub_url_a_person_types_becomes_its_websocket_url() -> None:
    """http(s) becomes ws(s) on /ws; a ws URL with a path stays; anything else is refused."""
    assert hub_ws_url("https://hub.example.com") == "wss://hub.example.com/ws"
    assert hub_ws_url("http://10.0.0.5:8000/") == "ws://10.0.0.5:8000/ws"
    assert hub_ws_url(" ws://127.0.0.1:8000/ws ") == "ws://127.0.0.1:8000/ws"
    for bad in ("hub.example.com", "ftp://hub", "https://"):
        with pytest.raises(ValueError):
            hub_ws_url(bad)


# -- the printing path against the emulator --------------------------------------------------------------


async def test_a_kot_is_printed_once_with_its_lines_and_the_printer_answers_fine(printer: PrinterEmulator) -> None:
    """Rendered, sent over TCP, asked before and after: one ticket, cut, with what the cook must read."""
    status = await _send(printer, _kot())
    assert status == Status(online=True)
    (ticket,) = await printer.wait_for(1, WAIT)
    assert ticket.cut and not ticket.unknown
    texts = [line.text.strip() for line in ticket.lines]
    assert texts[:3] == ["GRILL", "ORDER #1", "TAKEAWAY TOKEN 1"]
    assert "Fired 19:42 by waiter-1" in texts and "2 x Classic Burger" in texts
    assert "Medium" in texts and "NOTE: no onion" in texts
    assert printer.connections == 1 and printer.discarded == []


async def test_an_offline_printer_is_reported_offline_and_nothing_is_sent(printer: PrinterEmulator) -> None:
    """Connection refused: reason "offline", no byte sent; back online, the same job prints."""
    await printer.set_offline(True)
    failed = await _refused(printer, _kot())
    assert (failed.reason, failed.sent) == ("offline", False)
    await printer.set_offline(False)
    await _send(printer, _kot())
    assert len(await printer.wait_for(1, WAIT)) == 1


@pytest.mark.parametrize(("fault", "reason"), [("paper_out", "paper out"), ("cover_open", "cover open")])
async def test_a_printer_that_cannot_print_is_not_sent_the_job(
    printer: PrinterEmulator, fault: str, reason: str
) -> None:
    """Out of paper or cover open: the status before the job says so; the job is not written, so it cannot
    come out later once the paper is back (after the backup printed it)."""
    setattr(printer, fault, True)
    failed = await _refused(printer, _kot())
    assert (failed.reason, failed.sent) == (reason, False)
    await printer.stop()  # every connection ended: whatever it read has been decoded
    assert printer.printed == [] and printer.discarded == []


async def test_paper_running_out_during_the_job_is_not_confirmed() -> None:
    """The status after the job says paper out: failed "paper out", sent (it may or may not be on paper)."""

    def run_out(ticket: Printed) -> None:
        emulator.paper_out = True  # the roll ends as this ticket is cut

    async with await PrinterEmulator.start(on_printed=run_out) as emulator:
        failed = await _refused(emulator, _kot())
        assert (failed.reason, failed.sent) == ("paper out", True)
        assert len(emulator.printed) == 1


async def test_a_connection_dropped_mid_job_is_not_confirmed(printer: PrinterEmulator) -> None:
    """drop_after: the printer resets mid-job; "connection lost", sent, and the paper shows half a ticket, uncut."""
    data = _kot()
    printer.drop_after(len(STATUS_QUERY) + len(data) // 2)  # the status query, then half the job
    failed = await _refused(printer, data)
    assert (failed.reason, failed.sent) == ("connection lost", True)
    (half,) = await printer.wait_for(1, WAIT)
    assert not half.cut and half.text.startswith("GRILL")


async def test_a_printer_that_does_not_answer_in_time_is_not_sent_the_job(printer: PrinterEmulator) -> None:
    """A printer that reads nothing within the timeout: "no answer" before any byte of the job left."""
    printer.slow(10 * WAIT)
    failed = await _refused(printer, _kot(), timeout=QUICK)
    assert (failed.reason, failed.sent) == ("no answer", False)
    assert printer.printed == []


async def test_an_unknown_printer_host_is_named(printer: PrinterEmulator) -> None:
    """A host that does not resolve is its own reason, not "offline"."""
    with pytest.raises(PrintFailed) as failed:
        await print_bytes("printer.invalid", 9100, b"", connect_timeout=WAIT, write_timeout=WAIT)
    assert failed.value.reason == "unknown host printer.invalid" and not failed.value.sent


# -- the agent with a real hub ---------------------------------------------------------------------------


async def _print_grill_on(hub: RunningHub, emulator_port: int, *, confirm_s: int | None = None) -> None:
    """The grill prints (and shows) its tickets on printer "kitchen", at the emulator's port."""
    printer = {"id": "kitchen", "name": "Kitchen", "host": "127.0.0.1", "port": emulator_port, "columns": 42}
    station = {"id": "grill", "name": "Grill", "routing": "BOTH", "printer": "kitchen"}
    async with hub.http(Role.MANAGER) as http:
        answer = await http.put("/api/v1/setup/printers", json={"printer": printer})
        assert answer.status_code == 200, answer.text
        answer = await http.put("/api/v1/setup/stations", json={"station": station})
        assert answer.status_code == 200, answer.text
        if confirm_s is not None:
            answer = await http.put("/api/v1/kitchen/settings", json={"print_confirm_s": confirm_s})
            assert answer.status_code == 200, answer.text


def _agent(hub: RunningHub, device: str = "print-agent-1", **kw: Any) -> PrintAgent:
    return PrintAgent(hub.ws_url, hub.token(Role.PRINTER, device=device), **kw)


async def _fire(waiter: HubClient, *items: str, command_id: str | None = None) -> tuple[str, str]:
    """A takeaway order of ``items`` fired; its id and the grill job's id (its grill ticket's)."""
    order_id = await new_order(waiter, *items)
    await waiter.command("order.fire", {"order_id": order_id}, id=command_id)
    return order_id, f"{order_id}:t1"


def _orders(printed: list[Printed]) -> list[str]:
    return [next(line.text.strip() for line in ticket.lines if "ORDER #" in line.text) for ticket in printed]


async def test_a_fire_prints_one_kot_and_nothing_repeats_it(hub: RunningHub, printer: PrinterEmulator) -> None:
    """One fire, one KOT with its lines; fired again with nothing new, or retried with its id: still one."""
    await _print_grill_on(hub, printer.port)
    waiter = await hub.client(Role.WAITER)
    async with running_agent(_agent(hub), WAIT) as agent:
        order_id, job_id = await _fire(waiter, "burger", command_id="fire-once")
        assert (await agent.result(job_id, WAIT)).outcome is Outcome.PRINTED
        (ticket,) = await printer.wait_for(1, WAIT)
        assert ticket.cut and "1 x Classic Burger" in [line.text for line in ticket.lines]
        assert "GRILL" in ticket.text and "by waiter-1" in ticket.text
        again = await waiter.command("order.fire", {"order_id": order_id}, id="fire-once")  # the stored answer
        with contextlib.suppress(HubError):  # nothing new to fire: refused, or a fire with no ticket
            await waiter.command("order.fire", {"order_id": order_id})
        assert again["op"] == "ack"
        # A second order behind them on the same printer: once it is handled, so is anything before it.
        _, marker = await _fire(waiter, "burger")
        assert (await agent.result(marker, WAIT)).outcome is Outcome.PRINTED
    assert _orders(await printer.wait_for(2, WAIT)) == ["ORDER #1", "ORDER #2"]
    assert len(printer.printed) == 2


async def test_more_of_a_line_and_a_void_print_marked(hub: RunningHub, printer: PrinterEmulator) -> None:
    """A fired burger, two more fired (+2), then two taken off (VOID): three tickets, the last two marked."""
    await _print_grill_on(hub, printer.port)
    waiter = await hub.client(Role.WAITER)
    async with running_agent(_agent(hub), WAIT):
        order_id, _ = await _fire(waiter, "burger")
        await waiter.command("order.change_item", {"order_id": order_id, "line_id": "L1", "quantity": 3})
        await waiter.command("order.fire", {"order_id": order_id})
        await waiter.command("order.change_item", {"order_id": order_id, "line_id": "L1", "quantity": 1})
        fired, more, void = ([line.text.strip() for line in t.lines] for t in await printer.wait_for(3, WAIT))
    assert "1 x Classic Burger" in fired and "+2 x Classic Burger" in more and "3 in all now" in more
    assert void[0] == "VOID" and "VOID 2 x Classic Burger" in void and "STOP - 1 still to make" in void
    assert len(printer.printed) == 3


async def test_two_agents_print_each_job_once(hub: RunningHub, printer: PrinterEmulator) -> None:
    """Two agents of one restaurant follow the same printer: each job is claimed and printed by exactly one."""
    await _print_grill_on(hub, printer.port)
    waiter = await hub.client(Role.WAITER)
    async with (
        running_agent(_agent(hub, "print-agent-1"), WAIT) as one,
        running_agent(_agent(hub, "print-agent-2"), WAIT) as two,
    ):
        jobs = [(await _fire(waiter, "burger"))[1] for _ in range(4)]
        for job_id in jobs:  # each agent handles its jobs in order: the last one known means all are
            outcomes = sorted([(await one.result(job_id, WAIT)).outcome, (await two.result(job_id, WAIT)).outcome])
            assert outcomes == [Outcome.PRINTED, Outcome.TAKEN], (job_id, outcomes)
    assert sorted(_orders(await printer.wait_for(4, WAIT))) == [f"ORDER #{n}" for n in range(1, 5)]
    assert len(printer.printed) == 4


async def test_an_agent_that_reconnects_or_restarts_prints_what_it_missed_once(
    hub: RunningHub, printer: PrinterEmulator
) -> None:
    """A lost link resumes and a new agent process starts from the snapshot: missed jobs print, none twice."""
    await _print_grill_on(hub, printer.port)
    waiter = await hub.client(Role.WAITER)
    async with running_agent(_agent(hub), WAIT) as agent:
        _, first = await _fire(waiter, "burger")
        assert (await agent.result(first, WAIT)).outcome is Outcome.PRINTED
        assert agent.client is not None
        agent.client.ws.transport.abort()  # the link drops; the agent's client resumes by itself
        assert await asyncio.wait_for(agent.client.lost_links.get(), WAIT) == 1006
        _, missed = await _fire(waiter, "burger")
        assert (await agent.result(missed, WAIT)).outcome is Outcome.PRINTED
    _, while_stopped = await _fire(waiter, "burger")  # no agent running: the job waits, PENDING
    async with running_agent(_agent(hub), WAIT) as again:
        assert (await again.result(while_stopped, WAIT)).outcome is Outcome.PRINTED
        _, marker = await _fire(waiter, "burger")
        assert (await again.result(marker, WAIT)).outcome is Outcome.PRINTED
    assert _orders(await printer.wait_for(4, WAIT)) == [f"ORDER #{n}" for n in range(1, 5)]
    assert len(printer.printed) == 4


async def test_a_printer_that_is_off_fails_the_job_with_its_reason(hub: RunningHub, printer: PrinterEmulator) -> None:
    """The hub hears "offline" for a printer switched off, and "paper out" for one out of paper; nothing printed."""
    await _print_grill_on(hub, printer.port)
    waiter = await hub.client(Role.WAITER)
    manager = await hub.client(Role.MANAGER, device="manager-1")
    await manager.subscribe("printing")
    async with running_agent(_agent(hub), WAIT) as agent:
        await printer.set_offline(True)
        _, off = await _fire(waiter, "burger")
        assert (await agent.result(off, WAIT)).reason == "offline"
        await printer.set_offline(False)
        printer.paper_out = True
        _, no_paper = await _fire(waiter, "burger")
        assert (await agent.result(no_paper, WAIT)).reason == "paper out"
    failed = {job["id"]: job for job in await _jobs(manager, 2, "FAILED")}
    assert (failed[off]["reason"], failed[no_paper]["reason"]) == ("offline", "paper out")
    await printer.stop()
    assert printer.printed == [] and printer.discarded == []


async def _jobs(client: HubClient, count: int, state: str) -> list[dict[str, Any]]:
    """The next ``count`` jobs the hub says moved to ``state`` (PRINT_JOB_CHANGED)."""
    found: list[dict[str, Any]] = []
    async with asyncio.timeout(WAIT):
        while len(found) < count:
            event = await client.events.get()
            if event["type"] == "PRINT_JOB_CHANGED" and event["data"]["job"]["state"] == state:
                found.append(event["data"]["job"])
    return found


async def _printer_said(client: HubClient, state: str, timeout: float) -> None:
    """Wait for the hub to say (PRINTER_STATUS) that a printer is in ``state``: an agent started as a process
    has read it, so it follows the hub; a job fired before that could outlive a short lease unclaimed."""
    async with asyncio.timeout(timeout):
        while True:
            event = await client.events.get()
            if event["type"] == "PRINTER_STATUS" and event["data"]["health"]["state"] == state:
                return


class _HungPrinter:
    """A printer that answers the status before a job, takes the whole job, then never answers again."""

    def __init__(self) -> None:
        self.received = asyncio.Event()
        self.jobs = 0  # connections that brought a whole job (the agent's status reads bring none)
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        await reader.readexactly(len(STATUS_QUERY))
        writer.write(b"\x12\x12\x12")  # online, paper in
        parser = Parser()
        while chunk := await reader.read(4096):
            if any(isinstance(event, Printed) for event in parser.feed(chunk)):
                self.jobs += 1
                self.received.set()  # the whole job, cut; the status asked after it is never answered
        writer.close()

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        await self._server.wait_closed()


@pytest.mark.parametrize("lease_s", [1, 600])
async def test_an_agent_killed_mid_job_never_prints_it_again(
    hub: RunningHub, printer: PrinterEmulator, tmp_path: Path, lease_s: int
) -> None:
    """kill -9 of `fireflow print-agent` once the printer took the job, before its answer: started again, the
    agent does not print it, whether the hub still has it CLAIMED by it or, its lease over, UNCONFIRMED."""
    hung = _HungPrinter()
    await _print_grill_on(hub, await hung.start(), confirm_s=lease_s)
    waiter = await hub.client(Role.WAITER)
    manager = await hub.client(Role.MANAGER, device="manager-1")
    await manager.subscribe("printing")
    token = hub.token(Role.PRINTER, device="print-agent-1")
    command = [sys.executable, "-m", "fireflow.hub.run.cli", "print-agent", "--hub", hub.url]
    command += ["--write-timeout", str(20 * WAIT)]  # it waits for the printer's answer until killed
    env = {**os.environ, "FIREFLOW_PRINT_TOKEN": token, "FIREFLOW_LOG_FORMAT": "text"}
    with (tmp_path / "agent.log").open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            await _printer_said(manager, "ONLINE", 4 * WAIT)  # the agent is up: the job is claimed before its lease
            _, job_id = await _fire(waiter, "burger")
            await asyncio.wait_for(hung.received.wait(), 4 * WAIT)  # the whole job is at the printer
        finally:
            process.kill()
            process.wait(WAIT)
    if lease_s == 1:  # the stated policy: the lease ends, the job is UNCONFIRMED and told, not printed again
        (unconfirmed,) = await _jobs(manager, 1, "UNCONFIRMED")
        assert (unconfirmed["id"], unconfirmed["claimed_by"]) == (job_id, "print-agent-1")
    await _print_grill_on(hub, printer.port)  # the printer back (at the emulator): the same agent starts again
    async with running_agent(_agent(hub), WAIT) as again:
        _, marker = await _fire(waiter, "burger")
        assert (await again.result(marker, WAIT)).outcome is Outcome.PRINTED
        assert job_id not in again.results
    assert _orders(printer.printed) == ["ORDER #2"] and hung.jobs == 1
    await hung.stop()


# -- the hub's frame rate limit ----------------------------------------------------------------------------

SLOW_RATE, SLOW_BURST = 20.0, 10.0  # frames/s and burst per socket: a burst of fires outruns it at once


async def _print_each_station_on(hub: RunningHub, ports: dict[str, int], backup: int) -> None:
    """Grill and fry each print on a printer of their own (named as the station), both backed by "backup"."""
    async with hub.http(Role.MANAGER) as http:
        printers = [{"id": "backup", "name": "Backup", "host": "127.0.0.1", "port": backup}]
        printers += [
            {"id": station, "name": station, "host": "127.0.0.1", "port": port, "backup": "backup"}
            for station, port in ports.items()
        ]
        for printer in printers:
            answer = await http.put("/api/v1/setup/printers", json={"printer": printer})
            assert answer.status_code == 200, answer.text
        for station in ports:
            setup = {"id": station, "name": station.title(), "routing": "BOTH", "printer": station}
            answer = await http.put("/api/v1/setup/stations", json={"station": setup})
            assert answer.status_code == 200, answer.text


async def _http_command(http: Any, type_: str, data: dict[str, Any]) -> dict[str, Any]:
    answer = await http.post("/api/v1/commands", json={"type": type_, "data": data})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_an_agent_over_the_hub_s_frame_rate_waits_and_prints_every_ticket_once(
    servers: Servers, redis: Any, rid: str
) -> None:
    """A burst of fires on two stations past the hub's frame rate: the agent is told RATE_LIMITED, waits and sends
    the same command again; every ticket prints once on its own station's printer, none on the backup or the
    manual list, and the hub has them all PRINTED."""
    orders = 20
    await seed(servers, rid)
    settings = settings_for(servers, rate=SLOW_RATE, burst=SLOW_BURST)
    async with (
        serve_in_process(settings, rid) as hub,
        await PrinterEmulator.start() as grill,
        await PrinterEmulator.start() as fry,
        await PrinterEmulator.start() as backup,
    ):
        await _print_each_station_on(hub, {"grill": grill.port, "fry": fry.port}, backup.port)
        async with hub.http(Role.WAITER) as http:  # over HTTP: the waiter's own socket would be rate-limited too
            order_ids = []
            for _ in range(orders):
                opened = await _http_command(http, "order.open", {"type": "TAKEAWAY"})
                order_id = opened["result"]["order"]["id"]
                for item in ("burger", "fries"):  # one ticket on the grill, one on the fry station
                    await _http_command(http, "order.add_item", {"order_id": order_id, "menu_item_id": item})
                order_ids.append(order_id)
            async with running_agent(_agent(hub), WAIT) as agent:
                assert agent.client is not None
                agent.client.trace = []  # every frame the hub sends the agent from here on
                await asyncio.gather(*(_http_command(http, "order.fire", {"order_id": o}) for o in order_ids))
                results = await agent.results_when(2 * orders, 6 * WAIT)
                refused = [f for f in agent.client.trace if f.get("op") == "error" and f["code"] == "RATE_LIMITED"]
                assert refused, "the agent was never rate-limited: this test proves nothing"
                assert [r for r in results if r.outcome is not Outcome.PRINTED] == []
                assert sorted(r.printer for r in results) == ["fry"] * orders + ["grill"] * orders
                manager = await hub.client(Role.MANAGER, device="manager-1")
                pending = (await manager.subscribe("printing"))["snapshot"]["printing"]["jobs"]
                manual = (await manager.subscribe("manager"))["snapshot"]["manager"]["manual"]
                assert (pending, manual) == ([], [])
    expected = sorted(f"ORDER #{n}" for n in range(1, orders + 1))
    assert sorted(_orders(grill.printed)) == expected and sorted(_orders(fry.printed)) == expected
    assert all("Classic Burger" in t.text for t in grill.printed) and backup.printed == []


def test_the_command_line_defaults_are_the_agents() -> None:
    """`fireflow print-agent`'s documented timeouts are the agent's own defaults."""
    assert (cli.PRINTER_CONNECT_TIMEOUT, cli.PRINTER_WRITE_TIMEOUT) == (CONNECT_TIMEOUT, WRITE_TIMEOUT)


async def test_a_refused_token_stops_the_command_with_one_line(hub: RunningHub) -> None:
    """`fireflow print-agent` with a token the hub refuses: one line on stderr naming it, exit code 1."""
    command = [sys.executable, "-m", "fireflow.hub.run.cli", "print-agent", "--hub", hub.url, "--token", "nonsense"]
    process = await asyncio.create_subprocess_exec(
        *command, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(process.communicate(), 4 * WAIT)
    lines = err.decode().strip().splitlines()
    assert process.returncode == 1 and len(lines) == 1, lines
    assert lines[0].startswith("fireflow print-agent: the hub refused the token: UNAUTHENTICATED")


@pytest.mark.slow
async def test_a_hub_killed_and_restarted_leaves_each_job_printed_once(
    servers: Servers, redis: Any, rid: str, printer: PrinterEmulator, tmp_path: Path
) -> None:
    """kill -9 of the hub node after a job printed: the agent resumes on the restarted node; the printed job stays
    printed, a job fired meanwhile on another node prints once."""
    await seed(servers, rid)
    log = tmp_path / "nodes.log"
    node, other = (NodeProcess(servers, free_port(), log) for _ in range(2))
    started = [node, other]
    try:
        await node.ready()
        await other.ready()
        at_node = RunningHub(node.url, settings_for(servers), rid)
        await _print_grill_on(at_node, printer.port)
        waiter = await HubClient.connect(other.ws_url, at_node.token(Role.WAITER))
        async with running_agent(_agent(at_node), WAIT) as agent:
            _, first = await _fire(waiter, "burger")
            assert (await agent.result(first, WAIT)).outcome is Outcome.PRINTED
            node.kill()
            _, meanwhile = await _fire(waiter, "burger")  # through the other node, while the agent's is dead
            restarted = NodeProcess(servers, node.port, log)
            started.append(restarted)
            await restarted.ready()
            assert (await agent.result(meanwhile, 4 * WAIT)).outcome is Outcome.PRINTED
            _, marker = await _fire(waiter, "burger")
            assert (await agent.result(marker, WAIT)).outcome is Outcome.PRINTED
        await waiter.close()
    finally:
        for each in started:
            each.stop()
    assert _orders(printer.printed) == ["ORDER #1", "ORDER #2", "ORDER #3"]
