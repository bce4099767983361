"""Saved group bills, decided without I/O: which of a group's orders its invoice can cover, and what to warn of.

A group names orders; by the time it is paid some may be gone (cancelled, merged
into another, paid on their own). Those are left out with the reason, so the
preview says plainly what the invoice will and will not cover. Warnings do not
refuse (seed 003): a group with no references can still be invoiced, a finance
export may want them; orders of different named customers are refused when paid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fireflow.hub.domain.errors import DomainError
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.records import Order, OrderStatus

__all__ = ["Sorted", "check_payment", "sort_out", "warnings"]

_OPEN = frozenset({OrderStatus.ACTIVE, OrderStatus.READY})


@dataclass(frozen=True, slots=True)
class Sorted:
    included: tuple[Order, ...]
    excluded: tuple[dict[str, str], ...] = field(default=())


def _why_not(order_id: str, order: Order | None) -> str | None:
    if order is None:
        return "no such open or recent order"
    if order.invoice_id is not None:
        return f"already paid on invoice {order.invoice_number}"
    if order.status is OrderStatus.MERGED:
        return f"merged into order {order.merged_into}"
    if order.status not in _OPEN:
        return f"{order.status.value.lower()}"
    return None


def sort_out(order_ids: Sequence[str], orders: Mapping[str, Order | None]) -> Sorted:
    """The group's orders an invoice can cover now, in the group's order, and the others with why."""
    included: list[Order] = []
    excluded: list[dict[str, str]] = []
    for order_id in order_ids:
        order = orders.get(order_id)
        why = _why_not(order_id, order)
        if why is None and order is not None:
            included.append(order)
        else:
            excluded.append({"order_id": order_id, "reason": why or "unknown"})
    return Sorted(tuple(included), tuple(excluded))


def warnings(group: Mapping[str, Any], included: Sequence[Order]) -> dict[str, Any]:
    """What the preview warns of; only mixed customers stop the payment (``fireflow.hub.domain.billing``)."""
    names = {" ".join(o.customer_name.split()).casefold() for o in included if o.customer_name}
    return {
        "mixed_customers": len(names) > 1,
        "missing_references": not (group.get("reference1") or group.get("reference2")),
        "invoice_id": group.get("invoice_id"),
        "nothing_to_invoice": not included,
    }


def check_payment(group: Mapping[str, Any], order_ids: Sequence[str], included: Sequence[str]) -> None:
    """A payment naming a group pays exactly the orders it can cover now (``included``), and only once."""
    if group.get("invoice_id"):
        raise DomainError(
            ErrorCode.ALREADY_SETTLED,
            f"group {group['title']!r} is already invoiced ({group['invoice_id']})",
            {"invoice_id": group["invoice_id"], "group_id": group["id"]},
        )
    strangers = [o for o in order_ids if o not in group["order_ids"]]
    if strangers:
        raise DomainError(
            ErrorCode.INVALID_STATE,
            f"order {strangers[0]} is not in group {group['title']!r}; save it in the group first",
            {"order_ids": strangers, "group_id": group["id"]},
        )
    left = [o for o in included if o not in order_ids]
    if left:  # one invoice for the whole group: paying part of it would leave the rest orphaned
        raise DomainError(
            ErrorCode.INVALID_STATE,
            f"group {group['title']!r} is invoiced whole: order {left[0]} is in it too (see its preview)",
            {"order_ids": left, "group_id": group["id"]},
        )
