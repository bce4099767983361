"""Both wire encodings: a round trip per frame and codec, the shared event encoder, and decode errors."""

from __future__ import annotations

import typing
from typing import Any

import msgpack
import orjson
import pytest
from pydantic import BaseModel

from fireflow.hub.domain.billing import z_report
from fireflow.hub.domain.tickets import ticket_line
from fireflow.hub.live.codec import CODECS, Codec, DecodeError, EncodedEvent, JsonCodec, MsgpackCodec
from fireflow.hub.live.store import StreamEntry
from fireflow.hub.run.demo import demo_kitchen, demo_menu, demo_setup, demo_tables
from fireflow.schema import events as e
from fireflow.schema.billing import LedgerKind, Payment, TenderMethod
from fireflow.schema.events import EVENTS
from fireflow.schema.protocol import (
    SUBPROTOCOL_JSON,
    SUBPROTOCOL_MSGPACK,
    Ack,
    Auth,
    ClientFrame,
    Cmd,
    ErrorCode,
    ErrorFrame,
    EventFrame,
    Outcome,
    Ping,
    Pong,
    Position,
    Positions,
    RiderFix,
    ServerFrame,
    Subscribe,
    Subscribed,
    Unsubscribe,
    Unsubscribed,
    Welcome,
)
from fireflow.schema.records import (
    Alert,
    AlertKind,
    Delivery,
    DeliveryStatus,
    ItemStatus,
    KitchenTicket,
    Note,
    Order,
    OrderItem,
    OrderStatus,
    OrderType,
    PaymentStatus,
    PrinterHealth,
    PrinterState,
    PrintJob,
    PrintJobState,
    Restaurant,
    Stock,
    SweepFinding,
    SweepKind,
    Table,
    TableStatus,
    TicketChange,
    TicketKind,
)
from fireflow.schema.setup import Device, StaffMember

NOW = 1_700_000_000_000
LINE = OrderItem(
    id="L1",
    menu_item_id="burger",
    name="Burger — double",
    unit_price=24_900,
    quantity=2,
    station="grill",
    category="mains",
    tax_code="STD",
    requires_prep=True,
    status=ItemStatus.PREPARING,
    fired=True,
    sent=2,
    notes="no onion",
    fired_at=NOW,
)
ORDER = Order(
    id="demo.o1a2b3c",
    number=7,
    type=OrderType.DINE_IN,
    status=OrderStatus.ACTIVE,
    table_id="T1",
    guests=3,
    opened_by="waiter-1",
    items=(LINE,),
    line_seq=1,
    created_at=NOW - 60_000,
    fired_at=NOW,
    version=4,
)
TABLE = Table(id="T1", name="Table 1", seats=4, status=TableStatus.OCCUPIED, order_id=ORDER.id, version=2)
TICKET = KitchenTicket(
    id=f"{ORDER.id}:t1",
    kind=TicketKind.FIRE,
    order_id=ORDER.id,
    order_number=7,
    order_type=OrderType.DINE_IN,
    station="grill",
    table_id="T1",
    notes=(Note(id="N1", text="birthday", internal=False, by="waiter-1", at=NOW),),
    sent_at=NOW,
    order_fired_at=NOW,
    lines=(ticket_line(LINE, TicketChange.ADDED, 1),),
)
STOCK = Stock(menu_item_id="burger", name="Burger", on_hand=5, reserved=2, version=3)
ALERT = Alert(
    id="a1", kind=AlertKind.TICKET_UNACKED, station="grill", order_id=ORDER.id, order_number=7, at=NOW, message="late"
)

DELIVERING = ORDER.model_copy(
    update={
        "type": OrderType.DELIVERY,
        "phone": "5550100",
        "address": "1 Main St",
        "delivery": Delivery(
            status=DeliveryStatus.FAILED, rider="rider-1", batch="demo.b1", stop=2, assigned_at=NOW, cod=900,
            picked_up_at=NOW, failed_at=NOW, reason="nobody home",
        ),
    }
)  # fmt: skip

EVENT_DATA: dict[str, e.EventData] = {
    "ORDER_OPENED": e.OrderChanged(order=ORDER.model_copy(update={"items": (), "version": 1})),
    "ORDER_UPDATED": e.OrderChanged(order=ORDER),
    "ORDER_FIRED": e.OrderChanged(order=ORDER),
    "NEW_KITCHEN_ORDER": e.NewKitchenOrder(ticket=TICKET),
    "ITEM_STATUS_CHANGED": e.ItemStatusChanged(
        order_id=ORDER.id,
        order_number=7,
        line_id="L1",
        station="grill",
        status=ItemStatus.DONE,
        previous=ItemStatus.PREPARING,
        order_version=5,
    ),
    "ORDER_READY": e.OrderReady(
        order_id=ORDER.id, order_number=7, order_type=OrderType.TAKEAWAY, table_id=None, token=12, ready_at=NOW
    ),
    "ORDER_PREDICTED": e.OrderPredicted(
        order_id=ORDER.id,
        order_number=7,
        order_type=OrderType.TAKEAWAY,
        token=12,
        ready_at=NOW + 600_000,
        stations={"grill": NOW + 600_000, "fry": NOW + 240_000},
        at=NOW,
    ),
    "SWEEP_FOUND": e.SweepFound(
        finding=SweepFinding(
            id="TABLE_DIRTY:T1:4",
            kind=SweepKind.TABLE_DIRTY,
            subject="T1",
            message="Table T1 has been dirty for 20 min: clean it so it can be seated",
            repaired=False,
            action="clean the table, then mark it clean (table.clean)",
            since=NOW - 1_200_000,
            at=NOW,
        )
    ),
    "ORDER_CANCELLED": e.OrderCancelled(order_id=ORDER.id, order_number=7, reason="guest left", stations=("grill",)),
    "TABLE_STATUS_CHANGED": e.TableStatusChanged(table=TABLE),
    "TOKEN_PREPARING": e.TokenPreparing(order_id=ORDER.id, token=12),
    "TICKET_VOID": e.NewKitchenOrder(ticket=TICKET.model_copy(update={"kind": TicketKind.VOID})),
    "TICKET_UPDATED": e.NewKitchenOrder(ticket=TICKET.model_copy(update={"kind": TicketKind.CARD})),
    "TICKET_ACKED": e.TicketAcked(order_id=ORDER.id, ticket_id=TICKET.id, station="grill", by="kds-grill", at=NOW),
    "ORDER_RECALLED": e.OrderChanged(order=ORDER),
    "ORDER_RUSHED": e.OrderRushed(order_id=ORDER.id, order_number=7, rush=True, station="grill"),
    "COURSE_HELD": e.CourseHeld(order_id=ORDER.id, order_number=7, course=2, held_courses=(2,)),
    "ORDER_NOTE_ADDED": e.OrderNoteAdded(order_id=ORDER.id, order_number=7, note=TICKET.notes[0]),
    "ORDER_MOVED": e.OrderMoved(order_id=ORDER.id, order_number=7, from_table_id="T1", to_table_id="T2"),
    "ORDER_MERGED": e.OrderMerged(from_order_id="demo.o2", from_order_number=8, order=ORDER, lines={"L1": "L2"}),
    "KITCHEN_ALERT": e.KitchenAlert(alert=ALERT),
    "KITCHEN_SETTINGS_CHANGED": e.KitchenSettingsChanged(kitchen=demo_kitchen()),
    "MENU_CHANGED": e.MenuChanged(
        version=4,
        items=demo_menu().items[:1],
        removed=("soda",),
        categories=demo_menu().categories,
        stations=demo_menu().stations,
    ),
    "TABLES_CHANGED": e.TablesChanged(tables=tuple(demo_tables(2)), removed=("T9",), areas=demo_setup().areas),
    "PRINT_JOB": e.PrintJobChanged(
        job=PrintJob(
            id=TICKET.id,
            printer="kitchen",
            station="grill",
            order_id=ORDER.id,
            ticket=TICKET,
            fired_by="waiter-1",
            created_at=NOW,
        )
    ),
    "PRINT_JOB_CHANGED": e.PrintJobChanged(
        job=PrintJob(
            id=TICKET.id,
            printer="kitchen",
            station="grill",
            order_id=ORDER.id,
            ticket=TICKET,
            state=PrintJobState.UNCONFIRMED,
            claimed_by="print-agent-1",
            claimed_until=NOW,
            reason="no answer",
        )
    ),
    "PRINTER_STATUS": e.PrinterStatus(
        health=PrinterHealth(
            printer="kitchen",
            name="Kitchen",
            state=PrinterState.PAPER_OUT,
            agent="print-agent-1",
            at=NOW,
            since=NOW,
            version=2,
        )
    ),
    "DEVICE_CHANGED": e.DeviceChanged(device=Device(id="kds-2", role="KITCHEN", stations=("grill",), generation=1)),
    "STAFF_CHANGED": e.StaffChanged(
        version=4, staff=(StaffMember(id="anna", name="Anna", role="CASHIER"),), removed=("x",)
    ),
    "PROFILE_CHANGED": e.ProfileChanged(restaurant=Restaurant(id="r1", name="Corner", areas=demo_setup().areas)),
    "PAYMENT_RECORDED": e.PaymentRecorded(
        order_ids=(ORDER.id,),
        payments=(
            Payment(id="k:0", method=TenderMethod.CASH, amount=500, received=1000, change=500, at=NOW, by="till"),
        ),
        total=900,
        paid=500,
        remaining=400,
        change=500,
        status=PaymentStatus.PARTIALLY_PAID,
    ),
    "ORDER_SETTLED": e.OrderSettled(
        order_ids=(ORDER.id,), invoice_id="demo.inv7", invoice_number=7, total=900, table_ids=("T1",)
    ),
    "ORDER_PICKED_UP": e.OrderPickedUp(order_id=ORDER.id, token=12, picked_up_at=NOW),
    "DELIVERY_ASSIGNED": e.DeliveryChanged(order=DELIVERING, previous_rider="rider-2"),
    "DELIVERY_UNASSIGNED": e.DeliveryUnassigned(order_id=ORDER.id, order_number=7, rider="rider-2", at=NOW),
    "DELIVERY_PICKED_UP": e.DeliveryChanged(order=DELIVERING),
    "DELIVERY_DELIVERED": e.DeliveryChanged(order=DELIVERING),
    "DELIVERY_FAILED": e.DeliveryChanged(order=DELIVERING),
    "DELIVERY_RETURNED": e.DeliveryChanged(order=DELIVERING),
    "DELIVERY_ETA": e.DeliveryEta(
        order_id=ORDER.id, order_number=7, rider="rider-1", eta=NOW + 600_000, distance_m=2_100, speed=3.9
    ),
    "DELIVERY_LATE": e.DeliveryLate(
        order_id=ORDER.id,
        order_number=7,
        rider="rider-1",
        eta=NOW + 600_000,
        promised_at=NOW + 300_000,
        distance_m=2_100,
        speed=3.9,
        alert=ALERT.model_copy(update={"id": f"{ORDER.id}:late", "kind": AlertKind.DELIVERY_LATE, "station": ""}),
    ),
    "PAYMENT_REFUNDED": e.PaymentRefunded(
        invoice_id="demo.inv7",
        invoice_number=7,
        order_ids=(ORDER.id,),
        amount=300,
        method=TenderMethod.UPI,
        refunded=300,
        approved_by="manager-1",
    ),
    "ORDER_VOIDED": e.OrderVoided(
        invoice_id="demo.inv7", invoice_number=7, order_ids=(ORDER.id,), total=900, approved_by="manager-1"
    ),
    "DRAWER_MOVED": e.DrawerMoved(kind=LedgerKind.PAYOUT, amount=1200, category="supplies", note="ice", by="till"),
    "RIDER_CASH": e.RiderCashChanged(
        rider="rider-1", kind="COD", amount=41_900, holds=61_900, order_id=ORDER.id, by="rider-1"
    ),
    "DAY_CLOSED": e.DayClosed(report=z_report("2026-11-23", [], currency="INR", counted_cash=0)),
    "REVENUE_UPDATED": e.RevenueUpdated(
        day="2026-11-23",
        currency="INR",
        revenue=900,
        invoices=1,
        average_bill=900,
        by_method={"CASH": 900},
        discounts=0,
        tax=43,
        service_charge=0,
    ),
    "STOCK_CHANGED": e.StockChanged(stock=STOCK),
    "ITEM_86D": e.ItemAvailability(menu_item_id="burger", name="Burger", available=0),
    "ITEM_AVAILABLE": e.ItemAvailability(menu_item_id="burger", name="Burger", available=None),
}
EVENT_CHANNELS = f"orders order:{ORDER.id} waiter:waiter-1 expo kitchen:grill"


def entry(event_type: str = "ORDER_UPDATED", offset: int = 42) -> StreamEntry:
    """A stream entry as the commit script stores it (data is the model's JSON)."""
    data = EVENT_DATA[event_type].model_dump_json().encode()
    return StreamEntry(offset, event_type.encode(), EVENT_CHANNELS.encode(), data, str(NOW).encode())


EVENT_FRAME = EventFrame(
    op="event",
    offset=42,
    type="ORDER_UPDATED",
    channels=["orders", f"order:{ORDER.id}"],
    ts=NOW,
    data=EVENT_DATA["ORDER_UPDATED"].model_dump(mode="json"),
)

FRAMES: list[BaseModel] = [
    # client -> hub
    Auth(op="auth", token="eyJyIjoiZGVtbyJ9.c2lnbmF0dXJl"),
    Subscribe(op="subscribe", channels=["kitchen:grill", "expo"]),
    Subscribe(op="subscribe", channels=["orders", f"order:{ORDER.id}"], since=41, epoch="9f1c2a3b4d5e6f70"),
    Unsubscribe(op="unsubscribe", channels=["expo"]),
    Cmd(
        op="cmd", id="c-1", type="order.add_item", data={"order_id": ORDER.id, "menu_item_id": "burger", "quantity": 2}
    ),
    Cmd(op="cmd", id="c-2", type="order.fire", data={}),
    Outcome(op="outcome", id="c-1"),
    Ping(op="ping", t=NOW),
    Ping(op="ping"),
    Pong(op="pong", t=NOW),
    Position(op="position", lat=12.9716, lon=77.5946, accuracy=8.5, at=NOW),
    Position(op="position", lat=-33.9, lon=151.2, at=NOW),
    # hub -> client
    Positions(
        op="positions",
        riders=[
            RiderFix(rider="rider-1", lat=12.9716, lon=77.5946, accuracy=8.5, at=NOW, speed=4.2),
            RiderFix(rider="rider-2", lat=12.98, lon=77.6, at=NOW),
        ],
    ),
    Welcome(
        op="welcome",
        restaurant="demo",
        role="KITCHEN",
        device="kds-grill",
        stations=["grill"],
        offset=41,
        epoch="9f1c2a3b4d5e6f70",
        heartbeat=15.0,
        max_frame=65_536,
    ),
    Subscribed(
        op="subscribed",
        channels=["kitchen:grill", "tables"],
        offset=41,
        epoch="9f1c2a3b4d5e6f70",
        recovered=False,
        snapshot={
            "kitchen:grill": {"tickets": [TICKET.model_dump(mode="json")]},
            "tables": {"tables": [TABLE.model_dump(mode="json")]},
        },
    ),
    Subscribed(
        op="subscribed",
        channels=["orders"],
        offset=42,
        epoch="9f1c2a3b4d5e6f70",
        recovered=True,
        replayed=[EVENT_FRAME],
    ),
    Unsubscribed(op="unsubscribed", channels=["expo"]),
    Ack(op="ack", id="c-1", offset=42, result={"order": ORDER.model_dump(mode="json"), "line_id": "L1"}),
    ErrorFrame(
        op="error",
        id="c-1",
        code=ErrorCode.VERSION_CONFLICT,
        message="order changed: version 4, you had 3",
        details={"current": ORDER.model_dump(mode="json")},
    ),
    ErrorFrame(op="error", code=ErrorCode.BUSY, message="retry with the same id", retryable=True),
    EVENT_FRAME,
]


def _frame_types(union: Any) -> set[type[BaseModel]]:
    return set(typing.get_args(typing.get_args(union)[0]))


def _id(value: object) -> str:
    if isinstance(value, BaseModel):
        return str(getattr(value, "op", type(value).__name__))
    return getattr(value, "name", str(value))


CODEC_LIST: list[Codec] = [JsonCodec(), MsgpackCodec()]


def test_every_frame_type_has_an_example() -> None:
    """The round-trip examples cover every client and server frame type."""
    assert {type(f) for f in FRAMES} == _frame_types(ClientFrame) | _frame_types(ServerFrame)


def test_codecs_are_registered_by_subprotocol() -> None:
    """Each subprotocol maps to its codec, and only msgpack is binary."""
    assert isinstance(CODECS[SUBPROTOCOL_JSON], JsonCodec) and not CODECS[SUBPROTOCOL_JSON].binary
    assert isinstance(CODECS[SUBPROTOCOL_MSGPACK], MsgpackCodec) and CODECS[SUBPROTOCOL_MSGPACK].binary


@pytest.mark.parametrize("codec", CODEC_LIST, ids=_id)
@pytest.mark.parametrize("frame", FRAMES, ids=_id)
def test_frame_round_trip(frame: BaseModel, codec: Codec) -> None:
    """A frame encoded by a codec decodes to a dict that validates back to an equal frame."""
    message = codec.encode(frame.model_dump(mode="json"))
    assert message["type"] == "websocket.send"
    assert ("bytes" if codec.binary else "text") in message
    decoded = codec.decode(message)
    assert type(frame).model_validate(decoded) == frame


def test_json_codec_reads_binary_frames_too() -> None:
    """A JSON socket accepts the same JSON sent as a binary frame."""
    decoded = JsonCodec().decode({"type": "websocket.receive", "bytes": b'{"op":"ping","t":1}'})
    assert Ping.model_validate(decoded) == Ping(op="ping", t=1)


@pytest.mark.parametrize("event_type", sorted(EVENTS))
def test_encoded_event_json_and_msgpack(event_type: str) -> None:
    """An EncodedEvent's spliced JSON and its msgpack both carry frame(), a valid event frame with valid data."""
    event = EncodedEvent(entry(event_type))
    frame = event.frame()
    assert event.offset == 42
    assert frame == {
        "op": "event",
        "offset": 42,
        "type": event_type,
        "channels": EVENT_CHANNELS.split(" "),
        "ts": NOW,
        "data": EVENT_DATA[event_type].model_dump(mode="json"),
    }
    text = event.message(binary=False)["text"]
    assert isinstance(text, str) and orjson.loads(text) == frame
    packed = event.message(binary=True)["bytes"]
    assert msgpack.unpackb(packed) == frame
    validated = EventFrame.model_validate(orjson.loads(text))
    assert validated == EventFrame.model_validate(msgpack.unpackb(packed))
    assert EVENTS[event_type].model_validate(validated.data) == EVENT_DATA[event_type]


def test_encoded_event_is_decoded_by_both_codecs() -> None:
    """What a socket of either encoding receives for an event decodes with that socket's codec."""
    event = EncodedEvent(entry())
    for codec in CODEC_LIST:
        assert codec.decode(event.message(codec.binary)) == event.frame()


def test_encoded_event_encodes_once() -> None:
    """The same EncodedEvent hands out the identical message object every time, per encoding."""
    event = EncodedEvent(entry())
    for binary in (False, True):
        first = event.message(binary)
        assert event.message(binary) is first
    assert event.message(False) is not event.message(True)


@pytest.mark.parametrize(
    "message",
    [
        {"type": "websocket.receive", "text": "{not json"},
        {"type": "websocket.receive", "text": ""},
        {"type": "websocket.receive", "bytes": b"\xff\xfe"},
        {"type": "websocket.receive"},
    ],
    ids=["garbage", "empty", "not-utf8", "no-payload"],
)
def test_json_decode_errors(message: dict[str, Any]) -> None:
    """Input that is not JSON raises DecodeError from the JSON codec."""
    with pytest.raises(DecodeError):
        JsonCodec().decode(message)


@pytest.mark.parametrize(
    "message",
    [
        {"type": "websocket.receive", "text": '{"op":"ping"}'},
        {"type": "websocket.receive", "bytes": b"\xc1"},
        {"type": "websocket.receive", "bytes": b"\x92\x01"},
        {"type": "websocket.receive", "bytes": b"\x01\x02"},
        {"type": "websocket.receive", "bytes": b""},
        {"type": "websocket.receive", "bytes": msgpack.packb({1: "int key"})},
    ],
    ids=["text-frame", "reserved-byte", "truncated", "extra-data", "empty", "int-map-key"],
)
def test_msgpack_decode_errors(message: dict[str, Any]) -> None:
    """A text frame or bytes that are not one msgpack value raise DecodeError from the msgpack codec."""
    with pytest.raises(DecodeError):
        MsgpackCodec().decode(message)


@pytest.mark.parametrize("size", [0, 125, 126, 65_535, 65_536])
@pytest.mark.parametrize("binary", [False, True])
def test_an_events_prepared_frame_is_what_the_websockets_library_reads(size: int, binary: bool) -> None:
    """``EncodedEvent.wire`` at each length boundary of RFC 6455's header, parsed by websockets' own reader
    as a client reads a server's frame: final, unmasked, the right opcode, the payload intact."""
    from websockets.frames import Frame, Opcode
    from websockets.streams import StreamReader

    data = orjson.dumps({"pad": "x" * size})
    event = EncodedEvent(StreamEntry(7, b"ORDER_UPDATED", b"order:o-1", data, b"1700000000000"))
    reader = StreamReader()
    reader.feed_data(event.wire(binary))
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame = done.value
    assert frame.fin and frame.opcode is (Opcode.BINARY if binary else Opcode.TEXT)
    message = event.message(binary)
    assert frame.data == (message["bytes"] if binary else message["text"].encode())
    assert event.wire(binary) is event.wire(binary)  # made once
