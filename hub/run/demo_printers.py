"""The demo's printers: an ESC/POS emulator per kitchen station, one at the cashier's desk and a backup.

``fireflow demo`` should show a newcomer a ticket coming off a printer without one on the desk. So
the demo runs loopback printers (:class:`~fireflow.clients.printers.emulator.PrinterEmulator`) in
its own process, puts them in the demo restaurant's setup (``fireflow.hub.run.demo.with_printers``)
and prints on them with the same :class:`~fireflow.clients.printers.agent.PrintAgent` as
``fireflow print-agent``, run in-process with a printer token: the hub itself is unchanged, and
every ticket takes the road a real printer's does (job, claim, ESC/POS bytes over TCP, status,
``print.done``). What each emulator decoded is kept in memory and shown by ``/printers``
(:meth:`DemoPrinters.view`, read by ``fireflow.hub.transports.pages``).

Ports: 9101 on, a port per printer in :func:`~fireflow.hub.run.demo.printer_ids` order, or a free
one where that is taken. They are reserved (a socket listens, accepting nothing) before the hub
starts, so the setup and the startup lines can name them, and released only as each emulator
starts listening on its port.
A demo started again keeps its restaurant as it was left; only the addresses of the emulated
printers it still has are brought up to date (or, if it has no printer at all, it gets them).

:class:`DemoServer` runs it all in the hub's event loop: the emulators start before the hub, the
agent once the hub accepts connections, and both stop before the hub closes its sockets. If the
agent stops on its own it says so (an error in the log, and on ``/printers``); tickets then wait as
PENDING jobs, as they would for a real agent that is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette

from fireflow.clients.printers.agent import PrintAgent
from fireflow.clients.printers.emulator import Line, Printed, PrinterEmulator
from fireflow.hub.commands.pins import Pins
from fireflow.hub.domain.actors import Role
from fireflow.hub.live.store import Store
from fireflow.hub.run.demo import DEMO_ID, demo_setup, printer_ids, with_printers
from fireflow.hub.run.demo_erpnext import DemoErpNext
from fireflow.hub.run.setup_files import export_setup, import_setup
from fireflow.hub.transports.tokens import mint
from fireflow.schema.records import Routing
from fireflow.schema.setup import RestaurantSetup

__all__ = [
    "AGENT_DEVICE",
    "FIRST_PORT",
    "LOOPBACK",
    "TICKETS_SHOWN",
    "DemoPrinter",
    "DemoPrinters",
    "DemoServer",
    "demo_server",
    "ticket_view",
]

logger = logging.getLogger(__name__)

FIRST_PORT = 9101  # 9100 is a real printer's (and the emulator command's default): left free for one
LOOPBACK = "127.0.0.1"
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
TICKETS_SHOWN = 30  # per printer on /printers, newest first
AGENT_DEVICE = "print-agent-demo"


@dataclass(frozen=True)
class DemoPrinter:
    """One emulated printer as the demo's setup has it, and what prints on it, in a few words."""

    id: str
    name: str
    port: int
    columns: int
    serves: str


def _reserve(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port`` (0: any free port), never accepting: the port is ours until it is closed.

    Bound as asyncio's server binds (a port with connections in TIME_WAIT is free), and listening, because
    on Linux another socket with SO_REUSEADDR could bind a port that is only bound.
    """
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(1)
    except OSError:
        sock.close()
        raise
    return sock


def _serves(setup: RestaurantSetup, printer_id: str) -> str:
    """What prints on ``printer_id`` by ``setup``: stations' tickets, a till's receipts, other printers' failures."""
    said = []
    stations = [s.name or s.id for s in setup.stations if s.routing is not Routing.SCREEN and s.printer == printer_id]
    if stations:
        said.append(f"kitchen tickets of {', '.join(stations)}")
    said += [f"receipts of the till {desk.id}" for desk in setup.desks if desk.printer == printer_id]
    backed = [p.id for p in setup.printers if p.backup == printer_id]
    if backed:
        said.append(f"backup of {', '.join(backed)}")
    return "; ".join(said) or "nothing routed to it"


def _line_view(line: Line) -> dict[str, Any]:
    """A printed line for the page: its spans' styles, and its size (the largest of its visible text)."""
    seen = [span for span in line.spans if span.text.strip()] or list(line.spans)
    return {
        "text": line.text,
        "align": line.align,
        "width": max((span.width for span in seen), default=1),
        "height": max((span.height for span in seen), default=1),
        "spans": [{"text": s.text, "bold": s.bold, "underline": s.underline, "inverse": s.inverse} for s in line.spans],
    }


def ticket_view(ticket: Printed, number: int) -> dict[str, Any]:
    """One ticket off the paper, as ``/printers.json`` gives it: ``number`` counts from 1 per printer."""
    return {
        "number": number,
        "at": int(ticket.at * 1000),
        "cut": ticket.cut,
        "text": ticket.text,
        "lines": [_line_view(line) for line in ticket.lines],
    }


class DemoPrinters:
    """The demo's emulated printers: ports reserved, then set up in the restaurant, then running with their agent.

    ``reserve`` binds the ports; ``set_up`` writes them into the restaurant's setup (and keeps only
    the printers that setup has); ``start`` makes the emulators listen; ``start_agent`` prints on
    them; ``stop`` ends both. ``version`` moves on with every ticket printed.
    """

    def __init__(self, held: Mapping[str, socket.socket], host: str = LOOPBACK) -> None:
        self.host = host
        self._held = dict(held)
        self.ports = {printer_id: sock.getsockname()[1] for printer_id, sock in held.items()}
        self.printers: dict[str, DemoPrinter] = {}
        self.emulators: dict[str, PrinterEmulator] = {}
        self.problems: dict[str, str] = {}  # printer id -> why its emulator is not running
        self.version = 0
        self.agent: PrintAgent | None = None
        self.agent_state = "not started"
        self.printing = asyncio.Event()  # set once the agent follows the hub
        self._agent_task: asyncio.Task[None] | None = None

    @classmethod
    def reserve(
        cls, ids: Sequence[str] | None = None, host: str = LOOPBACK, first_port: int = FIRST_PORT
    ) -> DemoPrinters:
        """Bind a port per printer: ``first_port`` on in order, or a free one where that is taken."""
        held: dict[str, socket.socket] = {}
        try:
            for n, printer_id in enumerate(ids if ids is not None else printer_ids()):
                try:
                    held[printer_id] = _reserve(host, first_port + n)
                except OSError:
                    held[printer_id] = _reserve(host, 0)
        except OSError:
            for sock in held.values():
                sock.close()
            raise
        return cls(held, host)

    def release(self) -> None:
        """Let go of the ports not listened on yet (after a failed start, or printers the setup does not have)."""
        for sock in self._held.values():
            sock.close()
        self._held.clear()

    @property
    def fixed_ports(self) -> bool:
        """Whether every printer got its port of the fixed range (else some took any free port)."""
        ports = sorted(self.ports.values())
        return ports == list(range(FIRST_PORT, FIRST_PORT + len(ports)))

    # -- the restaurant's setup -------------------------------------------------------------------

    async def set_up(self, store: Store, pins: Pins, setup: RestaurantSetup | None = None) -> bool:
        """Put these printers in the restaurant's setup; True if the restaurant was created now.

        A new restaurant is ``setup`` (the demo's) printing on them, and so is one with no printer at all
        (a data directory from before the demo printed, or the demo's file imported afresh). Any other
        is kept as it is, but for the address of each of these printers it still has on loopback (one
        moved to another host is a real printer now, and is left alone). Ports of printers it does not
        have are released.
        """
        setup = setup or demo_setup()
        rid = setup.profile.id
        created = await store.restaurant(rid, fresh=True) is None
        if created:
            setup = with_printers(setup, self.ports, self.host)
            await import_setup(store, pins, setup, create=True)
        else:
            found = await export_setup(store, rid)
            assert found is not None
            setup = found
            if not setup.printers:
                setup = with_printers(setup, self.ports, self.host)
                await import_setup(store, pins, setup)
            moved = tuple(
                p.model_copy(update={"host": self.host, "port": self.ports[p.id]}) if self._ours(p.id, p.host) else p
                for p in setup.printers
            )
            if moved != setup.printers:
                setup = setup.model_copy(update={"printers": moved})
                await import_setup(store, pins, setup)
        for printer in setup.printers:
            if self._ours(printer.id, printer.host):
                self.printers[printer.id] = DemoPrinter(
                    printer.id, printer.name or printer.id, printer.port, printer.columns, _serves(setup, printer.id)
                )
        for printer_id in list(self._held):
            if printer_id not in self.printers:
                self._held.pop(printer_id).close()
                self.ports.pop(printer_id)
        return created

    def _ours(self, printer_id: str, host: str) -> bool:
        return printer_id in self.ports and host in LOOPBACK_NAMES

    # -- running ----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Each emulator listens on its reserved port; one that cannot is logged, shown, and left off."""
        for printer_id, printer in self.printers.items():
            held = self._held.pop(printer_id, None)
            if held is not None:
                held.close()
            try:
                self.emulators[printer_id] = await PrinterEmulator.start(
                    self.host, printer.port, on_printed=self._printed
                )
            except OSError as exc:
                self.problems[printer_id] = f"cannot listen on {self.host}:{printer.port}: {exc.strerror or exc}"
                logger.error("demo printer %s %s; it counts as offline", printer_id, self.problems[printer_id])
        self.release()

    def _printed(self, ticket: Printed) -> None:
        self.version += 1

    def start_agent(self, hub_url: str, token: str) -> PrintAgent:
        """Print the hub's jobs for these printers, in this event loop, until :meth:`stop`."""
        agent = self.agent = PrintAgent(hub_url, token, printers=list(self.printers))
        self.agent_state = "connecting"
        self._agent_task = asyncio.create_task(self._run_agent(agent), name="demo-print-agent")
        return agent

    async def _run_agent(self, agent: PrintAgent) -> None:
        ready = asyncio.create_task(self._note_ready(agent))
        try:
            await agent.run()
        except Exception as exc:
            self.agent_state = f"stopped: {exc}"
            logger.exception("the demo's print agent stopped; tickets wait as PENDING jobs until the demo restarts")
        else:
            self.agent_state = "stopped"
        finally:
            ready.cancel()

    async def _note_ready(self, agent: PrintAgent) -> None:
        await agent.ready.wait()
        self.agent_state = "printing"
        self.version += 1
        self.printing.set()

    async def stop(self) -> None:
        """The agent finishes the job in hand and leaves, then the emulators stop."""
        if self.agent is not None and self._agent_task is not None:
            await self.agent.stop()
            await self._agent_task
        for emulator in self.emulators.values():
            await emulator.stop()
        self.release()

    # -- what they printed ------------------------------------------------------------------------

    def view(self) -> dict[str, Any]:
        """Every emulated printer with its newest :data:`TICKETS_SHOWN` tickets, newest first (``/printers.json``)."""
        printers = []
        for printer_id, printer in self.printers.items():
            emulator = self.emulators.get(printer_id)
            printed = emulator.printed if emulator is not None else []
            newest = range(len(printed) - 1, max(len(printed) - TICKETS_SHOWN, 0) - 1, -1)
            printers.append(
                {
                    "id": printer_id,
                    "name": printer.name,
                    "address": f"{self.host}:{printer.port}",
                    "columns": printer.columns,
                    "serves": printer.serves,
                    "listening": emulator is not None and not emulator.offline,
                    "problem": self.problems.get(printer_id, ""),
                    "printed": len(printed),
                    "tickets": [ticket_view(printed[n], n + 1) for n in newest],
                }
            )
        return {"emulated": True, "version": self.version, "agent": self.agent_state, "printers": printers}


def demo_server(
    app: Starlette,
    config: uvicorn.Config,
    printers: DemoPrinters | None,
    hub_url: str,
    secret: str,
    rid: str = DEMO_ID,
    companion: Callable[[], Awaitable[None]] | None = None,
    erpnext: DemoErpNext | None = None,
) -> DemoServer:
    """The demo's node: ``app`` served with ``printers`` (shown on /printers) and a print agent with a token of
    its own, its loopback ERPNext, and ``companion`` (the simulated service) run once the hub takes connections."""
    if printers is not None:
        app.state.demo_printers = printers
    token = mint(secret, rid, Role.PRINTER, device=AGENT_DEVICE)
    return DemoServer(config, printers, hub_url, token, companion, erpnext)


class DemoServer(uvicorn.Server):
    """A hub node that also runs the demo's printers, their print agent and a companion in its event loop."""

    def __init__(
        self,
        config: uvicorn.Config,
        printers: DemoPrinters | None,
        hub_url: str,
        token: str,
        companion: Callable[[], Awaitable[None]] | None = None,
        erpnext: DemoErpNext | None = None,
    ) -> None:
        super().__init__(config)
        self.erpnext = erpnext
        self.printers = printers
        self.hub_url = hub_url
        self.token = token
        self.companion = companion
        self._companion: asyncio.Task[None] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        if self.erpnext is not None:
            await self.erpnext.start()
        if self.printers is not None:
            await self.printers.start()
        await super().startup(sockets)
        if not self.started:
            if self.printers is not None:
                await self.printers.stop()
            if self.erpnext is not None:
                await self.erpnext.stop()
            return
        if self.printers is not None:
            self.printers.start_agent(self.hub_url, self.token)  # the hub accepts connections now
        if self.companion is not None:
            self._companion = asyncio.create_task(self._accompany(self.companion), name="demo-companion")

    @staticmethod
    async def _accompany(companion: Callable[[], Awaitable[None]]) -> None:
        try:
            await companion()
        except Exception:  # the demo's hub serves on without it
            logger.exception("the demo's companion stopped")

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._companion is not None:
            self._companion.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._companion
        if self.printers is not None:
            await self.printers.stop()  # the agent leaves before the hub closes its sockets
        await super().shutdown(sockets)
        if self.erpnext is not None:
            await self.erpnext.stop()  # after the hub: its outbox's last push gets an answer
