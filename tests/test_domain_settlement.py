"""Settling without servers: the not-ready guidance's wording, and a payment lock let go only by its own copy."""

from __future__ import annotations

from typing import Any

from fireflow.hub.domain import settlement as s
from fireflow.hub.domain.actors import Actor, Role
from fireflow.hub.domain.decision import Due, DueKind
from fireflow.schema.billing import BillingSettings
from fireflow.schema.commands import PayOrder
from fireflow.schema.records import ItemStatus, Order, SettleLock
from tests.domain_support import NOW, fire, with_items

FIRED = NOW + 1  # when ``fire`` sends the lines
BURGER = ("grill", "burger")
MINUTES_3 = 180_000


def _burger() -> Order:
    """A takeaway burger (grill, pending) and a water (done when fired), both fired at FIRED."""
    return fire(with_items("burger", "water")).orders[0]


def _line(guidance: dict[str, Any]) -> dict[str, Any]:
    """The one line the guidance lists: the water needs no preparation."""
    items: list[dict[str, Any]] = guidance["items"]
    assert len(items) == 1, items
    return items[0]


def test_an_item_past_its_usual_prep_time_is_overdue_never_ready_in_zero() -> None:
    """Pending 7:10 against a 3:00 mean: "overdue by 4:10", no expected seconds, no wait counted."""
    guidance = s.guidance([_burger()], {BURGER: MINUTES_3}, FIRED + 430_000)
    item = _line(guidance)
    assert (item["expected_ready_in_s"], item["overdue_by_s"], item["wait"]) == (None, 250, "overdue by 4:10")
    assert guidance["longest_wait_s"] == 0 and guidance["suggested_discount_bp"] == 0


def test_seconds_left_round_up_so_a_cooking_item_never_reads_zero() -> None:
    """400 ms left is "ready in about 0:01"; 2:04.5 left is 2:05; exactly at the mean is "due now"."""
    for elapsed, left, wait in ((MINUTES_3 - 400, 1, "ready in about 0:01"), (55_500, 125, "ready in about 2:05")):
        item = _line(s.guidance([_burger()], {BURGER: MINUTES_3}, FIRED + elapsed))
        assert (item["expected_ready_in_s"], item["overdue_by_s"], item["wait"]) == (left, None, wait)
    item = _line(s.guidance([_burger()], {BURGER: MINUTES_3}, FIRED + MINUTES_3 + 999))
    assert (item["expected_ready_in_s"], item["overdue_by_s"], item["wait"]) == (None, 0, "due now")


def test_unknown_and_unsent_waits_say_so() -> None:
    """No recorded prep time: "time unknown"; a line not yet sent: "not sent to the kitchen"."""
    assert _line(s.guidance([_burger()], {}, FIRED + 1000))["wait"] == "time unknown"
    unsent = with_items("burger")
    item = _line(s.guidance([unsent], {BURGER: MINUTES_3}, FIRED + 1000))
    assert (item["status"], item["expected_ready_in_s"], item["wait"]) == ("NOT_FIRED", None, "not sent to the kitchen")


def test_a_long_wait_still_suggests_a_courtesy_discount() -> None:
    """A 6-minute mean, just fired: ready in about 6:00, longest wait 360 s, 5% suggested."""
    guidance = s.guidance([_burger()], {BURGER: 360_000}, FIRED)
    assert _line(guidance)["wait"] == "ready in about 6:00"
    assert (guidance["longest_wait_s"], guidance["suggested_discount_bp"]) == (360, s.COURTESY_BP)


def test_a_copy_lets_go_only_of_the_lock_it_set() -> None:
    """Two copies of one payment lock in turn: the first copy's release frees nothing and keeps the due check."""
    order = _burger()
    first = SettleLock(key="pay-1", by="till-1", settles=True, amount=100, since=NOW)
    twin = first.model_copy(update={"since": NOW + 5})
    locked = order.model_copy(update={"settling": twin})
    kept = s.release([locked], "pay-1", first)
    assert kept.orders == () and kept.due == ()
    freed = s.release([locked], "pay-1", twin)
    assert [o.settling for o in freed.orders] == [None] and freed.due == (Due(DueKind.SETTLE, "pay-1", None),)
    assert s.release([locked], "pay-1").orders[0].settling is None  # the due check frees any lock of its key


def test_the_lock_a_copy_sets_is_the_one_it_may_release() -> None:
    """settle_lock is exactly what lock puts on the orders."""
    cashier = Actor("demo", Role.CASHIER, "till-1")
    order = _burger()
    done = order.model_copy(
        update={"items": tuple(i.model_copy(update={"status": ItemStatus.DONE}) for i in order.items)}
    )
    cmd = PayOrder.model_validate({"order_ids": [order.id], "tenders": [{"method": "CARD", "amount": 1}]})
    plan = s.plan_payment([done], BillingSettings(), "INR", cmd, cashier, NOW, key="pay-1", prep_mean_ms={})
    (locked,) = s.lock(plan, cashier, NOW, 30_000).orders
    assert locked.settling == s.settle_lock(plan, cashier, NOW)
