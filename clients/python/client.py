"""An asyncio client for protocol v1: auth, subscribe, commands, events, and resume after a lost link.

It keeps the resume position (``epoch`` and ``offset``, the highest offset
applied) and treats a hub it has heard nothing from (no ping, no frame) for
2.5 heartbeats as dead, dropping the socket.

**Reconnect.** Connected with ``resume=True`` it survives a lost link by
itself: it reconnects with backoff (0.1 s doubling to 5 s, jittered; to the
same URL, so any node behind it) and authenticates again. It gives up only
when the token is refused (4001, 4002) or ``close()`` is called, then
``closed`` is set; ``lost_links`` gets the close code of each link lost.

**Resume.** On each new link it subscribes again to its channels with
``since``/``epoch`` and puts the replayed events in ``events`` ahead of the
live ones, so each event comes out once and in offset order. The answer to
each automatic subscribe goes to ``resumed``; one with ``recovered: false``
carries a snapshot that replaces the state of its channels.

**Offline command queue.** With ``resume``, ``command()`` never needs the link
to be up. A command issued while the link is down waits in order, at most
``queue_limit`` of them (one more is refused at once with ``QueueFull``, code
``QUEUE_FULL``: the caller is told, nothing is kept); a command sent whose
link dropped before its answer waits with them. When a link is back (and
resubscribed, so the command's events come after the replay) they go out in
the order they were issued, each with its original id: the hub stores a
command's result under its id, so one that had already run is answered with
its first result and runs once. The caller's ``await`` gets the hub's answer
whichever link brought it. ``timeout`` counts from the call, time offline
included (``None``: no limit); a command that times out before it was sent
is dropped and never sent, one that was sent may have run (ask again with
the same ``id`` to learn its result).

Without ``resume`` a lost link sets ``closed`` and ``close_code``; the caller
resumes by connecting again and subscribing with ``since=offset, epoch=epoch``.

It is the SDK ``fireflow-client`` (``import fireflow_client``, ``clients/python/pyproject.toml``) and,
the same files, ``fireflow.clients.python`` inside the hub, where the tests, the load generator and the
integrations use it. It needs only websockets, orjson and msgpack.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import secrets
from dataclasses import dataclass
from typing import Any

import msgpack
import orjson
import websockets
from websockets.asyncio.client import ClientConnection

from .wire import CLOSE_AUTH_FAILED, CLOSE_TOKEN_EXPIRED, SUBPROTOCOL_JSON, SUBPROTOCOL_MSGPACK

__all__ = ["DEAD_AFTER", "QUEUE_LIMIT", "HubClient", "HubError", "QueueFull"]

DEAD_AFTER = 2.5  # heartbeats of silence after which the hub counts as dead (schema/PROTOCOL.md, Heartbeat)
DEFAULT_HEARTBEAT = 15.0  # until welcome says otherwise
FATAL_CLOSES = frozenset({CLOSE_AUTH_FAILED, CLOSE_TOKEN_EXPIRED})  # a new link cannot help
MIN_DELAY, MAX_DELAY = 0.1, 5.0  # reconnect backoff, seconds
POSITIONS_KEPT = 1000
QUEUE_LIMIT = 100  # commands that may wait for a link (resume only)


class HubError(Exception):
    """An ``error`` frame from the hub: ``code`` for a program, ``message`` for a person."""

    def __init__(self, frame: dict[str, Any]) -> None:
        super().__init__(f"{frame.get('code')}: {frame.get('message')}")
        self.frame = frame
        self.code: str = frame.get("code", "")
        self.retryable: bool = bool(frame.get("retryable"))


class QueueFull(HubError):
    """Refused by this client, not the hub: the link is down and ``queue_limit`` commands already wait for it."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            {
                "op": "error",
                "code": "QUEUE_FULL",
                "message": f"not sent: the link to the hub is down and {limit} commands already wait for it",
                "retryable": True,
            }
        )


@dataclass
class _Pending:
    """A command not answered yet, and the link it was last sent on (0: none yet)."""

    answer: asyncio.Future[dict[str, Any]]
    frame: dict[str, Any]
    link: int = 0


class HubClient:
    def __init__(
        self,
        ws: ClientConnection,
        binary: bool,
        *,
        url: str = "",
        token: str | None = None,
        resume: bool = False,
        queue_limit: int = QUEUE_LIMIT,
        connect_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.ws = ws
        self.binary = binary
        self.url = url
        self.token = token
        self.resume = resume
        self.queue_limit = queue_limit
        self._connect_kwargs = connect_kwargs or {}
        self.welcome: dict[str, Any] = {}
        self.offset = 0
        self.epoch = ""
        self.channels: list[str] = []  # what a resume subscribes to again
        self.heartbeat = DEFAULT_HEARTBEAT
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.errors: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.resumed: asyncio.Queue[dict[str, Any]] = asyncio.Queue()  # the subscribed answer of each resume
        # Riders' fixes for a dispatcher (lossy, no offset): the newest POSITIONS_KEPT frames, older ones dropped.
        self.positions: asyncio.Queue[dict[str, Any]] = asyncio.Queue(POSITIONS_KEPT)
        self.lost_links: asyncio.Queue[int | None] = asyncio.Queue()  # with resume: the close code of each lost link
        self._waiting: dict[str, _Pending] = {}  # in the order issued: the order they are sent again
        self._link = 1  # the number of the current link
        self._replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._ids = itertools.count(1)
        self._prefix = secrets.token_hex(4)
        self.trace: list[dict[str, Any]] | None = None  # set to a list to record every frame in arrival order
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self._closing = False
        self._linked = True  # False from a lost link until the next one is resubscribed
        loop = asyncio.get_running_loop()
        self._heard = loop.time()
        self._watchdog: asyncio.TimerHandle | None = None
        self._watch()
        self._reader = loop.create_task(self._run())

    @classmethod
    async def connect(
        cls,
        url: str,
        token: str | None,
        *,
        encoding: str = "json",
        auth: bool = True,
        resume: bool = False,
        queue_limit: int = QUEUE_LIMIT,
        **kwargs: Any,
    ) -> HubClient:
        """Open a socket and authenticate with ``token``; ``resume=True`` makes the client survive lost links.

        ``queue_limit``: with ``resume``, how many commands may wait for a link (the offline queue).
        """
        if resume and (token is None or not auth):
            raise ValueError("resume needs a token to authenticate each new link with")
        if queue_limit < 1:
            raise ValueError("queue_limit must be at least 1")
        binary = encoding == "msgpack"
        ws = await cls._open(url, binary, kwargs)
        client = cls(ws, binary, url=url, token=token, resume=resume, queue_limit=queue_limit, connect_kwargs=kwargs)
        if auth and token is not None:
            await client.send({"op": "auth", "token": token})
            client.welcome = await client.reply()
            if client.welcome.get("op") != "welcome":
                await client.close()
                raise HubError(client.welcome)
            client.offset = client.welcome["offset"]
            client.epoch = client.welcome["epoch"]
            client._heartbeat(client.welcome)
        return client

    @staticmethod
    async def _open(url: str, binary: bool, kwargs: dict[str, Any]) -> ClientConnection:
        return await websockets.connect(
            url,
            subprotocols=[SUBPROTOCOL_MSGPACK if binary else SUBPROTOCOL_JSON],  # type: ignore[list-item]
            compression=None,
            max_size=None,
            **kwargs,
        )

    def encode(self, frame: dict[str, Any]) -> bytes | str:
        return msgpack.packb(frame) if self.binary else orjson.dumps(frame).decode()

    def decode(self, raw: bytes | str) -> dict[str, Any]:
        frame: dict[str, Any] = msgpack.unpackb(raw) if isinstance(raw, bytes) else orjson.loads(raw)
        return frame

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(self.encode(frame))

    async def send_raw(self, raw: bytes | str) -> None:
        await self.ws.send(raw)

    # --- reading, and the links one after another --------------------------------------------------

    async def _run(self) -> None:
        try:
            while True:
                await self._read(self.ws)
                if not self.resume or self._closing or self.close_code in FATAL_CLOSES:
                    return
                self.lost_links.put_nowait(self.close_code)
                if not await self._reconnect():
                    return
        finally:
            if self._watchdog is not None:
                self._watchdog.cancel()
            self.closed.set()
            for pending in self._waiting.values():
                if not pending.answer.done():
                    pending.answer.set_exception(ConnectionError(f"closed {self.close_code}"))

    async def _read(self, ws: ClientConnection) -> None:
        """Read one link until it ends; its close code goes to ``close_code``."""
        try:
            async for raw in ws:
                frame = self.decode(raw)
                if self._frame(frame):
                    with contextlib.suppress(websockets.ConnectionClosed):
                        await self.send({"op": "pong", "t": frame.get("t")})
        except websockets.ConnectionClosed:
            pass
        finally:
            self._linked = False
            rcvd = ws.protocol.close_rcvd
            self.close_code = rcvd.code if rcvd is not None else 1006

    def _frame(self, frame: dict[str, Any]) -> bool:
        """Take one frame; True for a ping, which the caller answers."""
        self._heard = asyncio.get_running_loop().time()
        if self.trace is not None:
            self.trace.append(frame)
        op = frame.get("op")
        if op == "event":
            if frame["offset"] > self.offset:
                self.offset = frame["offset"]
            self.events.put_nowait(frame)
        elif op == "ping":
            return True
        elif op == "positions":
            if self.positions.full():
                self.positions.get_nowait()
            self.positions.put_nowait(frame)
        elif op in ("ack", "error") and frame.get("id") in self._waiting:
            answer = self._waiting.pop(frame["id"]).answer
            if not answer.done():
                answer.set_result(frame)
        elif op == "subscribed":
            self._replayed(frame)
            self._replies.put_nowait(frame)
        elif op == "error":
            self.errors.put_nowait(frame)
            self._replies.put_nowait(frame)
        else:
            self._replies.put_nowait(frame)
        return False

    def _replayed(self, frame: dict[str, Any]) -> None:
        """Replayed events go ahead of any live event read after this frame."""
        for event in frame.get("replayed") or ():
            self.offset = max(self.offset, event["offset"])
            self.events.put_nowait(event)

    def _heartbeat(self, welcome: dict[str, Any]) -> None:
        """Time silence by the hub's own heartbeat from now on."""
        self.heartbeat = float(welcome.get("heartbeat") or DEFAULT_HEARTBEAT)
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._watch()

    def _watch(self) -> None:
        """Drop the link when nothing came for DEAD_AFTER heartbeats: the hub, or the way to it, is dead."""
        loop = asyncio.get_running_loop()
        due = self._heard + DEAD_AFTER * self.heartbeat
        if loop.time() < due:
            self._watchdog = loop.call_at(due, self._watch)
            return
        self._watchdog = None
        self.ws.transport.abort()  # no close handshake: nobody would answer it

    async def _reconnect(self) -> bool:
        """Connect again until a link is authenticated and resubscribed; False when that cannot succeed."""
        attempt = 0
        while True:
            delay = min(MAX_DELAY, MIN_DELAY * 2**attempt) * random.uniform(0.8, 1.2)
            attempt += 1
            await asyncio.sleep(delay)
            if self._closing:
                return False
            try:
                ws = await asyncio.wait_for(
                    self._open(self.url, self.binary, self._connect_kwargs), DEAD_AFTER * self.heartbeat
                )
            except (OSError, TimeoutError, websockets.InvalidHandshake):
                continue
            self.ws = ws
            self._heard = asyncio.get_running_loop().time()
            if self._watchdog is None:
                self._watch()
            try:
                joined = await self._rejoin(ws)
            except (websockets.ConnectionClosed, TimeoutError):
                joined = False
            except BaseException:  # close() while rejoining
                ws.transport.abort()
                raise
            if joined:
                self.close_code = None
                self._linked = True
                return True
            if self.close_code in FATAL_CLOSES:
                return False
            ws.transport.abort()

    async def _rejoin(self, ws: ClientConnection) -> bool:
        """Authenticate and resubscribe on a new link, then send the unanswered commands again."""
        self._link += 1
        await self.send({"op": "auth", "token": self.token})
        welcome = await self._handshake_frame(ws)
        if welcome.get("op") != "welcome":
            if welcome.get("code") in ("UNAUTHENTICATED", "TOKEN_EXPIRED"):
                self.close_code = CLOSE_AUTH_FAILED
            return False
        self.welcome = welcome
        self._heartbeat(welcome)
        if self.channels:
            await self.send({"op": "subscribe", "channels": self.channels, "since": self.offset, "epoch": self.epoch})
            answer = await self._handshake_frame(ws)
            if answer.get("op") != "subscribed":
                return False
            if not answer["recovered"]:
                self.offset = answer["offset"]  # a snapshot, perhaps of a new epoch: numbering may restart
            self._replayed(answer)
            self.offset = max(self.offset, answer["offset"])
            self.epoch = answer["epoch"]
            self.resumed.put_nowait(answer)
        await self._flush()
        return True

    async def _flush(self) -> None:
        """Send, in the order issued, every unanswered command not yet sent on this link.

        Commands issued meanwhile join the end; it returns only once none is left, and the caller marks
        the link live with no ``await`` in between, so no command is left behind unsent.
        """
        while unsent := [pending for pending in self._waiting.values() if pending.link != self._link]:
            for pending in unsent:
                if pending.link != self._link and not pending.answer.done():
                    pending.link = self._link
                    await self.send(pending.frame)

    async def _handshake_frame(self, ws: ClientConnection) -> dict[str, Any]:
        """The next frame of a rejoin that is not a ping (answered); nothing else can come before it."""
        while True:
            raw = await asyncio.wait_for(ws.recv(), DEAD_AFTER * self.heartbeat)
            frame = self.decode(raw)
            self._heard = asyncio.get_running_loop().time()
            if self.trace is not None:
                self.trace.append(frame)
            if frame.get("op") == "ping":
                await self.send({"op": "pong", "t": frame.get("t")})
                continue
            return frame

    # --- the API --------------------------------------------------------------------------------

    async def reply(self, timeout: float = 10) -> dict[str, Any]:
        """The next frame that is neither an event nor an answer to a command."""
        get = asyncio.ensure_future(self._replies.get())
        closed = asyncio.ensure_future(self.closed.wait())
        done, _ = await asyncio.wait({get, closed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        closed.cancel()
        if get in done:
            return get.result()
        get.cancel()
        if closed in done:
            raise ConnectionError(f"closed {self.close_code}")
        raise TimeoutError("no reply")

    async def subscribe(self, *channels: str, since: int | None = None, epoch: str | None = None) -> dict[str, Any]:
        frame: dict[str, Any] = {"op": "subscribe", "channels": list(channels)}
        if since is not None:
            frame["since"] = since
            frame["epoch"] = epoch if epoch is not None else self.epoch
        await self.send(frame)
        answer = await self.reply()
        if answer.get("op") != "subscribed":
            raise HubError(answer)
        self.offset = max(self.offset, answer["offset"])
        self.epoch = answer["epoch"]
        self.channels.extend(c for c in channels if c not in self.channels)
        return answer

    async def unsubscribe(self, *channels: str) -> dict[str, Any]:
        await self.send({"op": "unsubscribe", "channels": list(channels)})
        answer = await self.reply()
        if answer.get("op") != "unsubscribed":
            raise HubError(answer)
        self.channels = [c for c in self.channels if c not in channels]
        return answer

    async def command(
        self, command_type: str, data: dict[str, Any], *, id: str | None = None, timeout: float | None = 10
    ) -> dict[str, Any]:
        """Send a command and return its ack frame; raises HubError on an error frame.

        With ``resume`` the link need not be up: the command waits for the next one (the offline queue,
        at most ``queue_limit``, else ``QueueFull``), and one whose link is lost before the answer is sent
        again, with the same id, on the next link; all within ``timeout`` (``None``: no limit).
        """
        command_id = id or f"{self._prefix}-{next(self._ids)}"
        known = self._waiting.get(command_id)
        if known is not None:  # the same command asked again while unanswered: one frame, one answer
            if (known.frame["type"], known.frame["data"]) != (command_type, data):
                raise ValueError(f"command id {command_id!r} is waiting for the answer to another command")
            answer = await asyncio.wait_for(asyncio.shield(known.answer), timeout)
            return self._answered(answer)
        if self.resume and self.closed.is_set():
            raise ConnectionError(f"closed {self.close_code}")
        if self.resume and not self._linked and len(self._waiting) >= self.queue_limit:
            raise QueueFull(self.queue_limit)
        pending = _Pending(
            asyncio.get_running_loop().create_future(),
            {"op": "cmd", "id": command_id, "type": command_type, "data": data},
        )
        self._waiting[command_id] = pending
        try:
            if self._linked or not self.resume:  # else the next link sends it, after resubscribing
                pending.link = self._link
                try:
                    await self.send(pending.frame)
                except websockets.ConnectionClosed:
                    if not self.resume:
                        raise
            answer = await asyncio.wait_for(asyncio.shield(pending.answer), timeout)
        finally:
            if self._waiting.get(command_id) is pending:
                del self._waiting[command_id]
                if not pending.answer.done():  # given up on (timeout, cancelled): so is the same id asked again
                    pending.answer.set_exception(TimeoutError(f"no answer to command {command_id}"))
                    pending.answer.exception()  # nobody else need be waiting to read it
        return self._answered(answer)

    @staticmethod
    def _answered(answer: dict[str, Any]) -> dict[str, Any]:
        if answer["op"] == "error":
            raise HubError(answer)
        return answer

    @property
    def queued(self) -> int:
        """Commands waiting for an answer, those waiting for a link among them."""
        return len(self._waiting)

    async def next_event(self, timeout: float = 10) -> dict[str, Any]:
        return await asyncio.wait_for(self.events.get(), timeout)

    async def wait_closed(self, timeout: float = 10) -> int | None:
        await asyncio.wait_for(self.closed.wait(), timeout)
        return self.close_code

    async def close(self) -> None:
        self._closing = True
        if not self._linked:
            self._reader.cancel()  # between links: stop reconnecting
        with contextlib.suppress(Exception):
            await self.ws.close()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await self._reader
