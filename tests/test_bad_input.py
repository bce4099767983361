"""Bad input over WebSocket and HTTP: each gets its error or close code, nothing crashes, no state is harmed."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import msgpack
import orjson
import pytest
import websockets
from redis.asyncio import Redis, RedisCluster

from fireflow.clients.python import HubClient, HubError
from fireflow.hub.domain.actors import Role
from fireflow.hub.transports.tokens import mint
from fireflow.schema.protocol import SUBPROTOCOL_JSON, SUBPROTOCOL_MSGPACK, CloseCode, ErrorCode
from tests.conftest import SECRET, WAIT, RunningHub, Servers, seed, serve_in_process, settings_for

ENCODINGS = pytest.mark.parametrize("encoding", ["json", "msgpack"])


@dataclass
class Scene:
    """A restaurant with some history: a dine-in order on T1 (L1 burger and L2 fries fired, L3 caesar not),
    an open takeaway order with no items, and the stream those commands wrote."""

    hub: RunningHub
    redis: Redis
    dine_in: str
    empty: str

    async def state(self) -> dict[str, Any]:
        """Everything a bad command could harm: both orders, the open orders, the tables and the stream."""
        async with self.hub.http(Role.MANAGER) as http:
            got = {
                "dine_in": (await http.get(f"/api/v1/orders/{self.dine_in}")).json(),
                "empty": (await http.get(f"/api/v1/orders/{self.empty}")).json(),
                "orders": (await http.get("/api/v1/orders")).json(),
                "tables": (await http.get("/api/v1/tables")).json(),
            }
        got["stream"] = await self.redis.xlen(f"ff:{{{self.hub.rid}}}:events")
        assert got["dine_in"]["order"]["version"] >= 1 and got["stream"] > 0
        return got

    async def order(self, order_id: str) -> dict[str, Any]:
        async with self.hub.http(Role.MANAGER) as http:
            order: dict[str, Any] = (await http.get(f"/api/v1/orders/{order_id}")).json()["order"]
        return order


@pytest.fixture
async def scene(hub: RunningHub, redis: Redis) -> Scene:
    waiter = await hub.client(Role.WAITER)
    ack = await waiter.command("order.open", {"type": "DINE_IN", "table_id": "T1", "guests": 2})
    dine_in = ack["result"]["order"]["id"]
    for item in ("burger", "fries"):
        await waiter.command("order.add_item", {"order_id": dine_in, "menu_item_id": item})
    await waiter.command("order.fire", {"order_id": dine_in})
    await waiter.command("order.add_item", {"order_id": dine_in, "menu_item_id": "caesar"})
    empty = (await waiter.command("order.open", {"type": "TAKEAWAY"}))["result"]["order"]["id"]
    return Scene(hub, redis, dine_in, empty)


async def still_usable(client: HubClient) -> None:
    """The socket still answers: a ping gets its pong and a valid command gets its ack."""
    await client.send({"op": "ping", "t": 7})
    assert await client.reply(WAIT) == {"op": "pong", "t": 7}
    ack = await client.command("order.open", {"type": "TAKEAWAY"}, timeout=WAIT)
    assert ack["op"] == "ack" and ack["result"]["order"]["status"] == "ACTIVE"


async def expect_error(client: HubClient, code: ErrorCode) -> dict[str, Any]:
    frame = await client.reply(WAIT)
    assert frame["op"] == "error" and frame["code"] == code.value, frame
    assert isinstance(frame["message"], str) and frame["message"]
    return frame


# --- frames -------------------------------------------------------------------------------------

UNDECODABLE: dict[str, list[str | bytes]] = {
    "json": [
        "{not json",
        "",
        '{"op": "ping",}',
        b"\xff\xfe\x00",
        "[" * 2000,
        '{"op":"ping","t":1e400}',
        '{"op":"ping","t":"\\ud800"}',
    ],
    "msgpack": [b"\xc1", b"\x92\x01", b"\x81\x01\x02", b"\x91" * 2000 + b"\x90", "a text frame", b"\x81\xa2op\xa1\xff"],
}
NOT_OBJECTS: dict[str, list[str | bytes]] = {
    "json": ["[1, 2]", "42", '"auth"', "null"],
    "msgpack": [msgpack.packb([1, 2]), msgpack.packb(42), msgpack.packb("auth"), msgpack.packb(None)],
}


@ENCODINGS
async def test_undecodable_frames_get_bad_frame_and_the_socket_stays_usable(scene: Scene, encoding: str) -> None:
    """Bytes that do not decode in the socket's encoding each get BAD_FRAME; nothing changes and the socket works."""
    client = await scene.hub.client(Role.WAITER, encoding=encoding)
    before = await scene.state()
    for raw in UNDECODABLE[encoding]:
        await client.send_raw(raw)
        error = await expect_error(client, ErrorCode.BAD_FRAME)
        assert not error["message"].rstrip().endswith(":"), error  # says what is wrong (b"\xc1" said "not msgpack: ")
    assert await scene.state() == before
    await still_usable(client)


@ENCODINGS
async def test_frames_that_are_not_objects_get_bad_frame(scene: Scene, encoding: str) -> None:
    """An array, a number, a string or null is a decodable frame but not an object: BAD_FRAME, socket still usable."""
    client = await scene.hub.client(Role.WAITER, encoding=encoding)
    before = await scene.state()
    for raw in NOT_OBJECTS[encoding]:
        await client.send_raw(raw)
        frame = await expect_error(client, ErrorCode.BAD_FRAME)
        assert frame["id"] is None
    assert await scene.state() == before
    await still_usable(client)


@ENCODINGS
async def test_unknown_ops_get_unknown_op(scene: Scene, encoding: str) -> None:
    """A missing, unknown, mistyped or unhashable op gets UNKNOWN_OP, never a crash or a close."""
    client = await scene.hub.client(Role.WAITER, encoding=encoding)
    before = await scene.state()
    for frame in ({}, {"op": "dance"}, {"op": "CMD", "id": "x", "type": "order.open"}, {"op": 5}, {"op": None},
                  {"op": ["cmd"]}, {"op": {"cmd": 1}}, {"type": "order.open", "data": {}}):  # fmt: skip
        await client.send(frame)
        error = await expect_error(client, ErrorCode.UNKNOWN_OP)
        assert error["message"] == (
            "a frame needs an op" if frame.get("op") is None else f"unknown op {str(frame['op'])!r}"
        )
    assert await scene.state() == before
    await still_usable(client)


INVALID_FRAMES: list[tuple[dict[str, Any], str]] = [
    ({"op": "cmd", "type": "order.open", "data": {"type": "TAKEAWAY"}}, "id"),
    ({"op": "cmd", "id": 12, "type": "order.open", "data": {"type": "TAKEAWAY"}}, "id"),
    ({"op": "cmd", "id": "has space", "type": "order.open", "data": {}}, "id"),
    ({"op": "cmd", "id": "x" * 65, "type": "order.open", "data": {}}, "id"),
    ({"op": "cmd", "id": "c1", "data": {"type": "TAKEAWAY"}}, "type"),
    ({"op": "cmd", "id": "c2", "type": "", "data": {}}, "type"),
    ({"op": "cmd", "id": "c3", "type": "order.open", "data": [1]}, "data"),
    ({"op": "cmd", "id": "c4", "type": "order.open", "data": {"type": "TAKEAWAY"}, "extra": 1}, "extra"),
    ({"op": "subscribe"}, "channels"),
    ({"op": "subscribe", "channels": "orders"}, "channels"),
    ({"op": "subscribe", "channels": []}, "channels"),
    ({"op": "subscribe", "channels": ["Not A Channel!"]}, "channels"),
    ({"op": "subscribe", "channels": ["orders"], "since": -1}, "since"),
    ({"op": "subscribe", "channels": ["orders"], "since": "yesterday"}, "since"),
    ({"op": "subscribe", "channels": ["orders"], "since": 2**64 - 1}, "since"),
    ({"op": "unsubscribe", "channels": 3}, "channels"),
    ({"op": "ping", "t": "now"}, "t"),
    ({"op": "auth"}, "token"),
    # typed fields are taken as typed, not coerced
    ({"op": "subscribe", "channels": ["orders"], "since": "5"}, "since"),
    ({"op": "ping", "t": 5.0}, "t"),
    ({"op": "ping", "t": True}, "t"),
    ({"op": "outcome", "id": 7}, "id"),
]


@ENCODINGS
async def test_known_ops_with_bad_fields_get_invalid_frame_with_details(scene: Scene, encoding: str) -> None:
    """Missing, mistyped and extra fields of a known op get INVALID_FRAME naming the field; a cmd's id is echoed."""
    client = await scene.hub.client(Role.WAITER, encoding=encoding)
    before = await scene.state()
    for frame, field in INVALID_FRAMES:
        await client.send(frame)
        error = await expect_error(client, ErrorCode.INVALID_FRAME)
        locs = [part for err in error["details"]["errors"] for part in err["loc"]]
        assert field in locs, (frame, error)
        expected_id = frame.get("id") if isinstance(frame.get("id"), str) else None
        assert error["id"] == expected_id
    assert await scene.state() == before
    await still_usable(client)


async def test_a_msgpack_command_id_in_bytes_is_invalid_frame_not_run(scene: Scene) -> None:
    """msgpack can carry an id as bytes: it is INVALID_FRAME naming the id (not decoded into text and run)."""
    client = await scene.hub.client(Role.WAITER, encoding="msgpack")
    before = await scene.state()
    await client.send_raw(msgpack.packb({"op": "cmd", "id": b"m2", "type": "order.open", "data": {"type": "TAKEAWAY"}}))
    error = await expect_error(client, ErrorCode.INVALID_FRAME)
    assert ["cmd", "id"] in [err["loc"] for err in error["details"]["errors"]] and error["id"] is None
    assert await scene.state() == before
    await still_usable(client)


async def test_binary_frame_with_json_inside_is_accepted_on_a_json_socket(scene: Scene) -> None:
    """The JSON codec decodes a binary frame as JSON too (hub/live/codec.py): a ping and a command sent as bytes work."""
    client = await scene.hub.client(Role.WAITER)
    await client.send_raw(orjson.dumps({"op": "ping", "t": 1}))
    assert await client.reply(WAIT) == {"op": "pong", "t": 1}
    data = {"order_id": scene.dine_in, "menu_item_id": "mojito"}
    await client.send_raw(orjson.dumps({"op": "cmd", "id": "as-bytes", "type": "order.add_item", "data": data}))
    ack = await client.reply(WAIT)
    assert ack["op"] == "ack" and ack["id"] == "as-bytes"
    assert [i["menu_item_id"] for i in (await scene.order(scene.dine_in))["items"]][-1] == "mojito"


async def test_msgpack_values_json_cannot_hold_get_invalid_command(scene: Scene) -> None:
    """Bytes and extension types inside a msgpack command get INVALID_COMMAND (not INTERNAL); nothing changes."""
    client = await scene.hub.client(Role.WAITER, encoding="msgpack")
    before = await scene.state()
    bad_data = [
        {"order_id": scene.dine_in.encode(), "menu_item_id": "burger"},
        {"order_id": scene.dine_in, "menu_item_id": "burger", "notes": b"no onions"},
        {"order_id": scene.dine_in, "menu_item_id": "burger", "notes": msgpack.ExtType(5, b"x")},
    ]
    for data, field in zip(bad_data, ("order_id", "notes", "notes"), strict=True):
        with pytest.raises(HubError) as err:
            await client.command("order.add_item", data, timeout=WAIT)
        assert err.value.code == ErrorCode.INVALID_COMMAND, err.value.frame
        assert err.value.frame["details"]["errors"][0]["loc"] == [field]
    # The type and the role are still refused first, as for any other command.
    with pytest.raises(HubError) as err:
        await client.command("order.explode", bad_data[1], timeout=WAIT)
    assert err.value.code == ErrorCode.UNKNOWN_COMMAND
    with pytest.raises(HubError) as err:
        await client.command("item.done", {"order_id": scene.dine_in, "line_id": b"L1"}, timeout=WAIT)
    assert err.value.code == ErrorCode.FORBIDDEN
    assert await scene.state() == before
    await still_usable(client)


# --- commands -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    type: str
    data: Callable[[Scene], dict[str, Any]]
    code: ErrorCode
    field: str | None = None  # INVALID_COMMAND: a field named in details.errors (loc or msg)


def _dine(**kw: Any) -> Callable[[Scene], dict[str, Any]]:
    return lambda s: {"order_id": s.dine_in, **kw}


CASES = [
    Case("unknown type", "order.explode", lambda s: {}, ErrorCode.UNKNOWN_COMMAND),
    Case("type is case-sensitive", "ORDER.OPEN", lambda s: {"type": "TAKEAWAY"}, ErrorCode.UNKNOWN_COMMAND),
    Case("quantity not a number", "order.add_item", _dine(menu_item_id="burger", quantity="lots"),
         ErrorCode.INVALID_COMMAND, "quantity"),
    Case("negative quantity", "order.add_item", _dine(menu_item_id="burger", quantity=-1),
         ErrorCode.INVALID_COMMAND, "quantity"),
    Case("zero quantity", "order.change_item", _dine(line_id="L3", quantity=0), ErrorCode.INVALID_COMMAND, "quantity"),
    Case("fractional quantity", "order.change_item", _dine(line_id="L3", quantity=2.5),
         ErrorCode.INVALID_COMMAND, "quantity"),
    Case("order id a list", "order.add_item", lambda s: {"order_id": [s.dine_in], "menu_item_id": "burger"},
         ErrorCode.INVALID_COMMAND, "order_id"),
    Case("order id with spaces", "order.fire", lambda s: {"order_id": "no such order"},
         ErrorCode.INVALID_COMMAND, "order_id"),
    Case("missing order id", "order.fire", lambda s: {}, ErrorCode.INVALID_COMMAND, "order_id"),
    Case("extra field", "order.add_item", _dine(menu_item_id="burger", price=1), ErrorCode.INVALID_COMMAND, "price"),
    Case("version not a number", "order.fire", _dine(version="latest"), ErrorCode.INVALID_COMMAND, "version"),
    Case("unknown order type", "order.open", lambda s: {"type": "PICNIC"}, ErrorCode.INVALID_COMMAND, "type"),
    Case("dine-in without table", "order.open", lambda s: {"type": "DINE_IN", "guests": 2},
         ErrorCode.INVALID_COMMAND, "table_id"),
    Case("delivery without address", "order.open", lambda s: {"type": "DELIVERY", "phone": "5550100"},
         ErrorCode.INVALID_COMMAND, "address"),
    Case("a percent discount over 100 %", "order.discount", _dine(kind="PERCENT", value=10001, reason="x"),
         ErrorCode.INVALID_COMMAND, "10000"),
    Case("guests zero", "order.open", lambda s: {"type": "DINE_IN", "table_id": "T2", "guests": 0},
         ErrorCode.INVALID_COMMAND, "guests"),
    Case("guests as 1e2 (a float)", "order.open", lambda s: {"type": "DINE_IN", "table_id": "T2", "guests": 1e2},
         ErrorCode.INVALID_COMMAND, "guests"),
    Case("quantity as 2.0", "order.add_item", _dine(menu_item_id="burger", quantity=2.0),
         ErrorCode.INVALID_COMMAND, "quantity"),
    Case("quantity as true", "order.add_item", _dine(menu_item_id="burger", quantity=True),
         ErrorCode.INVALID_COMMAND, "quantity"),
    Case("quantity as a string", "order.add_item", _dine(menu_item_id="burger", quantity="2"),
         ErrorCode.INVALID_COMMAND, "quantity"),
    Case("unknown order", "order.add_item", lambda s: {"order_id": "nope", "menu_item_id": "burger"},
         ErrorCode.NOT_FOUND),
    Case("unknown order of this restaurant", "order.fire", lambda s: {"order_id": f"{s.hub.rid}.onothere"},
         ErrorCode.NOT_FOUND),
    Case("unknown menu item", "order.add_item", _dine(menu_item_id="unicorn"), ErrorCode.NOT_FOUND),
    Case("required choice missing", "order.add_item", _dine(menu_item_id="ribeye"), ErrorCode.INVALID_MODIFIERS),
    Case("two of a one-choice group", "order.add_item",
         _dine(menu_item_id="ribeye", modifiers={"doneness": ["rare", "well"]}), ErrorCode.INVALID_MODIFIERS),
    Case("another item's option", "order.add_item",
         _dine(menu_item_id="burger", modifiers={"doneness": ["rare"]}), ErrorCode.INVALID_MODIFIERS),
    Case("a group the item lacks", "order.add_item",
         _dine(menu_item_id="fries", modifiers={"doneness": ["medium"]}), ErrorCode.INVALID_MODIFIERS),
    Case("choices not a list", "order.add_item", _dine(menu_item_id="burger", modifiers={"add-ons": "cheese"}),
         ErrorCode.INVALID_COMMAND, "modifiers"),
    Case("choices not a mapping", "order.add_item", _dine(menu_item_id="burger", modifiers=["cheese"]),
         ErrorCode.INVALID_COMMAND, "modifiers"),
    Case("unknown line (change)", "order.change_item", _dine(line_id="L99", quantity=2), ErrorCode.NOT_FOUND),
    Case("unknown line (remove)", "order.remove_item", _dine(line_id="L99"), ErrorCode.NOT_FOUND),
    Case("unknown line (done)", "item.done", _dine(line_id="L99"), ErrorCode.NOT_FOUND),
    Case("unknown table (open)", "order.open", lambda s: {"type": "DINE_IN", "table_id": "T99", "guests": 2},
         ErrorCode.NOT_FOUND),
    Case("unknown table (clean)", "table.clean", lambda s: {"table_id": "T99"}, ErrorCode.NOT_FOUND),
    Case("stale version (add)", "order.add_item", _dine(menu_item_id="burger", version=1), ErrorCode.VERSION_CONFLICT),
    Case("future version (fire)", "order.fire", _dine(version=999), ErrorCode.VERSION_CONFLICT),
    Case("stale version (cancel)", "order.cancel", _dine(version=2), ErrorCode.VERSION_CONFLICT),
    Case("fire with nothing to fire", "order.fire", lambda s: {"order_id": s.empty}, ErrorCode.NOTHING_TO_FIRE),
    Case("recall a line never bumped", "item.recall", _dine(line_id="L1"), ErrorCode.INVALID_STATE),
    Case("86 an unknown item", "stock.out", lambda s: {"menu_item_id": "unicorn"}, ErrorCode.NOT_FOUND),
    Case("negative stock", "stock.set", lambda s: {"menu_item_id": "burger", "quantity": -1},
         ErrorCode.INVALID_COMMAND, "quantity"),
    Case("ack an unknown ticket", "ticket.ack", _dine(ticket_ids=["x:t99"]), ErrorCode.NOT_FOUND),
    Case("ack no tickets", "ticket.ack", _dine(ticket_ids=[]), ErrorCode.INVALID_COMMAND, "ticket_ids"),
    Case("course out of range", "order.hold", _dine(course=12), ErrorCode.INVALID_COMMAND, "course"),
    Case("move to its own table", "order.move", _dine(table_id="T1"), ErrorCode.INVALID_STATE),
    Case("merge a table with no order", "table.merge", lambda s: {"from_table_id": "T2", "into_table_id": "T1"},
         ErrorCode.INVALID_STATE),
    Case("internal command from a client", "ticket.check_ack", _dine(ticket_id="x"), ErrorCode.UNKNOWN_COMMAND),
    Case("start an unfired line", "item.start", _dine(line_id="L3"), ErrorCode.INVALID_STATE),
    Case("clean a free table", "table.clean", lambda s: {"table_id": "T2"}, ErrorCode.INVALID_STATE),
    Case("occupied table", "order.open", lambda s: {"type": "DINE_IN", "table_id": "T1", "guests": 2},
         ErrorCode.TABLE_UNAVAILABLE),
    Case("rider float of nothing", "rider.float", lambda s: {"rider": "rider-1", "amount": 0},
         ErrorCode.INVALID_COMMAND, "amount"),
    Case("rider float as a fraction", "rider.float", lambda s: {"rider": "rider-1", "amount": 10.5},
         ErrorCode.INVALID_COMMAND, "amount"),
    Case("rider id with spaces", "rider.handover", lambda s: {"rider": "rider one", "amount": 100},
         ErrorCode.INVALID_COMMAND, "rider"),
    Case("hand in more than held", "rider.handover", lambda s: {"rider": "rider-9", "amount": 100},
         ErrorCode.INVALID_STATE),
    Case("a location off the Earth", "order.open",
         lambda s: {"type": "DELIVERY", "phone": "5550100", "address": "1 Main", "location": {"lat": 91, "lon": 0}},
         ErrorCode.INVALID_COMMAND, "lat"),
    Case("deliver a dine-in order", "delivery.deliver", _dine(), ErrorCode.INVALID_STATE),
    Case("assign a dine-in order", "delivery.assign", lambda s: {"order_ids": [s.dine_in], "rider": "rider-1"},
         ErrorCode.INVALID_STATE),
]  # fmt: skip

HTTP_STATUS = {
    ErrorCode.UNKNOWN_COMMAND: 400,
    ErrorCode.INVALID_COMMAND: 422,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.VERSION_CONFLICT: 409,
    ErrorCode.NOTHING_TO_FIRE: 409,
    ErrorCode.INVALID_STATE: 409,
    ErrorCode.TABLE_UNAVAILABLE: 409,
    ErrorCode.INVALID_MODIFIERS: 422,
}


async def check_details(scene: Scene, case: Case, error: dict[str, Any]) -> None:
    details = error.get("details") or {}
    if case.code is ErrorCode.INVALID_COMMAND:
        assert case.field is not None
        mentioned = [str(p) for err in details["errors"] for p in err["loc"]] + [
            err["msg"] for err in details["errors"]
        ]
        assert any(case.field in m for m in mentioned), (case.name, details)
    elif case.code is ErrorCode.VERSION_CONFLICT:
        assert details["current"] == await scene.order(scene.dine_in), case.name
    elif case.code is ErrorCode.INVALID_MODIFIERS:
        assert details["menu_item_id"] == case.data(scene)["menu_item_id"] and details["group"], case.name
    elif case.code is ErrorCode.TABLE_UNAVAILABLE:
        assert details["table"]["id"] == "T1" and details["table"]["status"] == "OCCUPIED"


@pytest.mark.parametrize("transport", ["json", "msgpack", "http"])
async def test_each_refused_command_gets_its_code_and_changes_nothing(scene: Scene, transport: str) -> None:
    """Unknown commands, invalid payloads, unknown ids, stale versions and refused transitions: code, details, no harm."""
    before = await scene.state()
    client = None if transport == "http" else await scene.hub.client(Role.MANAGER, encoding=transport)
    async with scene.hub.http(Role.MANAGER) as http:
        for n, case in enumerate(CASES):
            data = case.data(scene)
            if client is not None:
                with pytest.raises(HubError) as err:
                    await client.command(case.type, data, id=f"bad-{n}", timeout=WAIT)
                error = err.value.frame
                assert error["id"] == f"bad-{n}" and error["retryable"] is False
            else:
                r = await http.post("/api/v1/commands", json={"id": f"bad-{n}", "type": case.type, "data": data})
                error = r.json()
                assert r.status_code == HTTP_STATUS[case.code], (case.name, r.text)
            assert error["code"] == case.code.value, (case.name, error)
            await check_details(scene, case, error)
            assert await scene.state() == before, case.name
    if client is not None:
        await still_usable(client)


async def test_refused_commands_over_rest_routes_change_nothing(scene: Scene) -> None:
    """The REST-shaped routes answer bad bodies, unknown ids and refused transitions with the right status and code."""
    before = await scene.state()
    d = scene.dine_in
    async with scene.hub.http(Role.WAITER) as http:
        attempts: list[tuple[httpx.Response, int, ErrorCode]] = [
            (await http.get("/api/v1/orders/nope"), 404, ErrorCode.NOT_FOUND),
            (await http.post("/api/v1/orders", content=b"{nope"), 400, ErrorCode.BAD_FRAME),
            (await http.post("/api/v1/orders", content=b"[1]"), 400, ErrorCode.BAD_FRAME),
            (await http.post("/api/v1/orders", json={"type": "DINE_IN"}), 422, ErrorCode.INVALID_COMMAND),
            (await http.post("/api/v1/commands", json={"type": 5}), 400, ErrorCode.INVALID_FRAME),
            (
                await http.post("/api/v1/commands", json={"type": "order.fire", "data": []}),
                400,
                ErrorCode.INVALID_FRAME,
            ),
            (await http.post(f"/api/v1/orders/{d}/items", json={"menu_item_id": "unicorn"}), 404, ErrorCode.NOT_FOUND),
            (await http.patch(f"/api/v1/orders/{d}/items/L1", json={"quantity": 0}), 422, ErrorCode.INVALID_COMMAND),
            (await http.post(f"/api/v1/orders/{d}/items/L1/recall"), 403, ErrorCode.FORBIDDEN),
            (await http.post("/api/v1/menu/burger/86"), 403, ErrorCode.FORBIDDEN),
            (await http.delete(f"/api/v1/orders/{d}/items/L99"), 404, ErrorCode.NOT_FOUND),
            (await http.post(f"/api/v1/orders/{scene.empty}/fire"), 409, ErrorCode.NOTHING_TO_FIRE),
            (await http.post(f"/api/v1/orders/{d}/fire", json={"version": 1}), 409, ErrorCode.VERSION_CONFLICT),
            (await http.post("/api/v1/tables/T99/clean"), 404, ErrorCode.NOT_FOUND),
            (await http.post("/api/v1/orders", json={"type": "TAKEAWAY"}, headers={"Idempotency-Key": "has space"}),
             400, ErrorCode.INVALID_FRAME),
            (await http.post("/api/v1/commands", json={"id": 7, "type": "order.open", "data": {"type": "TAKEAWAY"}}),
             400, ErrorCode.INVALID_FRAME),
            (await http.post("/api/v1/commands", json={"type": "x" * 65}), 400, ErrorCode.INVALID_FRAME),
            (await http.post("/api/v1/commands", json={"type": "order.open", "data": None}), 400, ErrorCode.INVALID_FRAME),
            (await http.post("/api/v1/commands", json={"id": "k" * 65, "type": "order.open", "data": {"type": "TAKEAWAY"}}),
             400, ErrorCode.INVALID_FRAME),
            # a misspelt id would run the command again under a new one on every retry
            (await http.post("/api/v1/commands", json={"command_id": "k-2", "type": "order.open", "data": {"type": "TAKEAWAY"}}),
             400, ErrorCode.INVALID_FRAME),
        ]  # fmt: skip
    for r, status, code in attempts:
        assert (r.status_code, r.json()["code"]) == (status, code.value), (r.request.url, r.text)
    assert attempts[12][0].json()["details"]["current"]["id"] == d
    assert attempts[-2][0].json()["details"]["errors"][0]["loc"] == ["id"]
    assert attempts[-1][0].json()["message"] == "unknown field 'command_id': expected {type, data, id?}"
    assert attempts[-5][0].json()["message"] == "a command id is 1 to 64 of A-Za-z0-9_.:-"
    assert attempts[-4][0].json()["details"]["errors"][0]["loc"] == ["type"]
    assert await scene.state() == before


async def test_a_command_id_reused_for_another_command_is_refused(scene: Scene) -> None:
    """Reusing a command id for different data or another type gets IDEMPOTENCY_KEY_REUSED; the retry still works."""
    client = await scene.hub.client(Role.WAITER)
    first = await client.command("order.add_item", {"order_id": scene.empty, "menu_item_id": "burger"}, id="k-1")
    before = await scene.state()
    for command_type, data in [
        ("order.add_item", {"order_id": scene.empty, "menu_item_id": "fries"}),
        ("order.add_item", {"order_id": scene.empty, "menu_item_id": "burger", "quantity": 2}),
        ("order.fire", {"order_id": scene.empty}),
    ]:
        with pytest.raises(HubError) as err:
            await client.command(command_type, data, id="k-1", timeout=WAIT)
        assert err.value.code == ErrorCode.IDEMPOTENCY_KEY_REUSED
    async with scene.hub.http(Role.WAITER) as http:
        r = await http.post("/api/v1/orders", json={"type": "TAKEAWAY"}, headers={"Idempotency-Key": "k-1"})
        assert (r.status_code, r.json()["code"]) == (422, ErrorCode.IDEMPOTENCY_KEY_REUSED.value)
    assert await scene.state() == before
    again = await client.command("order.add_item", {"order_id": scene.empty, "menu_item_id": "burger"}, id="k-1")
    assert again["result"] == first["result"] and again["offset"] == first["offset"]
    assert await scene.state() == before


# --- size, flood, authentication, heartbeat -----------------------------------------------------


@contextlib.asynccontextmanager
async def hub_with(servers: Servers, **settings: Any) -> AsyncIterator[RunningHub]:
    rid = "r" + orjson.dumps(sorted(settings)).hex()[:8]
    await seed(servers, rid)
    async with serve_in_process(settings_for(servers, **settings), rid) as running:
        yield running


@ENCODINGS
async def test_an_oversized_frame_closes_that_socket_with_1009(servers: Servers, redis: Redis, encoding: str) -> None:
    """A frame over max_frame closes that socket with 1009; its state and the other sockets are untouched."""
    async with hub_with(servers, max_frame=4096) as hub:
        bystander = await hub.kitchen("grill")
        await bystander.subscribe("kitchen:grill")
        client = await hub.client(Role.WAITER, encoding=encoding)
        order_id = (await client.command("order.open", {"type": "TAKEAWAY"}))["result"]["order"]["id"]
        stream = await redis.xlen(f"ff:{{{hub.rid}}}:events")
        await client.send({"op": "cmd", "id": "big", "type": "order.add_item",
                           "data": {"order_id": order_id, "menu_item_id": "burger", "notes": "x" * 5000}})  # fmt: skip
        assert await client.wait_closed(WAIT) == CloseCode.MESSAGE_TOO_BIG
        assert await redis.xlen(f"ff:{{{hub.rid}}}:events") == stream
        waiter = await hub.client(Role.WAITER)
        await waiter.command("order.add_item", {"order_id": order_id, "menu_item_id": "burger"})
        await waiter.command("order.fire", {"order_id": order_id})
        event = await bystander.next_event(WAIT)
        assert event["data"]["ticket"]["order_id"] == order_id
        assert [i["notes"] for i in event["data"]["ticket"]["lines"]] == [""]


@contextlib.asynccontextmanager
async def hub_behind_a_lenient_server(servers: Servers, max_frame: int) -> AsyncIterator[RunningHub]:
    """A hub whose server lets frames up to 1 MiB through, so the hub's own max_frame check is what closes."""
    rid = "rlenient" + secrets.token_hex(3)
    await seed(servers, rid)
    async with serve_in_process(settings_for(servers, max_frame=max_frame), rid, ws_max_size=1 << 20) as running:
        yield running


async def test_the_hub_itself_refuses_frames_over_max_frame_counted_in_bytes(servers: Servers, redis: Redis) -> None:
    """Behind a server with a larger limit the hub answers PAYLOAD_TOO_LARGE and closes 1009, counting UTF-8 bytes."""
    async with hub_behind_a_lenient_server(servers, max_frame=4096) as hub:
        waiter = await hub.client(Role.WAITER)
        order_id = (await waiter.command("order.open", {"type": "TAKEAWAY"}))["result"]["order"]["id"]
        before = (await redis.xlen(f"ff:{{{hub.rid}}}:events"), await hub.hub.store.order(hub.rid, order_id))
        for encoding, notes in (("json", "x" * 5000), ("json", "\u00e9" * 2100), ("msgpack", "x" * 5000)):
            client = await hub.client(Role.WAITER, encoding=encoding)
            data = {"order_id": order_id, "menu_item_id": "burger", "notes": notes}
            await client.send({"op": "cmd", "id": "big", "type": "order.add_item", "data": data})
            error = await asyncio.wait_for(client.errors.get(), WAIT)
            assert error["code"] == ErrorCode.PAYLOAD_TOO_LARGE.value
            assert await client.wait_closed(WAIT) == CloseCode.MESSAGE_TOO_BIG, (encoding, len(notes))
        after = (await redis.xlen(f"ff:{{{hub.rid}}}:events"), await hub.hub.store.order(hub.rid, order_id))
        assert after == before
        await still_usable(waiter)


async def test_an_oversized_http_body_gets_413(servers: Servers, redis: Redis) -> None:
    """An HTTP body over max_frame gets 413 PAYLOAD_TOO_LARGE, declared or streamed without a length; nothing changes."""
    async with hub_with(servers, max_frame=4096) as hub:
        stream = await redis.xlen(f"ff:{{{hub.rid}}}:events")
        body = orjson.dumps({"type": "TAKEAWAY", "notes": "x" * 5000})

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(body), 1000):
                yield body[start : start + 1000]

        async with hub.http(Role.WAITER) as http:
            declared = await http.post("/api/v1/orders", content=body)
            streamed = await http.post("/api/v1/commands", content=chunks())
            for r in (declared, streamed):
                assert (r.status_code, r.json()["code"]) == (413, ErrorCode.PAYLOAD_TOO_LARGE.value)
            assert (await http.get("/api/v1/orders")).json()["orders"] == []
            assert (await http.post("/api/v1/orders", json={"type": "TAKEAWAY"})).status_code == 200
        assert streamed.request.headers.get("content-length") is None
        assert await redis.xlen(f"ff:{{{hub.rid}}}:events") == stream + 1


async def test_a_flood_from_one_socket_gets_rate_limited_and_closed_1008(servers: Servers, redis: Redis) -> None:
    """Fifty frames at once from one socket: RATE_LIMITED then close 1008; another socket still gets its event."""
    async with hub_with(servers, rate=5, burst=10) as hub:
        grill = await hub.kitchen("grill")
        await grill.subscribe("kitchen:grill")
        flooder = await hub.client(Role.WAITER)
        with contextlib.suppress(websockets.ConnectionClosed):
            for n in range(50):
                await flooder.send({"op": "ping", "t": n})
        error = await asyncio.wait_for(flooder.errors.get(), WAIT)
        assert error["code"] == ErrorCode.RATE_LIMITED.value
        assert await flooder.wait_closed(WAIT) == CloseCode.POLICY_VIOLATION
        waiter = await hub.client(Role.WAITER)
        order_id = (await waiter.command("order.open", {"type": "TAKEAWAY"}))["result"]["order"]["id"]
        await waiter.command("order.add_item", {"order_id": order_id, "menu_item_id": "burger"})
        await waiter.command("order.fire", {"order_id": order_id})
        assert (await grill.next_event(WAIT))["data"]["ticket"]["order_id"] == order_id


async def connect_unauthenticated(hub: RunningHub, encoding: str = "json") -> HubClient:
    client = await HubClient.connect(hub.ws_url, None, encoding=encoding, auth=False)
    hub.clients.append(client)
    return client


async def test_a_socket_that_never_authenticates_is_closed_4001(servers: Servers, redis: Redis) -> None:
    """A socket silent past auth_timeout gets UNAUTHENTICATED and close 4001, even if it sent only garbage."""
    async with hub_with(servers, auth_timeout=0.5) as hub:
        silent, noisy = await connect_unauthenticated(hub), await connect_unauthenticated(hub)
        await noisy.send_raw("{garbage")
        await expect_error(noisy, ErrorCode.BAD_FRAME)
        for client in (silent, noisy):
            await expect_error(client, ErrorCode.UNAUTHENTICATED)
            assert await client.wait_closed(WAIT) == CloseCode.AUTH_FAILED


async def test_bad_frames_before_auth_are_answered_and_auth_still_works(hub: RunningHub) -> None:
    """Undecodable, unknown and invalid frames before auth each get their error; a valid auth afterwards is welcomed."""
    client = await connect_unauthenticated(hub)
    for raw, code in (("{nope", ErrorCode.BAD_FRAME), ('{"op": "hello"}', ErrorCode.UNKNOWN_OP),
                      ('{"op": "auth", "token": ""}', ErrorCode.INVALID_FRAME)):  # fmt: skip
        await client.send_raw(raw)
        await expect_error(client, code)
    await client.send({"op": "auth", "token": hub.token(Role.WAITER)})
    welcome = await client.reply(WAIT)
    assert welcome["op"] == "welcome" and welcome["restaurant"] == hub.rid and welcome["role"] == "WAITER"


async def test_an_unknown_subprotocol_is_refused_at_the_handshake(hub: RunningHub) -> None:
    """Offering only subprotocols the hub does not speak gets the handshake refused (HTTP 403), no socket opened."""
    with pytest.raises(websockets.InvalidStatus) as err:
        await websockets.connect(hub.ws_url, subprotocols=["fireflow.v9.json"])  # type: ignore[list-item]
    assert err.value.response.status_code == 403
    assert len(hub.hub.connections) == 0


@ENCODINGS
async def test_a_command_before_auth_gets_unauthenticated_and_4001(scene: Scene, encoding: str) -> None:
    """A cmd (or subscribe) as first frame gets UNAUTHENTICATED and close 4001, and is not run."""
    before = await scene.state()
    for frame in (
        {"op": "cmd", "id": "early", "type": "order.open", "data": {"type": "TAKEAWAY"}},
        {"op": "subscribe", "channels": ["orders"]},
    ):
        client = await connect_unauthenticated(scene.hub, encoding)
        await client.send(frame)
        error = await asyncio.wait_for(client.errors.get(), WAIT)
        assert error["code"] == ErrorCode.UNAUTHENTICATED.value
        assert error["id"] == frame.get("id"), error  # the command's answer names it, as every answer does
        assert await client.wait_closed(WAIT) == CloseCode.AUTH_FAILED
    assert await scene.state() == before


async def test_a_bad_token_is_closed_4001(hub: RunningHub) -> None:
    """Garbage, a token signed with another secret and a tampered token each get UNAUTHENTICATED and close 4001."""
    good = hub.token(Role.WAITER)
    header, claims, mac = good.split(".")
    body = f"{header}.{claims}"
    manager_claims = mint(SECRET, hub.rid, Role.MANAGER, device="waiter-1").split(".")[1]
    tampered = f"{header}.{manager_claims}.{mac}"  # a waiter's signature on a manager's claims
    for token in ("garbage", "a.b", mint("another-secret", hub.rid, Role.WAITER, device="w"), tampered, body + ".",
                  f"{body}.{mac[:-1]}\u00e9"):  # fmt: skip
        client = await connect_unauthenticated(hub)
        await client.send({"op": "auth", "token": token})
        await expect_error(client, ErrorCode.UNAUTHENTICATED)
        assert await client.wait_closed(WAIT) == CloseCode.AUTH_FAILED, token
    async with httpx.AsyncClient(base_url=hub.url, timeout=WAIT) as http:
        non_ascii = f"Bearer {body}.{mac[:-1]}\u00e9".encode("latin-1")
        for headers in ({}, {"Authorization": "Bearer garbage"}, {"Authorization": f"Basic {good}"},
                        {"Authorization": non_ascii}):  # fmt: skip
            r = await http.get("/api/v1/orders", headers=headers)
            assert (r.status_code, r.json()["code"]) == (401, ErrorCode.UNAUTHENTICATED.value)


async def test_an_expired_token_gets_token_expired_and_4002(hub: RunningHub) -> None:
    """An expired token gets TOKEN_EXPIRED and close 4002 on the socket, 401 TOKEN_EXPIRED over HTTP."""
    expired = mint(SECRET, hub.rid, Role.WAITER, device="w-old", ttl=-1)
    client = await connect_unauthenticated(hub)
    await client.send({"op": "auth", "token": expired})
    await expect_error(client, ErrorCode.TOKEN_EXPIRED)
    assert await client.wait_closed(WAIT) == CloseCode.TOKEN_EXPIRED
    async with httpx.AsyncClient(base_url=hub.url, timeout=WAIT) as http:
        r = await http.post("/api/v1/orders", json={"type": "TAKEAWAY"}, headers={"Authorization": f"Bearer {expired}"})
        assert (r.status_code, r.json()["code"]) == (401, ErrorCode.TOKEN_EXPIRED.value)
        r = await http.get("/api/v1/orders", headers={"Authorization": f"Bearer {hub.token(Role.WAITER)}"})
        assert r.json()["orders"] == []


async def test_a_second_auth_gets_already_authenticated_and_keeps_the_first_identity(hub: RunningHub) -> None:
    """Authenticating twice gets ALREADY_AUTHENTICATED; the socket keeps its first role and stays usable."""
    client = await hub.client(Role.WAITER)
    await client.send({"op": "auth", "token": hub.token(Role.MANAGER)})
    await expect_error(client, ErrorCode.ALREADY_AUTHENTICATED)
    with pytest.raises(HubError) as err:
        await client.subscribe("manager")
    assert err.value.code == ErrorCode.FORBIDDEN
    await still_usable(client)


async def test_a_silent_peer_is_closed_4010_and_a_live_one_is_kept(servers: Servers, redis: Redis) -> None:
    """With heartbeat 0.3 s a socket that never answers is closed 4010; one that answers pings outlives it."""
    async with hub_with(servers, heartbeat=0.3) as hub:
        token = hub.token(Role.WAITER)
        async with (
            websockets.connect(hub.ws_url, subprotocols=[SUBPROTOCOL_JSON]) as silent,  # type: ignore[list-item]
            websockets.connect(hub.ws_url, subprotocols=[SUBPROTOCOL_JSON]) as live,  # type: ignore[list-item]
        ):
            for ws in (silent, live):
                await ws.send(orjson.dumps({"op": "auth", "token": token}).decode())
                assert orjson.loads(await asyncio.wait_for(ws.recv(), WAIT))["op"] == "welcome"

            pings: asyncio.Queue[int] = asyncio.Queue()

            async def answer_pings() -> None:
                while True:
                    frame = orjson.loads(await live.recv())
                    if frame["op"] == "ping":
                        await live.send(orjson.dumps({"op": "pong", "t": frame["t"]}).decode())
                        pings.put_nowait(frame["t"])

            answering = asyncio.create_task(answer_pings())
            with pytest.raises(websockets.ConnectionClosed):
                while True:  # the silent side may see pings before the close
                    await asyncio.wait_for(silent.recv(), WAIT)
            assert silent.protocol.close_rcvd is not None
            assert silent.protocol.close_rcvd.code == CloseCode.HEARTBEAT_TIMEOUT
            while not pings.empty():
                pings.get_nowait()
            for _ in range(3):  # three more heartbeats: past the 2x window that closed the silent one
                await asyncio.wait_for(pings.get(), WAIT)
            assert not answering.done() and live.protocol.close_rcvd is None
            answering.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await answering


async def test_a_stalled_redis_neither_stops_the_pings_nor_closes_a_peer_that_answers_them(
    servers: Servers, redis: Redis
) -> None:
    """Redis paused for eight heartbeats: the pings go on (the note of devices seen waits alone) and the peer that
    answers them is kept. The heartbeat used to wait for that note, send nothing meanwhile, then close 4010 every
    socket of its late round, each silent since its last pong only because it had not been pinged again."""
    async with hub_with(servers, heartbeat=0.3) as hub:
        async with websockets.connect(hub.ws_url, subprotocols=[SUBPROTOCOL_JSON]) as ws:  # type: ignore[list-item]
            await ws.send(orjson.dumps({"op": "auth", "token": hub.token(Role.WAITER)}).decode())
            assert orjson.loads(await asyncio.wait_for(ws.recv(), WAIT))["op"] == "welcome"

            async def answer_pings(seconds: float) -> int:
                answered = 0
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(seconds):
                        while True:
                            frame = orjson.loads(await ws.recv())
                            if frame["op"] == "ping":
                                await ws.send(orjson.dumps({"op": "pong", "t": frame["t"]}).decode())
                                answered += 1
                return answered

            assert await answer_pings(0.9) >= 2
            # every client but this one waits 2.5 s for its next command's answer (each master, on a cluster)
            target = {"target_nodes": redis.get_primaries()} if isinstance(redis, RedisCluster) else {}
            await redis.execute_command("CLIENT", "PAUSE", "2500", "ALL", **target)
            assert await answer_pings(2.5) >= 4  # about 8; 1 when a slice waited on Redis
            for _ in range(3):  # then past twice the heartbeat again: still pinged, still open
                frame = orjson.loads(await asyncio.wait_for(ws.recv(), WAIT))
                assert frame["op"] == "ping"
                await ws.send(orjson.dumps({"op": "pong", "t": frame["t"]}).decode())
            assert ws.protocol.close_rcvd is None


async def test_the_heartbeats_ping_reaches_json_and_msgpack_sockets_as_a_frame_of_their_own(servers: Servers) -> None:
    """The ping is encoded once per encoding and written to each socket as it stands: each peer reads a whole,
    valid frame of its own encoding, and answers it."""
    async with hub_with(servers, heartbeat=0.3) as hub:
        token = hub.token(Role.WAITER)
        for subprotocol, dumps, loads in (
            (SUBPROTOCOL_JSON, lambda f: orjson.dumps(f).decode(), orjson.loads),
            (SUBPROTOCOL_MSGPACK, msgpack.packb, msgpack.unpackb),
        ):
            async with websockets.connect(hub.ws_url, subprotocols=[subprotocol]) as ws:  # type: ignore[list-item]
                await ws.send(dumps({"op": "auth", "token": token}))
                assert loads(await asyncio.wait_for(ws.recv(), WAIT))["op"] == "welcome"
                for _ in range(3):  # past twice the heartbeat: kept, because it answers
                    frame = loads(await asyncio.wait_for(ws.recv(), WAIT))
                    assert frame["op"] == "ping" and isinstance(frame["t"], int), subprotocol
                    await ws.send(dumps({"op": "pong", "t": frame["t"]}))
                assert ws.protocol.close_rcvd is None
