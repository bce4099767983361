"""Quick service without servers: counter orders paid first stay open until picked up; skip and force ready."""

from __future__ import annotations

import pytest

from fireflow.hub.domain import kitchen as k
from fireflow.hub.domain import settlement as s
from fireflow.hub.domain.actors import Actor, Role
from fireflow.hub.domain.decision import Decision
from fireflow.hub.domain.errors import DomainError
from fireflow.hub.domain.views import LiveState, channel_view
from fireflow.schema import commands as c
from fireflow.schema.billing import BillingSettings
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.records import ItemStatus, Order, OrderStatus, OrderType, PaymentStatus, SettleLock
from tests.domain_support import EXPO, NOW, add, fire, with_items

CASHIER = Actor("demo", Role.CASHIER, "till-1")
FIRED = NOW + 1
BURGER = ("grill", "burger")
MINUTES_3 = 180_000


def _pay(orders: list[Order], *, force: bool = False, prep: dict[tuple[str, str], int] | None = None) -> s.PaymentPlan:
    due = s.preview(orders, BillingSettings(), "INR").result["due"]
    cmd = c.PayOrder.model_validate(
        {"order_ids": [o.id for o in orders], "tenders": [{"method": "CARD", "amount": due}], "force": force}
    )
    return s.plan_payment(
        orders, BillingSettings(), "INR", cmd, CASHIER, FIRED + 1000, key="pay-1", prep_mean_ms=prep or {}
    )


def _settle(order: Order, *, estimate: int | None = None) -> Decision:
    plan = _pay([order], force=True)
    return s.finish(
        [order], [], "pay-1", plan.payments, total=plan.bill.total, change=0,
        invoice_id="demo.inv1", invoice_number=1, now=FIRED + 2000, pickup_estimate_ms=estimate,
    )  # fmt: skip


def _takeaway(*items: str) -> Order:
    """A takeaway of ``items``, fired at FIRED (token 1)."""
    return fire(with_items(*items)).orders[0]


def _bumped(order: Order) -> Order:
    return k.bump_order(order, c.BumpOrder(order_id=order.id), EXPO, FIRED + 5000).orders[0]


def test_a_counter_order_is_paid_before_it_is_cooked_without_force() -> None:
    """A takeaway still cooking settles without force; nobody is recorded as forcing it."""
    plan = _pay([_takeaway("burger")])
    assert plan.settles and plan.forced_by is None
    assert "forced_by" not in plan.audit.details


def test_dine_in_still_needs_force_and_the_audit_names_who_forced() -> None:
    """Dine-in unfinished: ITEMS_NOT_READY; with force it settles and the audit line says which device forced it."""
    seated = fire(with_items("burger", kind=OrderType.DINE_IN)).orders[0]
    with pytest.raises(DomainError) as err:
        _pay([seated])
    assert err.value.code is ErrorCode.ITEMS_NOT_READY
    plan = _pay([seated], force=True)
    assert plan.forced_by == "till-1" and plan.audit.details["forced_by"] == "till-1"
    assert plan.pickup_estimate_ms is None


def test_the_pickup_estimate_is_the_latest_expected_finish_now_when_ready_else_unknown() -> None:
    """Burger fired at FIRED, 3:00 mean: ready at FIRED + 3:00; READY: now; no prep time or not sent: None."""
    order = _takeaway("burger", "water")
    assert _pay([order], prep={BURGER: MINUTES_3}).pickup_estimate_ms == FIRED + MINUTES_3
    assert _pay([order], prep={BURGER: 500}).pickup_estimate_ms == FIRED + 1000  # overdue: due now
    assert _pay([order]).pickup_estimate_ms is None
    assert _pay([_bumped(order)]).pickup_estimate_ms == FIRED + 1000
    assert _pay([with_items("burger")], prep={BURGER: MINUTES_3}).pickup_estimate_ms is None


def test_a_settled_counter_order_stays_open_paid_and_on_every_kitchen_screen() -> None:
    """Settled while cooking: ACTIVE and PAID with its invoice, named awaiting pickup, still on grill, expo and board."""
    decision = _settle(_takeaway("burger", "water"), estimate=FIRED + MINUTES_3)
    (paid,) = decision.orders
    assert (paid.status, paid.payment_status, paid.invoice_number) == (OrderStatus.ACTIVE, PaymentStatus.PAID, 1)
    settled = next(ev for ev in decision.events if ev.type == "ORDER_SETTLED")
    assert settled.data.awaiting_pickup == (paid.id,)  # type: ignore[union-attr]
    assert decision.result["pickup_estimate_ms"] == FIRED + MINUTES_3
    state = LiveState(now=FIRED + 3000, orders=[paid])
    assert [t["order_id"] for t in channel_view("kitchen:grill", state)["tickets"]] == [paid.id]
    assert [(t["order_id"], t["paid"]) for t in channel_view("expo", state)["tickets"]] == [(paid.id, True)]
    assert channel_view("board", state) == {"preparing": [1], "ready": [], "estimates": {}}
    bumped = _bumped(paid)
    assert bumped.status is OrderStatus.READY
    assert channel_view("board", LiveState(now=FIRED + 6000, orders=[bumped])) == {
        "preparing": [],
        "ready": [1],
        "estimates": {},
    }


def test_a_settled_dine_in_order_closes_as_before() -> None:
    """Dine-in settles CLOSED, nobody awaits pickup, and there is no estimate."""
    decision = _settle(fire(with_items("burger", kind=OrderType.DINE_IN)).orders[0], estimate=123)
    assert decision.orders[0].status is OrderStatus.CLOSED
    settled = next(ev for ev in decision.events if ev.type == "ORDER_SETTLED")
    assert settled.data.awaiting_pickup == ()  # type: ignore[union-attr]
    assert decision.result["pickup_estimate_ms"] is None


def test_a_paid_open_order_cannot_change_its_bill() -> None:
    """Adding to a settled order waiting for pickup is refused: its invoice is final."""
    (paid,) = _settle(_takeaway("burger")).orders
    with pytest.raises(DomainError) as err:
        add(paid, "fries")
    assert err.value.code is ErrorCode.INVALID_STATE and "paid" in err.value.message


def test_pickup_of_a_ready_paid_order_closes_it_and_clears_the_board() -> None:
    """Picked up: CLOSED with when and by whom; ORDER_PICKED_UP to the board with the token, and to expo and cashier."""
    (paid,) = _settle(_takeaway("burger")).orders
    ready = _bumped(paid)
    decision = s.pickup(ready, EXPO, FIRED + 9000)
    (closed,) = decision.orders
    assert (closed.status, closed.picked_up_at, closed.picked_up_by) == (OrderStatus.CLOSED, FIRED + 9000, "expo-1")
    (event,) = decision.events
    assert event.type == "ORDER_PICKED_UP" and {"board", "expo", "cashier", "orders", f"order:{paid.id}"} <= set(
        event.channels
    )
    assert (event.data.token, event.data.picked_up_at) == (1, FIRED + 9000)  # type: ignore[union-attr]
    assert channel_view("board", LiveState(now=FIRED + 9001, orders=[closed])) == {
        "preparing": [],
        "ready": [],
        "estimates": {},
    }


def test_pickup_is_refused_unpaid_unready_dine_in_and_while_paying() -> None:
    """Unpaid: "pay first"; still cooking: not ready; dine-in: not a counter order; a payment being recorded: ORDER_LOCKED."""
    ready = _bumped(_takeaway("burger"))
    with pytest.raises(DomainError) as err:
        s.pickup(ready, EXPO, FIRED + 9000)
    assert err.value.code is ErrorCode.INVALID_STATE and "pay first" in err.value.message
    (paid,) = _settle(_takeaway("burger")).orders
    with pytest.raises(DomainError) as err:
        s.pickup(paid, EXPO, FIRED + 9000)
    assert err.value.code is ErrorCode.INVALID_STATE and "not ready" in err.value.message
    seated = _bumped(fire(with_items("burger", kind=OrderType.DINE_IN)).orders[0])
    with pytest.raises(DomainError) as err:
        s.pickup(seated, EXPO, FIRED + 9000)
    assert err.value.code is ErrorCode.INVALID_STATE
    paying = ready.model_copy(update={"settling": SettleLock(key="p", by="till-1", settles=True, amount=1, since=NOW)})
    with pytest.raises(DomainError) as err:
        s.pickup(paying, EXPO, FIRED + 9000)
    assert err.value.code is ErrorCode.ORDER_LOCKED


def test_an_active_order_with_nothing_to_prepare_may_be_picked_up() -> None:
    """Paid, never fired, only drinks: nothing needs the kitchen, so it is handed over and closed."""
    (paid,) = _settle(with_items("water", "soda")).orders
    assert paid.status is OrderStatus.ACTIVE
    assert s.pickup(paid, CASHIER, FIRED + 9000).orders[0].status is OrderStatus.CLOSED


def test_skipping_a_line_records_who_and_the_last_one_makes_the_order_ready() -> None:
    """item.skip: SKIPPED with skipped_by, ITEM_STATUS_CHANGED naming the device, then ORDER_READY."""
    order = _takeaway("burger", "fries")
    first = k.skip_item(order, c.SkipItem(order_id=order.id, line_id="L1"), CASHIER, FIRED + 10)
    (after,) = first.orders
    assert (after.items[0].status, after.items[0].skipped_by, after.status) == (
        ItemStatus.SKIPPED, "till-1", OrderStatus.ACTIVE,
    )  # fmt: skip
    assert [(ev.type, ev.data.by) for ev in first.events] == [("ITEM_STATUS_CHANGED", "till-1")]  # type: ignore[union-attr]
    second = k.skip_item(after, c.SkipItem(order_id=order.id, line_id="L2"), EXPO, FIRED + 20)
    assert second.orders[0].status is OrderStatus.READY
    assert [ev.type for ev in second.events] == ["ITEM_STATUS_CHANGED", "ORDER_READY"]
    with pytest.raises(DomainError) as err:  # already skipped
        k.skip_item(second.orders[0], c.SkipItem(order_id=order.id, line_id="L2"), EXPO, FIRED + 30)
    assert err.value.code is ErrorCode.INVALID_STATE
    with pytest.raises(DomainError) as err:  # never sent: remove it instead
        k.skip_item(with_items("burger"), c.SkipItem(order_id="demo.o1", line_id="L1"), EXPO, FIRED)
    assert err.value.code is ErrorCode.INVALID_STATE and "fire or remove" in err.value.message


def test_force_ready_skips_what_is_left_and_says_who() -> None:
    """order.force_ready: every PENDING/PREPARING line SKIPPED by the device, the order READY; a READY one is refused."""
    order = _bumped(_takeaway("burger"))
    order = add(order.model_copy(update={"status": OrderStatus.READY}), "fries").orders[0]
    order = fire(order, now=FIRED + 100).orders[0]  # fries pending again at fry; the burger is DONE
    decision = k.force_ready(order, c.ForceReady(order_id=order.id), EXPO, FIRED + 200)
    (ready,) = decision.orders
    assert ready.status is OrderStatus.READY
    assert [(i.name, i.status, i.skipped_by) for i in ready.items] == [
        ("Classic Burger", ItemStatus.DONE, None), ("Fries", ItemStatus.SKIPPED, "expo-1"),
    ]  # fmt: skip
    assert [ev.type for ev in decision.events] == ["ITEM_STATUS_CHANGED", "ORDER_READY"]
    with pytest.raises(DomainError) as err:
        k.force_ready(ready, c.ForceReady(order_id=order.id), EXPO, FIRED + 300)
    assert err.value.code is ErrorCode.INVALID_STATE
    with pytest.raises(DomainError) as err:
        k.force_ready(with_items("burger"), c.ForceReady(order_id="demo.o1"), EXPO, FIRED)
    assert err.value.code is ErrorCode.INVALID_STATE
