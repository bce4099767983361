"""The print agent: the process at the restaurant that prints the hub's kitchen tickets on its LAN printers.

The hub may run far away; the printers sit on the restaurant's LAN, reachable only from inside it. The
agent connects *out* to the hub over protocol v1 with a PRINTER device token, follows the ``printing``
channel (its snapshot lists the jobs not yet printed and the printers; PRINT_JOB brings a new job,
PRINT_JOB_CHANGED a job's new state), and for each PENDING job of its printers:

1. claims it (``print.claim``): only the agent holding the claim prints it, so two agents of one
   restaurant never print the same job; a job it has not claimed is never printed;
2. renders it with python-escpos at the printer's width, by what it prints (:func:`render_job`): a kitchen
   ticket (``render.kot``), a customer's receipt (``render.receipt``) or the Z-report (``render.z_report``);
3. opens a raw TCP connection to the printer (port 9100 style) and asks its real-time status
   (DLE EOT 1, 2 and 4): a printer offline, out of paper or with its cover open is not sent the job;
4. writes the bytes, then asks the status again on the same connection: ``print.done`` only when the
   printer answers online with paper; otherwise ``print.failed`` with the reason (``offline``,
   ``paper out``, ``cover open``, ``no answer``, ``connection lost``, ...), and the hub's fallback
   chain takes over.

**A job it cannot confirm is never printed again by this agent.** A job the agent had CLAIMED when it
died (kill -9 between writing and the printer's answer) shows in the next snapshot as CLAIMED by this
device; it is left to the hub's stated policy (when the lease ends it is UNCONFIRMED and staff are
alerted), because a ticket printed twice is food cooked twice. On a reconnect the agent claims only
PENDING jobs, and never acts on a job version older than one it has already seen.

Jobs print one at a time per printer, in the order the hub sent them (a bounded queue and a worker per
printer), so a slow or dead printer delays only its own tickets. Each job's outcome is one log line.

Printer health: each printer's worker also reads its real-time status on a connection of its own, every
``status_every`` seconds, after each job and at once when the printer's address changes (PROFILE_CHANGED),
never while a job is on that printer, and tells the hub (``print.status``: ONLINE, OFFLINE, PAPER_OUT,
COVER_OPEN, :func:`health_from`) when what it read changed, once for every printer on every (re)connect,
and again when the hub says a printer is UNKNOWN (its agent left) while this agent can read it.

Printer I/O is plain asyncio streams with a timeout on every step: ``connect_timeout`` for the TCP
connection, ``write_timeout`` for the write and for each status answer. The worst case, connect
plus three times write, must stay inside the hub's claim lease (20 s), so the agent always answers
before the hub gives up on it.

The hub's frame rate limit (per socket, 100 frames/s, burst 200; schema/PROTOCOL.md "Limits"): the agent
paces its own frames under it (``frame_rate``, ``frame_burst``), so a burst of fired orders does not provoke
it. A command the hub refuses with a retryable error is not given up: RATE_LIMITED is waited out for its
``retry_after_s`` (bounded, with a little jitter; every frame of the agent waits, since the limit is the
socket's), BUSY and UNAVAILABLE with a growing backoff, and the same command is sent again with the same id,
which the hub runs once; all within ``COMMAND_TIMEOUT`` of the first send. ``refusals`` counts them by code.

Errors: :class:`PrintFailed` (one print attempt, with its reason and whether any byte was sent) stays
inside the agent; :class:`AgentError` (the hub refused the token or the channel) ends :meth:`PrintAgent.run`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import random
import secrets
import signal
import socket
import time
import types
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import websockets
from PIL import ImageFont

from fireflow.clients.python import HubClient, HubError
from fireflow.clients.python.pacer import Pacer
from fireflow.hub.printing import render
from fireflow.hub.retry import Backoff
from fireflow.schema.records import Printer, PrinterState, PrintJob, PrintJobState, PrintKind

__all__ = [
    "CHANNEL",
    "CONNECT_TIMEOUT",
    "FRAME_BURST",
    "FRAME_RATE",
    "QUEUE_LIMIT",
    "STATUS_EVERY",
    "STATUS_QUERY",
    "WRITE_TIMEOUT",
    "AgentError",
    "Outcome",
    "PrintAgent",
    "PrintFailed",
    "Result",
    "Status",
    "health_from",
    "hub_ws_url",
    "print_bytes",
    "query_status",
    "read_status",
    "render_job",
    "run_until_signalled",
    "status_from",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

CHANNEL = "printing"
CONNECT_TIMEOUT = 3.0  # seconds to open the printer's TCP connection
WRITE_TIMEOUT = 5.0  # seconds for the job's bytes to be taken, and for each status answer
QUEUE_LIMIT = 100  # jobs waiting per printer; more are left PENDING at the hub (logged)
STATUS_EVERY = 10.0  # seconds between reads of each printer's real-time status (printer health)
COMMAND_TIMEOUT = 15.0  # seconds for the hub to answer a command (resent on a new link or after a refusal meanwhile)
FRAME_RATE, FRAME_BURST = 80.0, 100.0  # the agent's own pace, under the hub's frame rate limit (100/s, burst 200)
RETRY_FIRST, RETRY_CEILING = 0.1, 5.0  # seconds: a refused command's wait (BUSY's first backoff; the longest)
RESULTS_KEPT = 1_000  # outcomes remembered for :meth:`PrintAgent.result`
VERSIONS_KEPT = 10_000  # job versions remembered to ignore stale events
MIN_DELAY, MAX_DELAY = 0.5, 30.0  # seconds between attempts to reach the hub at start

STATUS_QUERY = b"\x10\x04\x01" + b"\x10\x04\x02" + b"\x10\x04\x04"  # DLE EOT 1 printer, 2 offline cause, 4 paper
ANSWER_SIZE = 3  # a byte per DLE EOT


class AgentError(Exception):
    """The agent cannot go on: the hub refused its token or its channel."""


class PrintFailed(Exception):
    """One print attempt failed: ``reason`` as the hub is told it; ``sent``: some of the job's bytes left."""

    def __init__(self, reason: str, *, sent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.sent = sent


# -- the printer's real-time status (pure) -------------------------------------------------------------


@dataclass(frozen=True)
class Status:
    """A printer's real-time status, as its answers to DLE EOT 1, 2 and 4 report it."""

    online: bool
    cover_open: bool = False
    paper_out: bool = False
    paper_low: bool = False
    error: bool = False

    @property
    def problem(self) -> str | None:
        """Why it cannot print, in the hub's words; None when it can."""
        if self.cover_open:
            return "cover open"
        if self.paper_out:
            return "paper out"
        if self.error:
            return "printer error"
        if not self.online:
            return "offline"
        return None


def _valid(byte: int) -> bool:
    """Every real-time status byte has bits 1 and 4 set and bits 0 and 7 clear (Epson ESC/POS reference)."""
    return byte & 0x93 == 0x12


def status_from(answer: bytes) -> Status:
    """The three answer bytes to :data:`STATUS_QUERY` as a :class:`Status`; ValueError if they are not status bytes.

    DLE EOT 1: bit 3 offline. DLE EOT 2 (offline cause): bit 2 cover open, bit 5 stopped by paper end,
    bit 6 an error. DLE EOT 4 (roll paper sensor): bits 2-3 paper near its end, bits 5-6 paper end.
    """
    if len(answer) != 3 or not all(_valid(byte) for byte in answer):
        raise ValueError(f"not a status answer: {answer.hex(' ')}")
    printer, cause, paper = answer
    return Status(
        online=not printer & 0x08,
        cover_open=bool(cause & 0x04),
        paper_out=bool(cause & 0x20 or paper & 0x60),
        paper_low=bool(paper & 0x0C),
        error=bool(cause & 0x40),
    )


# -- the printer's connection (I/O) --------------------------------------------------------------------


async def query_status(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float, *, sent: bool
) -> Status:
    """Ask the printer its real-time status on an open connection; PrintFailed if it does not answer in time."""
    try:
        writer.write(STATUS_QUERY)
        async with asyncio.timeout(timeout):
            await writer.drain()
            answer = await reader.readexactly(ANSWER_SIZE)
    except TimeoutError:
        raise PrintFailed("no answer", sent=sent) from None
    except asyncio.IncompleteReadError:  # it closed the connection instead of answering
        raise PrintFailed("connection lost" if sent else "no answer", sent=sent) from None
    except OSError:
        raise PrintFailed("connection lost" if sent else "no answer", sent=sent) from None
    try:
        return status_from(answer)
    except ValueError:
        raise PrintFailed(f"bad status answer {answer.hex(' ')}", sent=sent) from None


async def _open_printer(host: str, port: int, timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw TCP connection to the printer; PrintFailed (nothing sent) if it cannot be had in time."""
    try:
        async with asyncio.timeout(timeout):
            return await asyncio.open_connection(host, port)
    except socket.gaierror:
        raise PrintFailed(f"unknown host {host}", sent=False) from None
    except (OSError, TimeoutError):
        raise PrintFailed("offline", sent=False) from None


async def read_status(host: str, port: int, *, connect_timeout: float, write_timeout: float) -> Status:
    """The printer's real-time status on a connection of its own (nothing printed); PrintFailed if it cannot
    be read: ``offline`` (no connection), ``no answer``, ``unknown host ...``."""
    reader, writer = await _open_printer(host, port, connect_timeout)
    try:
        return await query_status(reader, writer, write_timeout, sent=False)
    finally:
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(write_timeout):
                await writer.wait_closed()


def health_from(found: Status | PrintFailed) -> tuple[PrinterState, str]:
    """What the hub is told of a printer (``print.status``: state, detail) from its status, or from why it
    could not be read (OFFLINE, with the reason unless it is plainly "offline")."""
    if isinstance(found, PrintFailed):
        return PrinterState.OFFLINE, "" if found.reason == "offline" else found.reason
    if found.cover_open:
        return PrinterState.COVER_OPEN, ""
    if found.paper_out:
        return PrinterState.PAPER_OUT, ""
    if found.error:
        return PrinterState.OFFLINE, "printer error"
    if not found.online:
        return PrinterState.OFFLINE, "the printer says it is offline"
    return PrinterState.ONLINE, "paper low" if found.paper_low else ""


async def print_bytes(host: str, port: int, data: bytes, *, connect_timeout: float, write_timeout: float) -> Status:
    """Send one job to a network printer and return its status after it; PrintFailed if it may not have printed.

    The status is asked before the job (a printer that cannot print is not sent it: nothing is left in
    its buffer to come out later) and after it, on the same connection, so the answer comes once the
    printer has read every byte of the job.
    """
    reader, writer = await _open_printer(host, port, connect_timeout)
    done = False
    try:
        before = await query_status(reader, writer, write_timeout, sent=False)
        if before.problem is not None:
            raise PrintFailed(before.problem, sent=False)
        try:
            writer.write(data)
            async with asyncio.timeout(write_timeout):
                await writer.drain()
        except TimeoutError:
            raise PrintFailed("no answer", sent=True) from None
        except OSError:
            raise PrintFailed("connection lost", sent=True) from None
        after = await query_status(reader, writer, write_timeout, sent=True)
        if after.problem is not None:
            raise PrintFailed(after.problem, sent=True)
        done = True
        return after
    finally:
        if done:
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                async with asyncio.timeout(write_timeout):
                    await writer.wait_closed()
        else:
            writer.transport.abort()


# -- the agent -----------------------------------------------------------------------------------------


class Outcome(StrEnum):
    PRINTED = "printed"  # the printer answered fine after the job; print.done sent
    FAILED = "failed"  # print.failed sent with the reason
    TAKEN = "taken"  # the hub refused the claim: another agent has it, or it is no longer pending
    SKIPPED = "skipped"  # not claimed: no such printer, the hub did not answer, or the agent is stopping


@dataclass(frozen=True)
class Result:
    """What became of one job at this agent: one log line's worth."""

    job_id: str
    printer: str
    outcome: Outcome
    reason: str = ""
    sent: bool = False  # some of its bytes reached the printer's connection


def hub_ws_url(url: str) -> str:
    """The hub's WebSocket URL from what a person types: ``https://hub.example.com`` -> ``wss://hub.example.com/ws``."""
    parts = urlsplit(url.strip())
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss") or not parts.netloc:
        raise ValueError(f"not a hub URL: {url!r} (e.g. https://hub.example.com or ws://10.0.0.5:8000/ws)")
    path = parts.path if parts.path not in ("", "/") else "/ws"
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


def _clock(ms: int) -> str:
    """The time printed on a ticket: when the hub made the job, on this machine's (the restaurant's) clock."""
    return time.strftime("%H:%M", time.localtime(ms / 1000))


def _date_and_clock(ms: int) -> str:
    """The time printed on a receipt: when its invoice was issued (or its bill made), on this machine's clock."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ms / 1000))


def render_job(job: PrintJob, width: int, font: ImageFont.FreeTypeFont | None = None) -> bytes:
    """A job's ESC/POS bytes by what it prints, at ``width`` columns; ValueError if it carries nothing to print."""
    if job.kind is PrintKind.KOT and job.ticket is not None:
        return render.kot(
            job.ticket,
            station_name=job.station,
            width=width,
            fired_by=job.fired_by,
            reprint=job.reprint,
            now_text=_clock(job.created_at),
            font=font,
        )
    if job.kind is PrintKind.RECEIPT and job.receipt is not None:
        paper = job.receipt
        return render.receipt(
            paper.bill,
            restaurant=paper.restaurant,
            invoice_number=paper.invoice_number,
            payments=paper.payments,
            currency=paper.currency,
            minor_digits=paper.minor_digits,
            width=width,
            now_text=_date_and_clock(paper.at),
            font=font,
            reprint=job.reprint,
            link=paper.link,
        )
    if job.kind is PrintKind.Z_REPORT and job.z_report is not None:
        day = job.z_report
        return render.z_report(
            day.report,
            restaurant=day.restaurant,
            currency=day.currency,
            minor_digits=day.minor_digits,
            width=width,
            reprint=job.reprint,
        )
    raise ValueError(f"job {job.id} ({job.kind.value}) carries nothing to print")


class PrintAgent:
    """Prints the hub's jobs for ``printers`` (ids; None: every printer of the restaurant) until stopped.

    ``await run()`` connects (trying again while the hub cannot be reached), follows the ``printing``
    channel and prints; it returns after ``await stop()`` and raises :class:`AgentError` when the
    hub refuses the token. ``ready`` is set once the first snapshot is taken. ``readings`` holds what
    each printer's status last said (state, detail), read every ``status_every`` seconds.
    ``frame_rate`` and ``frame_burst`` pace the frames it sends to the hub, under the hub's limit.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        printers: Iterable[str] | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
        write_timeout: float = WRITE_TIMEOUT,
        queue_limit: int = QUEUE_LIMIT,
        font: str | Path | None = None,
        status_every: float = STATUS_EVERY,
        frame_rate: float = FRAME_RATE,
        frame_burst: float = FRAME_BURST,
    ) -> None:
        self.url = hub_ws_url(url)
        self.token = token
        self.only = frozenset(printers) if printers is not None else None
        self.connect_timeout = connect_timeout
        self.write_timeout = write_timeout
        self.queue_limit = queue_limit
        self.status_every = status_every
        self.font = render.script_font(font) if font is not None else None
        self.device = ""  # this agent's device id, from the hub's welcome
        self.printers: dict[str, Printer] = {}
        self.ready = asyncio.Event()
        self._client: HubClient | None = None
        self._stopping = asyncio.Event()
        self._queues: dict[str, asyncio.Queue[PrintJob]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._busy: set[str] = set()  # printers whose worker is on a job
        self._queued: set[str] = set()  # job ids waiting or being printed
        self._versions: collections.OrderedDict[str, int] = collections.OrderedDict()
        self._results: collections.OrderedDict[str, Result] = collections.OrderedDict()
        self._changed = asyncio.Event()
        self._crashed: BaseException | None = None
        self._running = False
        self._finished = asyncio.Event()
        self.readings: dict[str, tuple[PrinterState, str]] = {}  # printer id -> its status as last read here
        self._told: dict[str, tuple[PrinterState, str]] = {}  # what the hub heard from us on this link
        self._hub_says: dict[str, PrinterState] = {}  # the hub's word on each printer (snapshot, PRINTER_STATUS)
        self._check_now: dict[str, asyncio.Event] = {}  # set: read that printer's status before its next job
        self._pacer = Pacer(frame_rate, frame_burst)
        self._ids = itertools.count(1)
        self._id_prefix = f"print-{secrets.token_hex(6)}"
        self.refusals: collections.Counter[str] = collections.Counter()  # retryable refusals waited out, by code

    @property
    def client(self) -> HubClient | None:
        """The link to the hub while :meth:`run` runs."""
        return self._client

    # -- running ----------------------------------------------------------------------------------

    async def run(self) -> None:
        self._running = True
        try:
            await self._run()
        finally:
            self._running = False
            self._finished.set()

    async def _run(self) -> None:
        client = await self._connect()
        if client is None:
            return  # stopped before the hub was reached
        self._client = client
        try:
            self.device = str(client.welcome.get("device") or "")
            try:
                answer = await client.subscribe(CHANNEL)
            except HubError as exc:
                raise AgentError(f"the hub refused the {CHANNEL} channel: {exc}") from None
            logger.info("print agent %s following the hub at %s", self.device, self.url)
            self._take(answer)
            self._linked()
            self.ready.set()
            await self._follow(client)
            if self._crashed is not None:
                raise AgentError(f"a printer's worker stopped: {self._crashed!r}") from self._crashed
        finally:
            await self._wind_down()
            await client.close()
            self._client = None

    def request_stop(self) -> None:
        """Make :meth:`run` return: no job is taken from now on; the one on each printer is finished."""
        self._stopping.set()

    async def stop(self) -> None:
        """Stop taking jobs, finish the one being printed on each printer (within its timeouts), disconnect."""
        self._stopping.set()
        if self._running:
            await self._finished.wait()

    async def _connect(self) -> HubClient | None:
        delay = MIN_DELAY
        while not self._stopping.is_set():
            try:
                return await HubClient.connect(self.url, self.token, resume=True, open_timeout=self.connect_timeout)
            except HubError as exc:
                raise AgentError(f"the hub refused the token: {exc}") from None
            except websockets.InvalidURI as exc:
                raise AgentError(f"not a hub URL: {exc}") from None
            except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
                logger.warning("cannot reach the hub at %s (%s); trying again in %g s", self.url, exc, delay)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stopping.wait()
            delay = min(delay * 2, MAX_DELAY)
        return None

    async def _follow(self, client: HubClient) -> None:
        """Take events and resume answers until stopped, or until the hub closes for good."""
        stopping = asyncio.ensure_future(self._stopping.wait())
        closed = asyncio.ensure_future(client.closed.wait())
        event = asyncio.ensure_future(client.events.get())
        resumed = asyncio.ensure_future(client.resumed.get())
        try:
            while True:
                await asyncio.wait({stopping, closed, event, resumed}, return_when=asyncio.FIRST_COMPLETED)
                if event.done():
                    await self._event(event.result())
                    event = asyncio.ensure_future(client.events.get())
                    continue  # events before the close: each is taken
                if resumed.done():
                    self._take(resumed.result())
                    self._linked()
                    resumed = asyncio.ensure_future(client.resumed.get())
                    continue
                if stopping.done():
                    return
                if closed.done():
                    raise AgentError(f"the hub closed the link for good (close code {client.close_code})")
        finally:
            for waiter in (stopping, closed, event, resumed):
                waiter.cancel()

    def _take(self, answer: dict[str, Any]) -> None:
        """A ``subscribed`` answer: a snapshot replaces the printers and offers its PENDING jobs."""
        if answer.get("recovered"):
            return  # replayed events come through ``events``
        view = (answer.get("snapshot") or {}).get(CHANNEL) or {}
        self._set_printers(Printer.model_validate(raw) for raw in view.get("printers", ()))
        for raw in view.get("printer_health", ()):
            self._hub_says[raw["printer"]] = PrinterState(raw["state"])
        for raw in view.get("jobs", ()):
            self._offer(PrintJob.model_validate(raw))

    async def _event(self, frame: dict[str, Any]) -> None:
        if frame.get("type") == "PROFILE_CHANGED":  # printers added, moved or taken out of the setup
            self._set_printers(Printer.model_validate(raw) for raw in frame["data"]["restaurant"].get("printers", ()))
            return
        if frame.get("type") == "PRINTER_STATUS":
            self._hub_heard(frame["data"]["health"])
            return
        if frame.get("type") not in ("PRINT_JOB", "PRINT_JOB_CHANGED"):
            return
        job = PrintJob.model_validate(frame["data"]["job"])
        if job.state is PrintJobState.PENDING and self._mine(job.printer) and job.printer not in self.printers:
            await self._refresh()  # a printer set up after our snapshot: a new snapshot has it
        self._offer(job)

    async def _refresh(self) -> None:
        client = self._client
        assert client is not None
        try:
            self._take(await self._paced(lambda _: client.subscribe(CHANNEL), "subscribe"))
        except (HubError, TimeoutError, ConnectionError) as exc:
            logger.warning("could not read the printers again: %s", exc)

    def _mine(self, printer_id: str) -> bool:
        return self.only is None or printer_id in self.only

    def _seen(self, job: PrintJob) -> bool:
        """Remember ``job``'s version; True if this version or a newer one was seen before (a stale event)."""
        known = self._versions.get(job.id)
        if known is not None and known >= job.version:
            return True
        self._versions[job.id] = job.version
        self._versions.move_to_end(job.id)
        while len(self._versions) > VERSIONS_KEPT:
            self._versions.popitem(last=False)
        return False

    def _offer(self, job: PrintJob) -> None:
        """Queue a PENDING job of one of our printers, once; a job this agent claimed in a former life is left."""
        if self._seen(job):
            return
        if job.state is PrintJobState.CLAIMED and job.claimed_by == self.device and job.id not in self._queued:
            logger.warning(
                "job %s on %s was claimed by this agent before it restarted: not printed again "
                "(the hub's policy: unconfirmed when its lease ends, then staff check the printer)",
                job.id,
                job.printer,
            )
        if job.state is not PrintJobState.PENDING or not self._mine(job.printer):
            return
        if job.id in self._queued or self._stopping.is_set():
            return
        if job.printer not in self.printers:
            self._record(Result(job.id, job.printer, Outcome.SKIPPED, f"no printer {job.printer!r} in the setup"))
            return
        queue = self._worker(job.printer)
        try:
            queue.put_nowait(job)
        except asyncio.QueueFull:
            self._versions.pop(job.id, None)  # a later snapshot may offer it again
            reason = f"{self.queue_limit} jobs already waiting for this printer; left pending"
            self._record(Result(job.id, job.printer, Outcome.SKIPPED, reason))
            return
        self._queued.add(job.id)

    def _worker(self, printer_id: str) -> asyncio.Queue[PrintJob]:
        """The queue of ``printer_id``'s worker, started on first need (a job, or its status to read)."""
        queue = self._queues.get(printer_id)
        if queue is None:
            queue = self._queues[printer_id] = asyncio.Queue(self.queue_limit)
            self._check_now.setdefault(printer_id, asyncio.Event())
            worker = asyncio.create_task(self._work(printer_id, queue), name=f"print-agent:{printer_id}")
            worker.add_done_callback(self._worker_ended)
            self._workers[printer_id] = worker
        return queue

    def _worker_ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        self._crashed = task.exception()
        logger.error("the worker of %s stopped", task.get_name(), exc_info=self._crashed)
        self._stopping.set()

    async def _work(self, printer_id: str, queue: asyncio.Queue[PrintJob]) -> None:
        """One printer's jobs, one at a time, in the order they came; its status read between them."""
        while not self._stopping.is_set():
            job = await self._next(printer_id, queue)
            if job is None:
                await self._check(printer_id)
                continue
            self._busy.add(printer_id)
            try:
                await self._print(job)
            except Exception as exc:  # a bug: logged with its traceback; the hub's lease policy covers the job
                logger.exception("job %s on %s: unexpected error; the next job goes on", job.id, printer_id)
                self._record(Result(job.id, printer_id, Outcome.SKIPPED, f"unexpected error: {exc!r}"))
            finally:
                self._busy.discard(printer_id)
                self._queued.discard(job.id)
            done = self._results.get(job.id)
            if done is not None and done.outcome in (Outcome.PRINTED, Outcome.FAILED):  # the printer was used
                await self._check(printer_id)

    async def _print(self, job: PrintJob) -> None:
        if self._stopping.is_set():
            self._record(Result(job.id, job.printer, Outcome.SKIPPED, "the agent is stopping; left pending"))
            return
        if self._versions.get(job.id, 0) > job.version:  # claimed elsewhere (or cancelled) while it waited here
            self._record(Result(job.id, job.printer, Outcome.TAKEN, "it moved on while it waited here"))
            return
        printer = self.printers.get(job.printer)
        if printer is None:  # taken out of the setup while the job waited: not claimed, the hub keeps it
            self._record(Result(job.id, job.printer, Outcome.SKIPPED, f"no printer {job.printer!r} in the setup"))
            return
        claimed = await self._claim(job)
        if claimed is None:
            return
        try:
            data = self._render(claimed, printer)
            await print_bytes(
                printer.host,
                printer.port,
                data,
                connect_timeout=self.connect_timeout,
                write_timeout=self.write_timeout,
            )
        except PrintFailed as exc:
            failed = {"job_id": claimed.id, "reason": exc.reason[:200], "sent": exc.sent}
            await self._tell("print.failed", failed, claimed)
            self._record(Result(claimed.id, claimed.printer, Outcome.FAILED, exc.reason, exc.sent))
            return
        await self._tell("print.done", {"job_id": claimed.id}, claimed)
        self._record(Result(claimed.id, claimed.printer, Outcome.PRINTED, f"{len(data)} bytes", sent=True))

    def _render(self, job: PrintJob, printer: Printer) -> bytes:
        try:
            return render_job(job, printer.columns, self.font)
        except Exception as exc:
            logger.exception("job %s could not be rendered", job.id)
            raise PrintFailed(f"cannot render the {job.kind.value.lower()} job: {exc}", sent=False) from None

    async def _claim(self, job: PrintJob) -> PrintJob | None:
        """The job as this agent's claim left it, or None (recorded) when it is not ours to print."""
        try:
            answer = await self._command("print.claim", {"job_id": job.id})
        except HubError as exc:
            outcome = Outcome.TAKEN if exc.code in ("INVALID_STATE", "NOT_FOUND") else Outcome.SKIPPED
            self._record(Result(job.id, job.printer, outcome, str(exc)))
            return None
        except (TimeoutError, ConnectionError) as exc:
            self._record(Result(job.id, job.printer, Outcome.SKIPPED, f"no answer to the claim: {exc!r}"))
            return None
        claimed = PrintJob.model_validate(answer["result"]["job"])
        self._seen(claimed)
        if claimed.state is not PrintJobState.CLAIMED or claimed.claimed_by != self.device:
            self._record(Result(job.id, job.printer, Outcome.TAKEN, f"{claimed.state.value} by {claimed.claimed_by}"))
            return None
        return claimed

    async def _tell(self, command: str, data: dict[str, Any], job: PrintJob) -> None:
        """print.done / print.failed; if the hub never hears it, its lease policy decides (logged)."""
        try:
            answer = await self._command(command, data)
        except HubError as exc:
            logger.warning("job %s: the hub refused %s: %s", job.id, command, exc)
            return
        except (TimeoutError, ConnectionError) as exc:
            logger.error("job %s: the hub did not answer %s (%r); its lease policy decides", job.id, command, exc)
            return
        self._seen(PrintJob.model_validate(answer["result"]["job"]))

    async def _command(self, command_type: str, data: dict[str, Any]) -> dict[str, Any]:
        """The hub's ack of a command, sent paced and, after a retryable refusal, again with the same id (the hub
        runs it once); HubError, TimeoutError or ConnectionError as :meth:`HubClient.command` raises them."""
        client = self._client
        assert client is not None
        command_id = f"{self._id_prefix}-{next(self._ids)}"
        return await self._paced(
            lambda left: client.command(command_type, data, id=command_id, timeout=left), command_type
        )

    async def _paced(self, send: Callable[[float], Awaitable[T]], what: str) -> T:
        """``send(seconds left)`` once the pacer lets a frame go, until it is not refused with a retryable error;
        a refusal is waited out (:meth:`_wait_out`) while ``COMMAND_TIMEOUT`` from the first send allows."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + COMMAND_TIMEOUT
        backoff = Backoff(RETRY_FIRST, RETRY_CEILING)
        while True:
            await self._pacer.take()
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"no answer to {what} in {COMMAND_TIMEOUT:g} s")
            try:
                return await send(left)
            except HubError as exc:
                await self._wait_out(exc, backoff, deadline - loop.time(), what)

    async def _wait_out(self, refused: HubError, backoff: Backoff, left: float, what: str) -> None:
        """Wait as a retryable refusal asks, or raise it (not retryable, or the wait would outlast ``left``).

        RATE_LIMITED: its ``retry_after_s`` (at most RETRY_CEILING, plus up to a fifth), for every frame of the
        agent, as the limit is the socket's; BUSY, UNAVAILABLE (and any other retryable code): a growing backoff.
        """
        if not refused.retryable:
            raise refused
        after = (refused.frame.get("details") or {}).get("retry_after_s") if refused.code == "RATE_LIMITED" else None
        limited = isinstance(after, int | float)
        wait = (
            min(float(after), RETRY_CEILING) * random.uniform(1.0, 1.2)
            if isinstance(after, int | float)
            else backoff.next()
        )
        if wait >= left:
            raise refused
        self.refusals[refused.code] += 1
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("the hub refused %s (%s): sent again in %.3f s", what, refused.code, wait)
        if limited:
            self._pacer.hold(wait)  # the next frame, this one's or another worker's, waits with it
        else:
            await asyncio.sleep(wait)

    def _record(self, result: Result) -> None:
        """One line per job outcome, and the outcome kept for :meth:`result`."""
        if result.outcome is Outcome.PRINTED:
            logger.info("job %s printed on %s (%s)", result.job_id, result.printer, result.reason)
        elif result.outcome is Outcome.FAILED:
            sent = "sent, not confirmed" if result.sent else "nothing sent"
            logger.warning("job %s NOT printed on %s: %s (%s)", result.job_id, result.printer, result.reason, sent)
        else:
            logger.info("job %s not claimed (%s): %s", result.job_id, result.outcome.value, result.reason)
        self._results[result.job_id] = result
        self._results.move_to_end(result.job_id)
        while len(self._results) > RESULTS_KEPT:
            self._results.popitem(last=False)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    @property
    def results(self) -> Mapping[str, Result]:
        """The last :data:`RESULTS_KEPT` jobs' outcomes at this agent, by job id, oldest first."""
        return types.MappingProxyType(self._results)

    async def result(self, job_id: str, timeout: float) -> Result:
        """What became of ``job_id`` at this agent, once it is known; TimeoutError if not within ``timeout``."""
        async with asyncio.timeout(timeout):
            while job_id not in self._results:
                await self._changed.wait()
        return self._results[job_id]

    async def results_when(self, count: int, timeout: float) -> list[Result]:
        """The outcomes once at least ``count`` jobs have one (the paper may be out before its outcome is)."""
        async with asyncio.timeout(timeout):
            while len(self._results) < count:
                await self._changed.wait()
        return list(self._results.values())

    # -- printer health ---------------------------------------------------------------------------

    def _set_printers(self, printers: Iterable[Printer]) -> None:
        """The restaurant's printers as the hub says now; each of ours new or moved is read at once."""
        before, self.printers = self.printers, {p.id: p for p in printers}
        for gone in before.keys() - self.printers.keys():  # out of the setup: said again if it comes back
            self._told.pop(gone, None)
            self.readings.pop(gone, None)
        for printer in self.printers.values():
            was = before.get(printer.id)
            if self._mine(printer.id) and (was is None or (was.host, was.port) != (printer.host, printer.port)):
                self._check_soon(printer.id)

    def _linked(self) -> None:
        """A new link to the hub (the first, or after a lost one): every printer is said once on it."""
        self._told.clear()
        for printer_id in self.printers:
            if self._mine(printer_id):
                self._check_soon(printer_id)

    def _hub_heard(self, raw: dict[str, Any]) -> None:
        """PRINTER_STATUS: the hub's word on a printer; UNKNOWN (its agent left) of one of ours: read it now."""
        printer_id, state = str(raw["printer"]), PrinterState(raw["state"])
        self._hub_says[printer_id] = state
        if state is PrinterState.UNKNOWN and printer_id in self.printers and self._mine(printer_id):
            self._check_soon(printer_id)

    def _check_soon(self, printer_id: str) -> None:
        """Read ``printer_id``'s status before its next job (at once when it has none waiting)."""
        if self._stopping.is_set():
            return
        self._worker(printer_id)
        self._check_now[printer_id].set()

    async def _next(self, printer_id: str, queue: asyncio.Queue[PrintJob]) -> PrintJob | None:
        """The printer's next job, or None when its status is to be read (asked for, or ``status_every`` passed)."""
        check_now = self._check_now[printer_id]
        if check_now.is_set():
            check_now.clear()
            return None
        job = asyncio.ensure_future(queue.get())
        asked = asyncio.ensure_future(check_now.wait())
        try:
            await asyncio.wait({job, asked}, timeout=self.status_every, return_when=asyncio.FIRST_COMPLETED)
        finally:
            asked.cancel()
            if not job.done():
                job.cancel()
        if job.done() and not job.cancelled():
            return job.result()
        check_now.clear()
        return None

    async def _check(self, printer_id: str) -> None:
        """Read the printer's status; tell the hub when it is news to it. A bug here is logged, never stops
        the printer's jobs."""
        try:
            await self._read_and_tell(printer_id)
        except Exception:
            logger.exception("printer %s: its status could not be read or told; its jobs go on", printer_id)

    async def _read_and_tell(self, printer_id: str) -> None:
        printer = self.printers.get(printer_id)
        if printer is None or not self._mine(printer_id) or self._stopping.is_set():
            return  # out of the setup, or the agent is leaving: nothing to read
        found: Status | PrintFailed
        try:
            found = await read_status(
                printer.host, printer.port, connect_timeout=self.connect_timeout, write_timeout=self.write_timeout
            )
        except PrintFailed as exc:
            found = exc
        reading = self.readings[printer_id] = health_from(found)
        if self._told.get(printer_id) == reading and self._hub_says.get(printer_id) is not PrinterState.UNKNOWN:
            return
        if self._client is None:
            return
        state, detail = reading
        data = {"printer_id": printer_id, "state": state.value, "detail": detail}
        try:
            answer = await self._command("print.status", data)
        except HubError as exc:
            logger.warning("printer %s is %s; the hub refused print.status: %s", printer_id, state.value, exc)
            return
        except (TimeoutError, ConnectionError) as exc:
            logger.warning("printer %s is %s; the hub did not answer print.status (%r)", printer_id, state.value, exc)
            return
        self._told[printer_id] = reading
        self._hub_says[printer_id] = PrinterState(answer["result"]["health"]["state"])
        if answer["result"].get("changed"):
            logger.info("printer %s: %s%s", printer_id, state.value, f" ({detail})" if detail else "")

    async def _wind_down(self) -> None:
        """Idle workers stop now; one on a job finishes it within its timeouts, then is cancelled."""
        self._stopping.set()
        for printer_id, worker in self._workers.items():
            if printer_id not in self._busy:
                worker.cancel()
        workers = list(self._workers.values())
        if workers:
            grace = self.connect_timeout + 3 * self.write_timeout + 2 * COMMAND_TIMEOUT
            _, late = await asyncio.wait(workers, timeout=grace)
            for worker in late:
                logger.warning("%s did not finish its job in %.0f s: cancelled", worker.get_name(), grace)
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        self._workers.clear()
        self._queues.clear()
        self._queued.clear()
        self._check_now.clear()


async def run_until_signalled(agent: PrintAgent) -> None:
    """Run ``agent`` until SIGINT or SIGTERM, then stop it cleanly (the job on each printer is finished)."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, agent.request_stop)
    try:
        await agent.run()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
