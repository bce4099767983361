"""Delivery without servers: batches to riders, pickup, delivered (prepaid or cash), failed and returned."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fireflow.hub.domain import billing as b
from fireflow.hub.domain import delivery as dl
from fireflow.hub.domain import kitchen as k
from fireflow.hub.domain import orders as d
from fireflow.hub.domain import settlement as s
from fireflow.hub.domain.actors import Actor, Role
from fireflow.hub.domain.decision import Decision
from fireflow.hub.domain.errors import DomainError
from fireflow.hub.domain.stock import StockBook
from fireflow.hub.domain.views import LiveState, channel_view
from fireflow.schema import commands as c
from fireflow.schema import events as e
from fireflow.schema.billing import BillingSettings
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.records import (
    DeliveryStatus,
    Order,
    OrderStatus,
    OrderType,
    PaymentStatus,
    Restaurant,
    SettleLock,
)
from fireflow.schema.setup import Device
from tests.domain_support import EXPO, NOW, add, fire, opened

DISPATCHER = Actor("demo", Role.DISPATCHER, "dispatch-1")
CASHIER = Actor("demo", Role.CASHIER, "till-1")
RIDER_1 = Actor("demo", Role.RIDER, "rider-1")
RIDER_2 = Actor("demo", Role.RIDER, "rider-2")
BILLING = BillingSettings()
MONEY: dict[str, Any] = {"settings": BILLING, "currency": "INR"}
T = NOW + 10_000


def _order(n: int = 1, *, ready: bool = True, paid: bool = False, kind: OrderType = OrderType.DELIVERY) -> Order:
    """Delivery order ``n`` with a burger, fired, and bumped READY unless told."""
    fields = {"phone": f"555010{n}", "address": f"{n} Main St"} if kind is OrderType.DELIVERY else {}
    order = opened(kind, **fields).orders[0].model_copy(update={"id": f"demo.o{n}", "number": n})
    order = fire(add(order, "burger").orders[0]).orders[0]
    if ready:
        order = k.bump_order(order, c.BumpOrder(order_id=order.id), EXPO, NOW + 5).orders[0]
    if paid:
        order = order.model_copy(update={"payment_status": PaymentStatus.PAID, "invoice_id": "demo.inv1"})
    return order


def _assign(orders: list[Order], rider: str = "rider-1", *, device: Device | None = None, now: int = T) -> Decision:
    cmd = c.DispatchOrders(order_ids=[o.id for o in orders], rider=rider)
    return dl.assign(orders, cmd, DISPATCHER, now, batch=f"demo.b{now}", rider=device, **MONEY)


def _out(order: Order, actor: Actor = RIDER_1) -> Order:
    """``order`` assigned to rider-1 and picked up."""
    assigned = _assign([order]).orders[0]
    return dl.pickup(assigned, actor, T + 1, **MONEY).orders[0]


def _deliver(order: Order, collected: int = 0, actor: Actor = RIDER_1) -> Decision:
    """delivery.deliver as the hub runs it: checked; cash on delivery paid (COD) and applied with the delivery."""
    due = dl.check_delivery(order, c.DeliveryDeliver(order_id=order.id, collected=collected), actor, **MONEY)
    if not due:
        return dl.delivered(order, actor, T + 2, collected=0)
    pay = dl.cod_tender(order, due)
    plan = s.plan_payment(
        [order], BILLING, "INR", pay, actor, T + 2, key="deliver-1", prep_mean_ms={}, on_delivery=True
    )
    assert {(x.account, x.debit) for x in plan.posting.entries if x.debit} >= {
        (b.rider_account(order.delivery.rider if order.delivery else ""), due)
    }
    paid = s.finish(
        [order], [], "deliver-1", list(plan.payments), total=due, change=0,
        invoice_id="demo.inv1", invoice_number=1, now=T + 2,
    )  # fmt: skip
    return dl.paid_and_delivered(paid, actor, T + 2, collected=due)


def _fail(order: Order, actor: Actor = RIDER_1) -> Decision:
    return dl.fail(order, c.DeliveryFail(order_id=order.id, reason="nobody home"), actor, T + 2)


def _refused(code: ErrorCode, call: Any, *args: Any, **kw: Any) -> DomainError:
    with pytest.raises(DomainError) as err:
        call(*args, **kw)
    assert err.value.code is code, err.value
    return err.value


def _customer_free(data: e.EventData) -> bool:
    text = data.model_dump_json()
    return "Main St" not in text and "555010" not in text


def test_a_batch_of_three_goes_to_one_rider_in_the_order_listed() -> None:
    """Three ready orders: one batch, stops 1-3, what to collect (0 when prepaid), told where the customer may be seen."""
    orders = [_order(1), _order(2, paid=True), _order(3)]
    decision = _assign(orders)
    trips = [o.delivery for o in decision.orders]
    assert [(t.status, t.rider, t.batch, t.stop) for t in trips if t] == [
        (DeliveryStatus.ASSIGNED, "rider-1", f"demo.b{T}", n) for n in (1, 2, 3)
    ]
    assert [t.cod for t in trips if t] == [
        dl.amount_due(orders[0], BILLING, "INR"),
        0,
        dl.amount_due(orders[2], BILLING, "INR"),
    ]
    assert trips[0] and trips[0].cod > 0 and trips[0].assigned_by == "dispatch-1" and trips[0].assigned_at == T
    assert [o.version for o in decision.orders] == [o.version + 1 for o in orders]
    assert [ev.type for ev in decision.events] == ["DELIVERY_ASSIGNED"] * 3
    for ev, order in zip(decision.events, decision.orders, strict=True):
        assert set(ev.channels) == {
            "orders",
            f"order:{order.id}",
            "waiter:waiter-1",
            "dispatch",
            "cashier",
            "rider:rider-1",
        }
        assert isinstance(ev.data, e.DeliveryChanged) and ev.data.order == order and ev.data.previous_rider is None
    assert decision.result["batch"] == f"demo.b{T}" and decision.result["rider"] == "rider-1"


def test_an_order_still_cooking_may_be_assigned_but_not_picked_up() -> None:
    """ACTIVE may be planned into a batch; the rider takes it only once READY."""
    assigned = _assign([_order(ready=False)]).orders[0]
    assert assigned.status is OrderStatus.ACTIVE and assigned.delivery
    err = _refused(ErrorCode.INVALID_STATE, dl.pickup, assigned, RIDER_1, T + 1, **MONEY)
    assert "not ready" in err.message


@pytest.mark.parametrize(
    ("order", "code", "words"),
    [
        (_order(kind=OrderType.TAKEAWAY), ErrorCode.INVALID_STATE, "only delivery orders"),
        (_order().model_copy(update={"status": OrderStatus.CANCELLED}), ErrorCode.INVALID_STATE, "CANCELLED"),
        (_order().model_copy(update={"status": OrderStatus.CLOSED}), ErrorCode.INVALID_STATE, "CLOSED"),
    ],
)
def test_assign_refuses_what_cannot_go_out(order: Order, code: ErrorCode, words: str) -> None:
    """Not a delivery order, cancelled or closed: refused, saying why."""
    assert words in _refused(code, _assign, [order]).message


def test_assign_refuses_a_repeat_a_listed_twice_and_orders_gone_or_failed() -> None:
    """Same rider again, one order listed twice, out for delivery, delivered, or failed (not back): refused."""
    order = _order()
    assigned = _assign([order]).orders[0]
    assert "already ASSIGNED to rider-1" in _refused(ErrorCode.INVALID_STATE, _assign, [assigned]).message
    _refused(ErrorCode.INVALID_COMMAND, _assign, [order, order])
    out = _out(order)
    assert "OUT_FOR_DELIVERY with rider-1" in _refused(ErrorCode.INVALID_STATE, _assign, [out], "rider-2").message
    failed = _fail(out).orders[0]
    assert "FAILED" in _refused(ErrorCode.INVALID_STATE, _assign, [failed], "rider-2").message
    delivered = _deliver(out, out.delivery.cod if out.delivery else 0).orders[0]
    assert "CLOSED" in _refused(ErrorCode.INVALID_STATE, _assign, [delivered], "rider-2").message  # paid on delivery


def test_assign_checks_the_rider_in_the_device_registry() -> None:
    """A device paired as something else, or revoked, is no rider; a paired rider or an unknown id may be."""
    order = _order()
    till = Device(id="till-1", role="CASHIER")
    assert "not a rider" in _refused(ErrorCode.INVALID_STATE, _assign, [order], "till-1", device=till).message
    gone = Device(id="rider-9", role="RIDER", revoked_at=NOW)
    assert "revoked" in _refused(ErrorCode.INVALID_STATE, _assign, [order], "rider-9", device=gone).message
    assert _assign([order], "rider-9", device=Device(id="rider-9", role="RIDER")).orders[0].delivery


def test_reassigning_tells_both_riders_and_the_old_one_nothing_of_the_customer() -> None:
    """ASSIGNED to rider-1, given to rider-2: rider-2 gets the order; rider-1 only that it is no longer theirs."""
    assigned = _assign([_order()]).orders[0]
    moved = _assign([assigned], "rider-2", now=T + 5)
    new = moved.orders[0]
    assert new.delivery and (new.delivery.rider, new.delivery.batch) == ("rider-2", f"demo.b{T + 5}")
    given_to, taken_from = moved.events
    assert given_to.type == "DELIVERY_ASSIGNED" and "rider:rider-2" in given_to.channels
    assert "rider:rider-1" not in given_to.channels
    assert isinstance(given_to.data, e.DeliveryChanged) and given_to.data.previous_rider == "rider-1"
    assert taken_from.type == "DELIVERY_UNASSIGNED" and taken_from.channels == ("rider:rider-1",)
    assert taken_from.data == e.DeliveryUnassigned(order_id=new.id, order_number=1, rider="rider-1", at=T + 5)
    assert _customer_free(taken_from.data)


def test_a_returned_order_may_go_out_again() -> None:
    """FAILED, then RETURNED: it can be assigned again, to anyone."""
    returned = dl.return_to_restaurant(_fail(_out(_order())).orders[0], CASHIER, T + 3).orders[0]
    again = _assign([returned], "rider-2", now=T + 4).orders[0]
    assert again.delivery and (again.delivery.status, again.delivery.rider) == (DeliveryStatus.ASSIGNED, "rider-2")


def test_pickup_is_the_assigned_riders_or_dispatchs_and_happens_once() -> None:
    """rider-2 may not; rider-1 and the dispatcher may; asked again: INVALID_STATE naming OUT_FOR_DELIVERY."""
    assigned = _assign([_order()]).orders[0]
    refused = _refused(ErrorCode.FORBIDDEN, dl.pickup, assigned, RIDER_2, T, **MONEY)
    assert "not assigned to you" in refused.message and str(assigned.number) not in refused.message  # told nothing
    assert not refused.details
    decision = dl.pickup(assigned, RIDER_1, T + 1, **MONEY)
    out = decision.orders[0]
    assert out.delivery and (out.delivery.status, out.delivery.picked_up_at) == (DeliveryStatus.OUT_FOR_DELIVERY, T + 1)
    assert [ev.type for ev in decision.events] == ["DELIVERY_PICKED_UP"]
    assert "rider:rider-1" in decision.events[0].channels and "cashier" in decision.events[0].channels
    err = _refused(ErrorCode.INVALID_STATE, dl.pickup, out, RIDER_1, T + 2, **MONEY)
    assert "is OUT_FOR_DELIVERY" in err.message and err.details["delivery"] == "OUT_FOR_DELIVERY"
    by_dispatch = dl.pickup(assigned, DISPATCHER, T + 1, **MONEY).orders[0]
    assert by_dispatch.delivery and by_dispatch.delivery.by == "dispatch-1"


def test_a_rider_cannot_act_on_an_order_not_assigned_to_anyone() -> None:
    """Unassigned: a rider is FORBIDDEN (told nothing of it), a dispatcher INVALID_STATE."""
    order = _order()
    _refused(ErrorCode.FORBIDDEN, dl.pickup, order, RIDER_1, T, **MONEY)
    assert (
        "not assigned to a rider" in _refused(ErrorCode.INVALID_STATE, dl.pickup, order, DISPATCHER, T, **MONEY).message
    )
    _refused(ErrorCode.FORBIDDEN, _deliver, _out(_order()), 0, RIDER_2)
    _refused(ErrorCode.FORBIDDEN, _fail, _out(_order()), RIDER_2)


def test_cash_on_delivery_collects_exactly_what_is_due_and_is_paid_to_the_rider() -> None:
    """Unpaid: collected must equal the bill (else INVALID_STATE with the figure); DELIVERED, paid COD, closed."""
    out = _out(_order())
    due = dl.amount_due(out, BILLING, "INR")
    assert due > 0 and out.delivery and out.delivery.cod == due
    for wrong in (0, due - 1, due + 1):
        err = _refused(ErrorCode.INVALID_STATE, _deliver, out, wrong)
        assert str(due) in err.message and err.details == {"order_id": out.id, "due": due, "collected": wrong}
    decision = _deliver(out, due)
    done = decision.orders[0]
    assert (done.status, done.payment_status, done.invoice_number) == (OrderStatus.CLOSED, PaymentStatus.PAID, 1)
    assert done.delivery and (done.delivery.status, done.delivery.collected, done.delivery.delivered_at) == (
        DeliveryStatus.DELIVERED,
        due,
        T + 2,
    )
    assert done.version == out.version + 1  # one change, in one commit
    kinds = [ev.type for ev in decision.events]
    assert decision.result["closed"] is True and kinds == ["PAYMENT_RECORDED", "ORDER_SETTLED", "DELIVERY_DELIVERED"]
    assert decision.result["payment"]["payments"][0]["method"] == "COD"
    assert "rider:rider-1" in decision.events[-1].channels  # told though no longer held
    assert "DELIVERED" in _refused(ErrorCode.INVALID_STATE, _deliver, done, due).message


def test_a_part_paid_order_collects_the_rest() -> None:
    """Paid 100 of the bill before: the rider collects the bill less 100."""
    order = _order().model_copy(update={"paid": 100, "payment_status": PaymentStatus.PARTIALLY_PAID})
    out = _out(order)
    assert out.delivery and out.delivery.cod == dl.amount_due(_order(), BILLING, "INR") - 100


def test_a_prepaid_order_collects_nothing_and_closes() -> None:
    """PAID: collected must be 0; delivered, the order is CLOSED."""
    out = _out(_order(paid=True))
    assert "prepaid" in _refused(ErrorCode.INVALID_STATE, _deliver, out, 5).message
    decision = _deliver(out, 0, DISPATCHER)
    assert decision.orders[0].status is OrderStatus.CLOSED and decision.result["closed"] is True


def test_delivery_waits_while_a_payment_is_being_recorded() -> None:
    """A payment lock on the order: ORDER_LOCKED, try again."""
    out = _out(_order()).model_copy(
        update={"settling": SettleLock(key="pay-1", by="till-1", settles=True, amount=1, since=T)}
    )
    _refused(ErrorCode.ORDER_LOCKED, _deliver, out, 0)


def test_a_failed_delivery_has_a_reason_and_is_returned_once() -> None:
    """OUT → FAILED (reason); FAILED → RETURNED by the restaurant; every other order of steps is INVALID_STATE."""
    assigned = _assign([_order()]).orders[0]
    _refused(ErrorCode.INVALID_STATE, _fail, assigned)
    _refused(ErrorCode.INVALID_STATE, dl.return_to_restaurant, assigned, CASHIER, T)
    failed_decision = _fail(dl.pickup(assigned, RIDER_1, T + 1, **MONEY).orders[0])
    failed = failed_decision.orders[0]
    assert failed.delivery and (failed.delivery.status, failed.delivery.reason) == (
        DeliveryStatus.FAILED,
        "nobody home",
    )
    assert failed_decision.events[0].type == "DELIVERY_FAILED"
    _refused(ErrorCode.INVALID_STATE, _deliver, failed, 0)
    back = dl.return_to_restaurant(failed, CASHIER, T + 3)
    returned = back.orders[0]
    assert returned.delivery and (returned.delivery.status, returned.delivery.returned_at) == (
        DeliveryStatus.RETURNED,
        T + 3,
    )
    assert returned.status is OrderStatus.READY and back.events[0].type == "DELIVERY_RETURNED"
    assert "rider:rider-1" in back.events[0].channels
    assert "RETURNED" in _refused(ErrorCode.INVALID_STATE, dl.return_to_restaurant, returned, CASHIER, T + 4).message


def test_the_bill_is_final_once_the_food_left_and_the_counter_does_not_hand_it_over() -> None:
    """Out with a rider: lines cannot change, order.pickup is refused; back (RETURNED): both may again."""
    out = _out(_order(paid=True))
    err = _refused(ErrorCode.INVALID_STATE, add, out, "water")
    assert "OUT_FOR_DELIVERY with rider-1" in err.message
    assert "riders hand it over" in _refused(ErrorCode.INVALID_STATE, s.pickup, out, CASHIER, T).message
    returned = dl.return_to_restaurant(_fail(out).orders[0], CASHIER, T + 3).orders[0]
    assert s.pickup(returned, CASHIER, T + 4).orders[0].status is OrderStatus.CLOSED


def test_cod_is_taken_only_on_delivery() -> None:
    """A till cannot pay in COD: the cash is the rider's to collect; nor can a refund be given in COD."""
    order = _out(_order())
    pay = dl.cod_tender(order, dl.amount_due(order, BILLING, "INR"))
    err = _refused(
        ErrorCode.INVALID_COMMAND, s.plan_payment, [order], BILLING, "INR", pay, CASHIER, T, key="k", prep_mean_ms={}
    )
    assert "rider" in err.message
    assert s.waits_for_pickup(order) and not s.waits_for_pickup(
        _deliver(order, dl.amount_due(order, BILLING, "INR")).orders[0]
    )


def test_cancelling_an_assigned_order_tells_its_rider_and_dispatch() -> None:
    """ORDER_CANCELLED reaches the rider's channel and dispatch (no customer details in it)."""
    assigned = _assign([_order()]).orders[0]
    decision = d.cancel_order(assigned, {}, StockBook(), c.CancelOrder(order_id=assigned.id, reason="changed mind"))
    cancelled = decision.events[0]
    assert {"dispatch", "rider:rider-1"} <= set(cancelled.channels) and _customer_free(cancelled.data)


def test_the_dispatch_and_rider_views() -> None:
    """dispatch: every open delivery order and each rider's list; rider:<device>: only its own, in batch order."""
    first = _assign([_order(3), _order(1)], now=T).orders
    second = _assign([_order(2)], now=T + 50).orders
    other = _assign([_order(4)], "rider-2").orders
    delivered = _deliver(_out(_order(5), DISPATCHER), dl.amount_due(_order(5), BILLING, "INR")).orders
    takeaway = _order(6, kind=OrderType.TAKEAWAY)
    state = LiveState(now=T + 100, orders=[*second, *other, *first, *delivered, takeaway, _order(7)])
    mine = channel_view("rider:rider-1", state)["orders"]
    assert [o["id"] for o in mine] == ["demo.o3", "demo.o1", "demo.o2"]
    assert mine[0]["phone"] == "5550103" and mine[0]["address"] == "3 Main St"
    assert [o["id"] for o in channel_view("rider:rider-2", state)["orders"]] == ["demo.o4"]
    assert channel_view("rider:rider-3", state) == {"orders": [], "currency": "INR"}
    view = channel_view("dispatch", state)
    assert {o["id"] for o in view["orders"]} == {f"demo.o{n}" for n in (1, 2, 3, 4, 7)}  # 5: delivered, closed
    assert view["riders"] == [
        {"rider": "rider-1", "order_ids": ["demo.o3", "demo.o1", "demo.o2"]},
        {"rider": "rider-2", "order_ids": ["demo.o4"]},
    ]
    assert view["at"] == T + 100
    assert view["origin"] is None  # no restaurant location: the map has no centre
    assert view["due"] == {"demo.o7": None}  # only orders waiting for a rider; no restaurant, no bill rules
    priced = channel_view("dispatch", replace(state, restaurant=Restaurant(id="demo", name="Demo", billing=BILLING)))
    assert priced["due"] == {"demo.o7": dl.amount_due(_order(7), BILLING, "INR")} and priced["due"]["demo.o7"] > 0


def test_a_failed_order_stays_on_the_riders_list_until_returned() -> None:
    """The rider still holds a failed order: on its list until the restaurant has it back."""
    failed = _fail(_out(_order())).orders[0]
    assert len(channel_view("rider:rider-1", LiveState(now=T, orders=[failed]))["orders"]) == 1
    back = dl.return_to_restaurant(failed, CASHIER, T + 3).orders[0]
    assert channel_view("rider:rider-1", LiveState(now=T, orders=[back]))["orders"] == []


STEPS = ("assign-1", "assign-2", "pickup", "deliver", "fail", "return", "edit")
ACTORS = (RIDER_1, RIDER_2, DISPATCHER)
ALLOWED = {
    (None, DeliveryStatus.ASSIGNED),
    (DeliveryStatus.ASSIGNED, DeliveryStatus.ASSIGNED),
    (DeliveryStatus.ASSIGNED, DeliveryStatus.OUT_FOR_DELIVERY),
    (DeliveryStatus.OUT_FOR_DELIVERY, DeliveryStatus.DELIVERED),
    (DeliveryStatus.OUT_FOR_DELIVERY, DeliveryStatus.FAILED),
    (DeliveryStatus.FAILED, DeliveryStatus.RETURNED),
    (DeliveryStatus.RETURNED, DeliveryStatus.ASSIGNED),
}


def _step(order: Order, step: str, actor: Actor, paid: bool) -> Decision:
    if step.startswith("assign"):
        return _assign([order], f"rider-{step[-1]}")
    if step == "pickup":
        return dl.pickup(order, actor, T, **MONEY)
    if step == "deliver":
        return _deliver(order, 0 if paid else dl.amount_due(order, BILLING, "INR"), actor)
    if step == "fail":
        return _fail(order, actor)
    if step == "return":
        return dl.return_to_restaurant(order, actor, T)
    return add(order, "water")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(STEPS), st.sampled_from(ACTORS)), max_size=12),
    st.booleans(),
)
def test_any_sequence_moves_only_along_the_lifecycle_and_keeps_riders_apart(
    steps: list[tuple[str, Actor]], paid: bool
) -> None:
    """Whatever is asked by whom: only allowed moves, a rider acts only on its own, customer data only to its rider."""
    order = _order(paid=paid)
    for step, actor in steps:
        before = order.delivery
        try:
            decision = _step(order, step, actor, paid)
        except DomainError as err:
            assert err.code in (ErrorCode.INVALID_STATE, ErrorCode.FORBIDDEN), err
            continue
        new = decision.orders[0]
        after = new.delivery
        if step == "edit":
            assert after == before and (before is None or before.status not in d.FOOD_GONE)
        else:
            assert after is not None
            assert (before.status if before else None, after.status) in ALLOWED
            if actor.role is Role.RIDER and not step.startswith("assign"):
                assert before is not None and before.rider == actor.device_id
            for ev in decision.events:
                riders = {ch for ch in ev.channels if ch.startswith("rider:")}
                if ev.type == "DELIVERY_UNASSIGNED":
                    assert _customer_free(ev.data)
                else:
                    assert riders <= {f"rider:{after.rider}"}
        order = new
        if order.status is OrderStatus.CLOSED:
            break
