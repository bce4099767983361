"""Who may see a delivery customer's phone, address and place: the riders, dispatch and the money side.

Item 7 of the delivery issue: a customer's phone and address reach the assigned rider, dispatch and the
cashier (and the managers who run them), nobody else. Riders read only their own channel, so
what is left is the staff channels that carry whole orders (``orders``, ``order:<id>``,
``waiter:<device>``, the kitchen's cards): there a waiter, the kitchen, expo or a display get the
order with those fields blanked. The event log keeps them whole; what is blanked is decided
per reader's role, once per event and encoding (``hub/live/codec.py``), for snapshots and for
HTTP reads. Command answers carry whole orders too (an added item's, a started line's, and any
answer asked again by id, ``outcome``): they are blanked per reader the same way (``shown_to``),
and a rider, who may hold a customer's details only for its own trips, keeps them only on the orders
assigned to it.
"""

from __future__ import annotations

from typing import Any

from fireflow.hub.domain.actors import Actor, Role

__all__ = [
    "CUSTOMER_FIELDS",
    "SEE_CUSTOMERS",
    "may_hold_customer",
    "redact",
    "sees_customers",
    "sees_every_customer",
    "shown_to",
]

SEE_CUSTOMERS = frozenset({Role.RIDER, Role.DISPATCHER, Role.CASHIER, Role.MANAGER, Role.OWNER})
# A rider reads only its own channel, so every event it gets is its own trips'; what else reaches it (a
# command's answer, an HTTP read) may name other riders' orders.
_SEE_EVERY_CUSTOMER = SEE_CUSTOMERS - {Role.RIDER}
CUSTOMER_FIELDS = ("phone", "address", "location")


def sees_customers(role: Role) -> bool:
    return role in SEE_CUSTOMERS


def sees_every_customer(role: Role) -> bool:
    return role in _SEE_EVERY_CUSTOMER


def may_hold_customer(raw: bytes) -> bool:
    """A cheap look at encoded JSON: could it hold a delivery customer's details? (False: it cannot.)"""
    return b'"DELIVERY"' in raw and (b'"phone":"' in raw or b'"address":"' in raw or b'"location":{' in raw)


def redact(value: Any, rider: str | None = None) -> Any:
    """``value`` (decoded JSON) with every DELIVERY order's phone, address and place blanked, but those of the
    orders assigned to ``rider`` (a device id); shared parts reused."""
    if isinstance(value, list):
        return [redact(v, rider) for v in value]
    if not isinstance(value, dict):
        return value
    found = {k: redact(v, rider) for k, v in value.items()}
    if found.get("type") == "DELIVERY" and any(found.get(f) is not None for f in CUSTOMER_FIELDS):
        trip = found.get("delivery")
        if rider is None or not isinstance(trip, dict) or trip.get("rider") != rider:
            found.update(dict.fromkeys((f for f in CUSTOMER_FIELDS if f in found), None))
    return found


def shown_to(actor: Actor, value: Any) -> Any:
    """``value`` (decoded JSON: an answer, an HTTP read) as ``actor`` may see it: whole for dispatch and the money
    side, a rider's own trips whole, every other DELIVERY order blanked."""
    if sees_every_customer(actor.role):
        return value
    return redact(value, actor.device_id if actor.role is Role.RIDER else None)
