"""The WebSocket transport: every way a socket ends frees it, the WebSocket layer's close codes, the rate limit."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import orjson
import psutil
import pytest
import uvloop
import websockets
from redis.asyncio import Redis
from websockets.client import ClientProtocol
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from fireflow.clients.python import HubError
from fireflow.hub.domain.actors import Role
from fireflow.hub.live.keys import Keys
from fireflow.hub.run.app import HEARTBEAT_SLICES, next_slice
from fireflow.hub.transports.ws import _abort_of
from fireflow.schema.protocol import SUBPROTOCOL_JSON, CloseCode, ErrorCode
from tests.conftest import WAIT, RunningHub, Servers, seed, serve_in_process, settings_for
from tests.helpers import fired_order

CLOSE_TIMEOUT = 0.5  # FIREFLOW_CLOSE_TIMEOUT in these tests (5 s by default)


async def until(condition: Callable[[], Any], timeout: float = WAIT) -> None:
    """Wait for a state nothing announces (a kernel socket, a hub's own sets), checking it every 20 ms."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        holds = condition()
        if asyncio.iscoroutine(holds):
            holds = await holds
        if holds:
            return
        if loop.time() > deadline:
            raise TimeoutError(f"{condition.__name__} still false after {timeout} s")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def hub_with(servers: Servers, rid: str, **settings: Any) -> AsyncIterator[RunningHub]:
    await seed(servers, rid)
    defaults = {"rate": 10_000.0, "burst": 10_000.0, "close_timeout": CLOSE_TIMEOUT}
    async with serve_in_process(settings_for(servers, **{**defaults, **settings}), rid) as hub:
        yield hub


class DeafPeer:
    """A WebSocket peer on a raw socket with a tiny receive buffer that can stop reading for good."""

    def __init__(self, url: str) -> None:
        self.protocol = ClientProtocol(parse_uri(url), subprotocols=[Subprotocol(SUBPROTOCOL_JSON)])
        host, port = url.split("/")[2].split(":")
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect((host, int(port)))
        self.sock.setblocking(False)
        self.port: int = self.sock.getsockname()[1]
        self.frames: list[Any] = []

    async def write(self, frame: dict[str, Any]) -> None:
        self.protocol.send_text(orjson.dumps(frame))
        await self._flush()

    async def _flush(self) -> None:
        await asyncio.get_running_loop().sock_sendall(self.sock, b"".join(self.protocol.data_to_send()))

    async def _read_one(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.frames:
            data = await loop.sock_recv(self.sock, 65536)
            if not data:
                raise ConnectionError("closed")
            self.protocol.receive_data(data)
            self.frames.extend(self.protocol.events_received())

    async def open(self, token: str, *channels: str) -> None:
        """Handshake, auth and subscribe, reading exactly their answers."""
        self.protocol.send_request(self.protocol.connect())
        await self._flush()
        await self._read_one()
        self.frames.clear()
        for frame, answer in (
            ({"op": "auth", "token": token}, "welcome"),
            ({"op": "subscribe", "channels": list(channels)}, "subscribed"),
        ):
            await self.write(frame)
            op = "ping"
            while op == "ping":  # the hub's heartbeat may come first (a short one in some tests)
                await self._read_one()
                op = orjson.loads(self.frames.pop(0).data)["op"]
            assert op == answer

    def close(self) -> None:
        self.sock.close()


def server_side_open(hub: RunningHub, peer_port: int) -> bool:
    """The hub's end of the peer's TCP connection is still open."""
    return any(
        c.laddr and c.raddr and c.laddr.port == hub.settings.port and c.raddr.port == peer_port
        for c in psutil.Process(os.getpid()).net_connections(kind="tcp")
    )


def subscribers(hub: RunningHub) -> int:
    """Local sockets subscribed to any channel of the hub's restaurant."""
    return int(hub.hub.fanout.subscribers(hub.rid))


async def screens(redis: Redis, rid: str) -> list[str]:
    return sorted(m.decode().partition("|")[0] for m in await redis.zrange(Keys(rid).screens, 0, -1))


def test_the_abort_of_a_connection_that_already_ended_is_quiet() -> None:
    """Every socket the hub closes has its abort (a reset) set for later. On uvloop, the hub's loop, a connection
    that ended meanwhile has no descriptor left, and setting SO_LINGER on it raised: an ERROR for every closed socket."""

    class Server:  # what _abort_of is handed: a bound send whose object holds the transport, as uvicorn's does
        def __init__(self, transport: asyncio.Transport) -> None:
            self.transport = transport

        async def send(self) -> None:
            pass

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async def scenario() -> None:
        server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
            reset = _abort_of(Server(cast(asyncio.Transport, writer.transport)).send)
            assert reset is not None
            assert writer.get_extra_info("socket") is not None  # asked while open, as uvicorn asks: uvloop keeps it
            writer.close()
            await writer.wait_closed()
            reset()  # the connection is gone: nothing to reset, nothing raised
        finally:
            server.close()

    loop = uvloop.new_event_loop()
    try:
        loop.run_until_complete(scenario())
    finally:
        loop.close()


@pytest.mark.parametrize("ending", ["overflow", "silent"])
async def test_a_peer_that_stops_reading_is_aborted_and_freed(
    servers: Servers, redis: Redis, rid: str, ending: str
) -> None:
    """A screen that stops reading, its 4008 or 4010 close stuck behind a full send buffer, is aborted and freed."""
    if ending == "overflow":
        settings: dict[str, Any] = {"queue_limit": 64, "heartbeat": 60.0}
    else:
        settings = {"queue_limit": 100_000, "heartbeat": 1.0}
    async with hub_with(servers, rid, **settings) as hub:
        waiter = await hub.client(Role.WAITER)
        for _ in range(6):  # grill tickets of ~12 KiB each: a kitchen:grill snapshot of ~70 KiB
            await fired_order(waiter, *["burger"] * 20, notes="x" * 500)
        bystander = await hub.kitchen("fry")
        await bystander.subscribe("kitchen:fry")
        before = (1, ["fry"])

        async def fry_live() -> bool:  # its presence is written a moment after the subscribe is answered
            return (subscribers(hub), await screens(redis, hub.rid)) == before

        await until(fry_live)
        peer = DeafPeer(hub.ws_url)
        await peer.open(hub.token(Role.KITCHEN, stations=("grill",), device="kds-deaf"), "kitchen:grill")
        (conn,) = [c for c in hub.hub.connections if c.actor and c.actor.device_id == "kds-deaf"]
        assert (subscribers(hub), await screens(redis, hub.rid)) == (2, ["fry", "grill"])

        # From here the peer reads nothing: snapshots it asks for fill both kernel buffers, then the hub's.
        def backlogged() -> bool:
            return conn.outbox is not None

        def server_side_closed() -> bool:
            return not server_side_open(hub, peer.port)

        async def freed() -> bool:
            return conn not in hub.hub.connections and (subscribers(hub), await screens(redis, hub.rid)) == before

        try:
            while not backlogged():
                await peer.write({"op": "subscribe", "channels": ["kitchen:grill"]})
                await asyncio.sleep(0.01)
            if ending == "overflow":
                while conn.close_code is None:  # events queue behind the full buffer until the queue overflows
                    await fired_order(waiter, "burger")
            await until(server_side_closed, 4 * settings["heartbeat"] + WAIT)
            expected = CloseCode.SLOW_CONSUMER if ending == "overflow" else CloseCode.HEARTBEAT_TIMEOUT
            assert conn.close_code == expected
            await until(freed)
            assert conn.outbox is None
            with pytest.raises(ConnectionResetError):  # reset: not the bytes the kernel had queued, then a FIN
                while await asyncio.get_running_loop().sock_recv(peer.sock, 65536):
                    pass
            await bystander.send({"op": "ping", "t": 1})  # the other screen is unharmed
            assert await bystander.reply(WAIT) == {"op": "pong", "t": 1}
        finally:
            peer.close()


def test_every_close_code_is_in_the_protocol_document() -> None:
    """Each CloseCode, including those the WebSocket layer sends itself (1002, 1007, 1009), has a row in PROTOCOL.md."""
    from tests.conftest import ROOT

    text = (ROOT / "schema" / "PROTOCOL.md").read_text()
    table = text.split("## Close codes", 1)[1].split("\n## ", 1)[0]
    rows = {line.split("|")[1].strip(): line.split("|")[2].strip() for line in table.splitlines() if line[:2] == "| "}
    for code in CloseCode:
        assert rows.get(str(code.value)) == code.name, code
    assert {1002, 1007, 1009} <= {c.value for c in CloseCode}


async def _raw_client(hub: RunningHub) -> Any:
    ws = await websockets.connect(hub.ws_url, subprotocols=[Subprotocol(SUBPROTOCOL_JSON)], max_size=None)
    await ws.send(orjson.dumps({"op": "auth", "token": hub.token(Role.WAITER)}).decode())
    assert orjson.loads(await asyncio.wait_for(ws.recv(), WAIT))["op"] == "welcome"
    return ws


async def _close_code(ws: Any) -> int | None:
    with contextlib.suppress(websockets.ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), WAIT)
    rcvd = ws.protocol.close_rcvd
    return rcvd.code if rcvd is not None else None


async def test_the_websocket_layer_closes_with_the_documented_codes(servers: Servers, redis: Redis, rid: str) -> None:
    """A frame over max_frame gets 1009, a text frame that is not UTF-8 1007, a broken frame (unmasked) 1002."""
    async with hub_with(servers, rid, max_frame=4096) as hub:
        too_big = await _raw_client(hub)
        await too_big.send("x" * 5000)
        not_utf8 = await _raw_client(hub)
        await not_utf8.send(b'{"op": "ping", "t": "\xff"}', text=True)
        broken = await _raw_client(hub)
        broken.transport.write(b"\x81\x02{}")  # a client frame must be masked
        codes = [await _close_code(ws) for ws in (too_big, not_utf8, broken)]
        assert codes == [CloseCode.MESSAGE_TOO_BIG, CloseCode.INVALID_DATA, CloseCode.PROTOCOL_ERROR]

        def all_gone() -> bool:
            return not hub.hub.connections

        await until(all_gone)


async def test_a_busy_terminal_is_warned_with_retryable_rate_limited_before_it_is_closed(
    servers: Servers, redis: Redis, rid: str
) -> None:
    """Past the burst a frame gets a retryable RATE_LIMITED saying when to retry; only flooding on closes 1008."""
    async with hub_with(servers, rid, rate=5.0, burst=10.0) as hub:
        client = await hub.client(Role.WAITER)
        for n in range(12):  # the auth and 9 of these take the burst; 3 are refused
            await client.send({"op": "ping", "t": n})
        with pytest.raises(HubError) as refused:
            await client.command("order.open", {"type": "TAKEAWAY"}, id="busy-1")
        error = refused.value.frame
        assert (error["code"], error["retryable"], error["id"]) == (ErrorCode.RATE_LIMITED, True, "busy-1")
        wait = error["details"]["retry_after_s"]
        assert 0 < wait <= 2
        assert client.close_code is None
        await asyncio.sleep(wait)  # what the hub asked for
        ack = await client.command("order.open", {"type": "TAKEAWAY"}, id="busy-1")
        assert ack["result"]["order"]["status"] == "ACTIVE"
        with contextlib.suppress(websockets.ConnectionClosed):
            for n in range(30):
                await client.send({"op": "ping", "t": n})
        assert await client.wait_closed(WAIT) == CloseCode.POLICY_VIOLATION


async def test_a_pong_to_the_hubs_ping_costs_a_terminal_none_of_its_rate(
    servers: Servers, redis: Redis, rid: str
) -> None:
    """Answering the hub's heartbeat spends none of a terminal's frame rate (one told to retry later is not refused
    again for having answered a ping meanwhile); a pong nobody asked for is charged like any frame."""

    async def answer(ws: Any, command_id: str | None) -> dict[str, Any]:
        """The answer to ``command_id`` (None: the next frame that answers no command), each ping on the way
        answered at once."""
        while True:
            frame = orjson.loads(await asyncio.wait_for(ws.recv(), WAIT))
            if frame["op"] == "ping":
                await ws.send(orjson.dumps({"op": "pong", "t": frame["t"]}).decode())
            elif frame.get("id") == command_id:
                return dict(frame)

    def command(command_id: str) -> str:
        return orjson.dumps(
            {"op": "cmd", "id": command_id, "type": "order.open", "data": {"type": "TAKEAWAY"}}
        ).decode()

    async with hub_with(servers, rid, rate=0.01, burst=3.0, heartbeat=0.3) as hub:
        ws = await _raw_client(hub)  # the auth spends one frame of three; none comes back in this test
        for _ in range(6):  # six pings answered, over nearly two seconds
            frame = orjson.loads(await asyncio.wait_for(ws.recv(), WAIT))
            assert frame["op"] == "ping"
            await ws.send(orjson.dumps({"op": "pong", "t": frame["t"]}).decode())
        await ws.send(command("c1"))  # the second frame of three
        assert (await answer(ws, "c1"))["op"] == "ack"
        for _ in range(2):  # pongs nobody asked for: the third frame, and one over
            await ws.send(orjson.dumps({"op": "pong", "t": 0}).decode())
        over = await asyncio.wait_for(answer(ws, None), WAIT)  # the one over is refused like any frame, and told so
        assert (over["op"], over["code"], over["retryable"]) == ("error", ErrorCode.RATE_LIMITED, True)
        await ws.send(command("c2"))
        refused = await answer(ws, "c2")
        assert (refused["op"], refused["code"]) == ("error", ErrorCode.RATE_LIMITED)
        await ws.close()


async def test_connect_and_leave_cycles_leave_nothing_behind(servers: Servers, redis: Redis, rid: str) -> None:
    """Sockets leaving every way leave no connection, subscription, feed or screen count behind, cycle after cycle."""
    async with hub_with(servers, rid, heartbeat=0.5) as hub:
        waiter = await hub.client(Role.WAITER)
        fanout, presence = hub.hub.fanout, hub.hub.presence
        baseline = len(hub.hub.connections)
        for cycle in range(3):
            clients = []
            for n in range(4):
                station = ("grill", "fry")[n % 2]
                screen = await hub.client(Role.KITCHEN, stations=(station,), device=f"kds-{cycle}-{n}")
                await screen.subscribe(f"kitchen:{station}", "menu")
                clients.append(screen)
                other = await hub.client(Role.CASHIER, device=f"till-{cycle}-{n}")
                await other.subscribe("orders", "tables")
                clients.append(other)
            deaf = DeafPeer(hub.ws_url)
            await deaf.open(hub.token(Role.KITCHEN, stations=("cold",), device=f"deaf-{cycle}"), "kitchen:cold")
            never = await websockets.connect(hub.ws_url, subprotocols=[Subprotocol(SUBPROTOCOL_JSON)])
            await fired_order(waiter, "burger", "fries", "caesar")
            await clients[0].close()
            clients[1].ws.transport.abort()
            await clients[2].ws.send(orjson.dumps({"op": "subscribe", "channels": ["menu"]}).decode())
            clients[2].ws.transport.abort()  # gone in the middle of a subscribe
            clients[3].ws.transport.write(b"\x88\x82\x00\x00\x00\x00\x03\xe8")  # a close frame, then gone
            clients[3].ws.transport.close()
            for client in clients[4:]:
                await client.close()
            await never.close()

            def empty() -> bool:
                sliced = sum(len(hub.hub.connections.in_slice(n)) for n in range(HEARTBEAT_SLICES))
                return (
                    len(hub.hub.connections) == baseline
                    and sliced == baseline  # the heartbeat's buckets let go of them too
                    and not fanout.feeds
                    and not presence._counts
                    and not presence._tasks
                )

            await until(empty, 4 * 0.5 + WAIT)  # the deaf one ends with the heartbeat (and the close timeout)
            deaf.close()
            assert await screens(redis, hub.rid) == []


async def test_a_device_that_left_after_its_ping_stays_noted_as_gone(servers: Servers, redis: Redis, rid: str) -> None:
    """The heartbeat notes the devices it pinged as seen; one whose socket left after its ping stays noted as gone
    (the back office's "live"), not noted live again by the heartbeat that pinged it."""
    async with hub_with(servers, rid, heartbeat=0.4) as hub:
        stays = await hub.client(Role.WAITER, device="till-stays")
        leaves = await websockets.connect(hub.ws_url, subprotocols=[Subprotocol(SUBPROTOCOL_JSON)])
        await leaves.send(orjson.dumps({"op": "auth", "token": hub.token(Role.WAITER, device="till-leaves")}).decode())
        assert orjson.loads(await asyncio.wait_for(leaves.recv(), WAIT))["op"] == "welcome"
        assert orjson.loads(await asyncio.wait_for(leaves.recv(), WAIT))["op"] == "ping"  # pinged in this round
        await leaves.close()

        async def seen() -> dict[str, int]:
            return {k.decode(): int(v) for k, v in (await redis.hgetall(Keys(hub.rid).device_seen)).items()}

        async def gone() -> bool:
            return (await seen()).get("till-leaves", 0) < 0

        await until(gone)
        left_at = -(await seen())["till-leaves"]

        async def a_round_noted_since() -> bool:
            return (await seen())["till-stays"] > left_at

        await until(a_round_noted_since, 4 * 0.4 + WAIT)
        assert (await seen())["till-leaves"] == -left_at
        await stays.close()


def test_the_heartbeats_slices_keep_their_schedule_when_every_sleep_ends_late() -> None:
    """Each slice's moment is on a fixed schedule: with every sleep ending 50 ms late (a loaded loop), a round
    of all the slices still takes one interval, where a fixed sleep after each took 3.2 s more and left quiet
    sockets unpinged past the two intervals they are given. A schedule a whole interval behind starts afresh."""
    interval = 15.0
    period = interval / HEARTBEAT_SLICES
    start = now = due = 1000.0
    for _ in range(HEARTBEAT_SLICES):
        due, wait = next_slice(due, now, period, interval)
        now += wait + 0.05
    assert now - start <= interval + 0.05 + 1e-9
    assert HEARTBEAT_SLICES * (period + 0.05) >= interval + 3.2  # what sleeping a period after each slice took
    suspended = now + 60.0
    assert next_slice(due, suspended, period, interval) == (suspended + period, period)
