"""Delivery customers' details, blanked for readers who may not see them: pure, and as the codec applies it."""

from __future__ import annotations

import orjson

from fireflow.hub.domain import privacy
from fireflow.hub.domain.actors import Actor, Role
from fireflow.hub.live.codec import EncodedEvent
from fireflow.hub.live.store import StreamEntry

DELIVERY = {"id": "demo.o1", "type": "DELIVERY", "phone": "5550101", "address": "1 Main St", "location": None}
TAKEAWAY = {"id": "demo.o2", "type": "TAKEAWAY", "phone": "5550102", "address": None, "customer_name": "Ann"}


def test_only_riders_dispatch_and_the_money_side_see_customers() -> None:
    assert {r for r in Role if privacy.sees_customers(r)} == {
        Role.RIDER, Role.DISPATCHER, Role.CASHIER, Role.MANAGER, Role.OWNER,
    }  # fmt: skip


def test_redact_blanks_delivery_orders_wherever_they_sit_and_nothing_else() -> None:
    data = {"orders": [DELIVERY, TAKEAWAY], "order": DELIVERY, "count": 2}
    blanked = privacy.redact(data)
    assert blanked["orders"][0] == {**DELIVERY, "phone": None, "address": None}
    assert blanked["orders"][1] == TAKEAWAY and blanked["count"] == 2
    assert blanked["order"]["phone"] is None and DELIVERY["phone"] == "5550101"  # the input is left alone


def test_an_event_is_blanked_once_per_encoding_and_only_when_it_holds_a_customer() -> None:
    def entry(data: object) -> StreamEntry:
        return StreamEntry(7, b"ORDER_UPDATED", b"orders order:demo.o1", orjson.dumps(data), b"1")

    event = EncodedEvent(entry({"order": DELIVERY}))
    private = event.for_reader(False)
    assert event.for_reader(True) is event and private is event.for_reader(False)  # made once
    assert b"5550101" not in private.entry.data and orjson.loads(private.message(False)["text"])["offset"] == 7
    plain = EncodedEvent(entry({"order": TAKEAWAY}))
    assert plain.for_reader(False) is plain
    assert not privacy.may_hold_customer(orjson.dumps({"order": TAKEAWAY}))


def test_a_reader_is_shown_what_its_role_may_see_and_a_rider_its_own_trips() -> None:
    mine = {**DELIVERY, "delivery": {"rider": "rider-1"}}
    theirs = {**DELIVERY, "id": "demo.o3", "delivery": {"rider": "rider-2"}}
    answer = {"orders": [mine, theirs, DELIVERY]}
    assert privacy.shown_to(Actor("demo", Role.CASHIER, "till-1"), answer) is answer
    rider = privacy.shown_to(Actor("demo", Role.RIDER, "rider-1"), answer)["orders"]
    assert [o["phone"] for o in rider] == ["5550101", None, None]
    waiter = privacy.shown_to(Actor("demo", Role.WAITER, "rider-1"), answer)["orders"]
    assert [o["phone"] for o in waiter] == [None, None, None]
    assert not privacy.sees_every_customer(Role.RIDER) and privacy.sees_every_customer(Role.DISPATCHER)
