"""Who may see a delivery customer's phone, address and place: the riders, dispatch and the money side.

Item 7 of the delivery issue: a customer's phone and address reach the assigned rider, dispatch and the
cashier (and the managers who run them), nobody else. Riders read only their own channel, so
what is left is the staff channels that carry whole orders (``orders``, ``order:<id>``,
``waiter:<device>``, the kitchen's cards): there a waiter, the kitchen, expo or a display get the
order with those fields blanked. The event log keeps them whole; what is blanked is decided
per reader's role, once per event and encoding (``hub/live/codec.py``), for snapshots and for
HTTP reads.
"""

from __future__ import annotations

from typing import Any

from fireflow.hub.domain.actors import Role

__all__ = ["CUSTOMER_FIELDS", "SEE_CUSTOMERS", "may_hold_customer", "redact", "sees_customers"]

SEE_CUSTOMERS = frozenset({Role.RIDER, Role.DISPATCHER, Role.CASHIER, Role.MANAGER, Role.OWNER})
CUSTOMER_FIELDS = ("phone", "address", "location")


def sees_customers(role: Role) -> bool:
    return role in SEE_CUSTOMERS


def may_hold_customer(raw: bytes) -> bool:
    """A cheap look at encoded JSON: could it hold a delivery customer's details? (False: it cannot.)"""
    return b'"DELIVERY"' in raw and (b'"phone":"' in raw or b'"address":"' in raw or b'"location":{' in raw)


def redact(value: Any) -> Any:
    """``value`` (decoded JSON) with every DELIVERY order's phone, address and place blanked; shared parts reused."""
    if isinstance(value, list):
        return [redact(v) for v in value]
    if not isinstance(value, dict):
        return value
    found = {k: redact(v) for k, v in value.items()}
    if found.get("type") == "DELIVERY" and any(found.get(f) is not None for f in CUSTOMER_FIELDS):
        found.update(dict.fromkeys((f for f in CUSTOMER_FIELDS if f in found), None))
    return found
