"""The loopback ESC/POS printer: python-escpos prints to it over TCP, asks its status, and meets its faults.

Real sockets on 127.0.0.1. python-escpos's ``Network`` printer is blocking, so it runs in a thread
while the emulator serves on the test's event loop; waits are on printed tickets, never sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

import pytest
from escpos.constants import RT_STATUS_ONLINE, RT_STATUS_PAPER
from escpos.printer import Dummy, Network

from fireflow.clients.printers.emulator import (
    Parser,
    Printed,
    PrinterEmulator,
    Span,
    StatusRequest,
    parse,
    status_byte,
)
from tests.conftest import ROOT, WAIT, free_port

T = TypeVar("T")
OFFLINE_CAUSE = b"\x10\x04\x02"  # DLE EOT 2


@pytest.fixture
async def printer() -> AsyncIterator[PrinterEmulator]:
    async with await PrinterEmulator.start() as emulator:
        yield emulator


def _job(*lines: str, bold: bool = False) -> bytes:
    """A job as python-escpos builds it: reset, code page, text, feed and cut."""
    job = Dummy()
    job.hw("INIT")
    job.charcode("CP858")
    job.set(bold=bold)
    for line in lines:
        job.textln(line)
    job.cut()
    return bytes(job.output)


async def _with_network(emulator: PrinterEmulator, use: Callable[[Network], T]) -> T:
    """Run ``use`` on a python-escpos network printer connected to the emulator, in a thread, then close it."""

    def run() -> T:
        device = Network("127.0.0.1", emulator.port, timeout=WAIT)
        device.open()
        try:
            return use(device)
        finally:
            device.close()

    return await asyncio.to_thread(run)


async def _send(port: int, data: bytes) -> socket.socket:
    """A raw client that sent ``data``; the caller reads the answer or the close, and closes it."""
    reader_writer = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    await asyncio.to_thread(reader_writer.sendall, data)
    return reader_writer


async def test_python_escpos_prints_through_the_network_and_the_ticket_is_decoded(printer: PrinterEmulator) -> None:
    """Network printer → TCP → emulator: the text, its styles and the cut come back as one Printed."""

    def print_ticket(device: Network) -> None:
        device.hw("INIT")
        device.charcode("CP858")
        device.set(align="center", bold=True, double_height=True, double_width=True)
        device.textln("GRILL")
        device.set(align="left", normal_textsize=True, bold=False, invert=True)
        device.textln("VOID 1 x Crème brûlée")
        device.set(invert=False)
        device.textln("plain")
        device.cut()

    await _with_network(printer, print_ticket)
    (ticket,) = await printer.wait_for(1, WAIT)
    assert ticket.cut and ticket.text == "GRILL\nVOID 1 x Crème brûlée\nplain" and not ticket.unknown
    grill, void, plain = ticket.lines
    # set() sends ESC ! for the size before ESC E: bold survives because the emulator applies them in order
    assert (grill.bold, grill.double, grill.inverse, grill.align) == (True, True, False, "center")
    assert (void.bold, void.double, void.inverse, void.align) == (False, False, True, "left")
    assert not (plain.bold or plain.double or plain.inverse)
    assert printer.connections == 1 and printer.discarded == []


async def test_status_queries_are_answered_as_the_epson_spec_says(printer: PrinterEmulator) -> None:
    """is_online / paper_status: online with paper; paper out is offline with no paper; cover open is offline."""

    def status(device: Network) -> tuple[bool, int, bytes]:
        return device.is_online(), device.paper_status(), device.query_status(OFFLINE_CAUSE)

    assert await _with_network(printer, status) == (True, 2, b"\x12")
    printer.paper_out = True
    assert await _with_network(printer, status) == (False, 0, b"\x32")  # cause: paper end (bit 5)
    printer.paper_out, printer.cover_open = False, True
    assert await _with_network(printer, status) == (False, 2, b"\x16")  # cause: cover open (bit 2)
    printer.cover_open = False
    assert await _with_network(printer, status) == (True, 2, b"\x12")
    assert status_byte(4, paper_out=True) == b"\x7e" and status_byte(3, cover_open=True) == b"\x12"


async def test_out_of_paper_nothing_prints_but_the_job_is_seen(printer: PrinterEmulator) -> None:
    """With the paper out the job is decoded but not printed; a status answer after it proves it was read."""
    printer.paper_out = True

    def print_then_ask(device: Network) -> int:
        device._raw(_job("2 x Fries"))
        return int(device.paper_status())

    assert await _with_network(printer, print_then_ask) == 0
    assert printer.printed == [] and [t.text for t in printer.discarded] == ["2 x Fries"]
    printer.paper_out = False
    await _with_network(printer, lambda device: device._raw(_job("1 x Fries")))
    assert [t.text for t in await printer.wait_for(1, WAIT)] == ["1 x Fries"]


async def test_an_offline_printer_refuses_connections_then_comes_back_on_its_port(printer: PrinterEmulator) -> None:
    """Switched off, the port refuses (python-escpos cannot open it); switched on, the same port prints again."""
    port = printer.port
    held = await _send(port, b"\x1b@half a ticket\n" + RT_STATUS_ONLINE)
    assert await asyncio.to_thread(held.recv, 1) == b"\x12"  # answered: the line before it was read
    await printer.set_offline(True)
    assert printer.offline
    # A raw connect: python-escpos's Network.open raises DeviceNotFoundError here but leaks its socket.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=WAIT).close()
    # The open connection was reset: what it had printed is reported, uncut.
    (half,) = await printer.wait_for(1, WAIT)
    assert (half.text, half.cut) == ("half a ticket", False)
    held.close()
    await printer.set_offline(False)
    assert printer.port == port and not printer.offline
    await _with_network(printer, lambda device: device._raw(_job("back")))
    assert [t.text for t in await printer.wait_for(2, WAIT)][1] == "back"


async def test_a_connection_dropped_mid_job_reports_the_part_printed_and_no_cut(printer: PrinterEmulator) -> None:
    """drop_after(n): the printer resets the connection after n bytes; the ticket so far is reported not cut."""
    job = _job("ORDER 12", "2 x Classic Burger", "1 x Ribeye steak")
    cut_at = job.index(b"1 x Ribeye")
    printer.drop_after(cut_at + 3)
    client = await _send(printer.port, job)
    with contextlib.closing(client):
        try:
            answer = await asyncio.to_thread(client.recv, 1)
        except ConnectionResetError:
            answer = b""
    assert answer == b""  # closed or reset: the sender learns the job may not have printed
    (partial,) = await printer.wait_for(1, WAIT)
    assert not partial.cut and partial.text == "ORDER 12\n2 x Classic Burger\n1 x"
    assert partial.raw == job[: cut_at + 3]
    printer.drop_after(None)
    await _with_network(printer, lambda device: device._raw(job))
    whole = (await printer.wait_for(2, WAIT))[1]
    assert whole.cut and whole.text.endswith("1 x Ribeye steak")


async def test_a_slow_printer_answers_and_prints_late(printer: PrinterEmulator) -> None:
    """slow(s): neither the status answer nor the ticket comes before s seconds; both come after."""
    delay = 0.3 * WAIT / 5
    printer.slow(delay)
    started = time.monotonic()

    def ask_then_print(device: Network) -> bool:
        online = bool(device.is_online())
        device._raw(_job("slow"))
        return online

    assert await _with_network(printer, ask_then_print)
    assert time.monotonic() - started >= delay
    assert [t.text for t in await printer.wait_for(1, WAIT)] == ["slow"]
    printer.slow(0)
    started = time.monotonic()
    assert await _with_network(printer, lambda device: bool(device.is_online()))
    assert time.monotonic() - started < delay


async def test_unknown_and_split_commands_never_stop_the_printer(printer: PrinterEmulator) -> None:
    """Garbage and unknown commands are skipped and named; bytes sent one at a time print the same ticket."""
    garbage = b"\x1b\xfe\x1d\xfe\x1c\xfeline\x10\x07" + b"\x1d(k\x03\x001A0" + b"\x1dV\x00"
    client = await _send(printer.port, garbage)
    client.close()
    (ticket,) = await printer.wait_for(1, WAIT)
    assert ticket.text == "line" and ticket.unknown == ("ESC 0xfe", "GS 0xfe", "FS 0xfe") and ticket.cut
    job = _job("one", "two", bold=True)
    with socket.create_connection(("127.0.0.1", printer.port), timeout=WAIT) as client:
        for byte in job:
            await asyncio.to_thread(client.sendall, bytes((byte,)))
    second = (await printer.wait_for(2, WAIT))[1]
    assert (second.text, second.cut, second.raw) == ("one\ntwo", True, job)
    assert all(line.bold for line in second.lines)


async def test_two_jobs_on_one_connection_are_two_tickets(printer: PrinterEmulator) -> None:
    """One cut, one ticket: two jobs sent back to back come off as two pieces of paper, in order."""
    await _with_network(printer, lambda device: device._raw(_job("first") + _job("second")))
    assert [(t.text, t.cut) for t in await printer.wait_for(2, WAIT)] == [("first", True), ("second", True)]


def test_the_parser_waits_for_the_rest_of_a_split_command_and_answers_status_in_order() -> None:
    """Fed byte by byte, the parser gives the same tickets and status requests as fed at once."""
    stream = RT_STATUS_ONLINE + _job("a") + RT_STATUS_PAPER + b"\x1dv0\x00\x01\x00\x02\x00\xff\x00" + b"\x1dV\x00"
    whole = Parser().feed(stream)
    parser = Parser()
    bytewise = [event for byte in stream for event in parser.feed(bytes((byte,)))]
    assert whole == bytewise
    assert [type(e).__name__ for e in whole] == ["StatusRequest", "Printed", "StatusRequest", "Printed"]
    assert whole[0] == StatusRequest(1) and whole[2] == StatusRequest(4)
    image = whole[3]
    assert isinstance(image, Printed) and image.images == 1 and image.text == "[image 8x2]"
    (uncut,) = parse(b"\x1b@no cut")
    assert (uncut.text, uncut.cut, uncut.raw, uncut.lines[0].spans) == (
        "no cut",
        False,
        b"\x1b@no cut",
        (Span("no cut"),),
    )
    assert parse(b"\x1b@\x1bd\x03") == []  # feeding paper is no ticket


def test_the_command_line_printer_shows_what_it_printed() -> None:
    """`python -m fireflow.clients.printers.emulator --port N` prints each decoded ticket to the terminal."""
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "fireflow.clients.printers.emulator", "--port", str(port), "--width", "32"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        assert process.stdout is not None
        assert f"127.0.0.1:{port}" in process.stdout.readline()
        with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as client:
            client.sendall(_job("2 x Fries", bold=True))
        shown = [process.stdout.readline() for _ in range(3)]
        assert shown[1].startswith("B  |2 x Fries") and shown[2].rstrip().endswith(" cut")
    finally:
        process.terminate()
        process.wait(WAIT)
        if process.stdout is not None:
            process.stdout.close()
