"""Advice the hub gives staff, as records to log, and which option staff took (seed 004's decision logging).

Two kinds today:

- SETTLEMENT: a cashier settling a bill with items not ready is refused with guidance (ITEMS_NOT_READY):
  ask the guest to wait, settle now, or settle with a courtesy discount. The hub recommends the
  discount when the longest wait is over five minutes, else waiting. What the cashier did is read off
  the settlement: paid without force (they waited for the kitchen), with force and a discount on the
  orders (the courtesy), or with force alone (settled now).
- SWEEP: a sweep's finding that needs a person ("clean the table"); followed when the fault clears.

Pure: records and rules, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fireflow.schema.records import Order, SweepFinding

__all__ = [
    "ASK_TO_WAIT",
    "DONE",
    "SETTLE_NOW",
    "SETTLE_WITH_DISCOUNT",
    "Recommendation",
    "settlement_choice",
    "settlement_id",
    "settlement_recommendation",
    "sweep_id",
    "sweep_recommendation",
]

ASK_TO_WAIT = "ASK_TO_WAIT"
SETTLE_NOW = "SETTLE_NOW"
SETTLE_WITH_DISCOUNT = "SETTLE_WITH_DISCOUNT"
DONE = "DONE"  # a sweep's finding put right by staff


@dataclass(frozen=True, slots=True)
class Recommendation:
    id: str
    kind: str
    subject: str
    recommended: str
    options: tuple[str, ...]
    reason: str
    order_ids: tuple[str, ...] = ()


def settlement_id(order_ids: Iterable[str]) -> str:
    """One recommendation per bill (its orders), however many times the cashier tries."""
    return "settle:" + "+".join(sorted(order_ids))


def settlement_recommendation(order_ids: Sequence[str], guidance: Mapping[str, Any]) -> Recommendation:
    """The guidance of an ITEMS_NOT_READY refusal (``hub/domain/settlement.py``'s ``guidance``) as a record."""
    courtesy = int(guidance.get("suggested_discount_bp") or 0)
    longest = int(guidance.get("longest_wait_s") or 0)
    waiting = len(guidance.get("items") or ())
    reason = f"{waiting} item(s) not ready, the longest about {-(-longest // 60)} min"
    if courtesy:
        reason += f": a {courtesy / 100:g}% courtesy discount keeps the guest's goodwill"
    return Recommendation(
        id=settlement_id(order_ids),
        kind="SETTLEMENT",
        subject=", ".join(order_ids),
        recommended=SETTLE_WITH_DISCOUNT if courtesy else ASK_TO_WAIT,
        options=tuple(guidance.get("options") or (ASK_TO_WAIT, SETTLE_NOW)),
        reason=reason,
        order_ids=tuple(order_ids),
    )


def settlement_choice(orders: Iterable[Order], forced: bool) -> str:
    """What the cashier did: waited (no force needed), or settled now, with a discount or without."""
    if not forced:
        return ASK_TO_WAIT
    return SETTLE_WITH_DISCOUNT if any(order.discounts for order in orders) else SETTLE_NOW


def sweep_id(finding_id: str) -> str:
    return "sweep:" + finding_id


def sweep_recommendation(finding: SweepFinding) -> Recommendation:
    return Recommendation(
        id=sweep_id(finding.id),
        kind="SWEEP",
        subject=finding.subject,
        recommended=finding.action,
        options=(finding.action,),
        reason=finding.message,
    )
