"""Delivery: a DELIVERY order given to a rider, taken out, delivered, or failed and brought back.

The trip is the order's ``delivery`` (``schema/records.py``)::

    (none) or RETURNED --assign--> ASSIGNED --pickup--> OUT_FOR_DELIVERY --deliver--> DELIVERED
                                   ASSIGNED --assign (another rider)--> ASSIGNED
                                                        OUT_FOR_DELIVERY --fail--> FAILED --return--> RETURNED

Each step is one event (DELIVERY_ASSIGNED, _PICKED_UP, _DELIVERED, _FAILED, _RETURNED) carrying the
whole order, sent only where the customer may be seen: the order's channels (``dispatch`` among
them), ``cashier`` and the rider's own channel. A rider an order is taken from gets
DELIVERY_UNASSIGNED, with no customer details. A rider acts only on its own orders; asking for a
step the order is past is INVALID_STATE naming where it is.

Money here is only what the rider must collect: the bill still due on a cash-on-delivery order
(0 when prepaid). Delivered, an order closes. A cash-on-delivery one is paid as it is delivered:
``cod_tender`` is its payment, in COD, recorded in the books first (``hub/commands/settle.py``)
to the rider's own cash account, where it stays until the rider hands it in (rider.handover).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from fireflow.hub.domain.actors import Actor, Role
from fireflow.hub.domain.billing import compute_bill
from fireflow.hub.domain.decision import Decision, Event
from fireflow.hub.domain.errors import DomainError
from fireflow.hub.domain.eta import first_check
from fireflow.hub.domain.orders import WITH_RIDER, bump, order_channels, require_open
from fireflow.schema import commands as c
from fireflow.schema import events as e
from fireflow.schema.billing import BillingSettings, Tender, TenderMethod
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.records import Delivery, DeliveryStatus, Order, OrderStatus, OrderType, PaymentStatus
from fireflow.schema.setup import Device

__all__ = [
    "ASSIGNABLE",
    "amount_due",
    "assign",
    "channels",
    "check_delivery",
    "check_rider",
    "cod_tender",
    "delivered",
    "fail",
    "paid_and_delivered",
    "pickup",
    "return_to_restaurant",
    "rider_orders",
]

ASSIGNABLE = frozenset({OrderStatus.ACTIVE, OrderStatus.READY})  # a batch may be planned before the food is made


def amount_due(order: Order, settings: BillingSettings, currency: str) -> int:
    """What the rider collects: the bill less what was paid, 0 when prepaid (minor units)."""
    if order.payment_status is PaymentStatus.PAID:
        return 0
    return max(compute_bill([order], settings, currency).total - order.paid, 0)


def channels(order: Order) -> tuple[str, ...]:
    """Where a delivery event goes: those who may see the customer, and the rider concerned even once done."""
    found = [*order_channels(order), "cashier"]
    if order.delivery is not None:
        found.append(f"rider:{order.delivery.rider}")
    return tuple(dict.fromkeys(found))


def check_rider(rider: str, device: Device | None) -> None:
    """A device paired as something else, or revoked, is no rider; one never paired (a minted token) may be."""
    if device is None:
        return
    if device.role != Role.RIDER.value:
        raise DomainError(ErrorCode.INVALID_STATE, f"{rider} is a {device.role} device, not a rider", {"rider": rider})
    if device.revoked_at is not None:
        raise DomainError(ErrorCode.INVALID_STATE, f"rider {rider} was revoked", {"rider": rider})


def _delivery_order(order: Order) -> None:
    if order.type is not OrderType.DELIVERY:
        raise DomainError(
            ErrorCode.INVALID_STATE,
            f"order {order.number} is {order.type}: only delivery orders go out with a rider",
            {"order_id": order.id},
        )


def _trip(order: Order, actor: Actor) -> Delivery:
    """The order's trip, if the actor may act on it: a rider only on its own (others: FORBIDDEN, nothing told)."""
    trip = order.delivery
    if actor.role is Role.RIDER and (trip is None or trip.rider != actor.device_id):
        raise DomainError(ErrorCode.FORBIDDEN, "this order is not assigned to you")  # not even its number
    _delivery_order(order)
    if trip is None:
        raise DomainError(
            ErrorCode.INVALID_STATE, f"order {order.number} is not assigned to a rider", {"order_id": order.id}
        )
    return trip


def _require(order: Order, trip: Delivery, wanted: DeliveryStatus, step: str) -> None:
    if trip.status is not wanted:
        raise DomainError(
            ErrorCode.INVALID_STATE,
            f"order {order.number} is {trip.status}: only a {wanted} order can be {step}",
            {"order_id": order.id, "delivery": trip.status.value, "rider": trip.rider},
        )


def _moved(order: Order, event_type: str, previous_rider: str | None = None) -> Event:
    return Event(event_type, channels(order), e.DeliveryChanged(order=order, previous_rider=previous_rider))


def assign(
    orders: Sequence[Order],
    cmd: c.DispatchOrders,
    actor: Actor,
    now: int,
    *,
    batch: str,
    rider: Device | None,
    settings: BillingSettings,
    currency: str,
) -> Decision:
    """Give ``orders`` to ``cmd.rider`` as batch ``batch``, in the order listed; ASSIGNED ones move riders."""
    if len({o.id for o in orders}) != len(orders):
        raise DomainError(ErrorCode.INVALID_COMMAND, "an order is listed twice")
    check_rider(cmd.rider, rider)
    assigned: list[Order] = []
    events: list[Event] = []
    for stop, order in enumerate(orders, start=1):
        _delivery_order(order)
        require_open(order)
        trip = order.delivery
        previous: str | None = None
        if trip is not None and trip.status is DeliveryStatus.ASSIGNED:
            if trip.rider == cmd.rider:
                raise DomainError(
                    ErrorCode.INVALID_STATE,
                    f"order {order.number} is already ASSIGNED to {trip.rider}",
                    {"order_id": order.id, "delivery": trip.status.value, "rider": trip.rider},
                )
            previous = trip.rider
        elif trip is not None and trip.status is not DeliveryStatus.RETURNED:
            raise DomainError(
                ErrorCode.INVALID_STATE,
                f"order {order.number} is {trip.status} with {trip.rider}",
                {"order_id": order.id, "delivery": trip.status.value, "rider": trip.rider},
            )
        new_trip = Delivery(
            status=DeliveryStatus.ASSIGNED,
            rider=cmd.rider,
            batch=batch,
            stop=stop,
            assigned_at=now,
            assigned_by=actor.device_id,
            cod=amount_due(order, settings, currency),
            by=actor.device_id,
        )
        new = bump(order, delivery=new_trip)
        assigned.append(new)
        events.append(_moved(new, "DELIVERY_ASSIGNED", previous))
        if previous is not None:
            told = e.DeliveryUnassigned(order_id=order.id, order_number=order.number, rider=previous, at=now)
            events.append(Event("DELIVERY_UNASSIGNED", (f"rider:{previous}",), told))
    return Decision(
        result={"batch": batch, "rider": cmd.rider, "orders": [o.model_dump(mode="json") for o in assigned]},
        orders=tuple(assigned),
        events=tuple(events),
    )


def pickup(order: Order, actor: Actor, now: int, *, settings: BillingSettings, currency: str) -> Decision:
    """The rider took it (ASSIGNED → OUT_FOR_DELIVERY); the food must be READY. What to collect is refreshed."""
    trip = _trip(order, actor)
    _require(order, trip, DeliveryStatus.ASSIGNED, "picked up")
    require_open(order)
    if order.status is not OrderStatus.READY:
        raise DomainError(
            ErrorCode.INVALID_STATE, f"order {order.number} is not ready yet ({order.status})", {"order_id": order.id}
        )
    new_trip = trip.model_copy(
        update={
            "status": DeliveryStatus.OUT_FOR_DELIVERY,
            "picked_up_at": now,
            "cod": amount_due(order, settings, currency),
            "by": actor.device_id,
        }
    )
    decided = _decided(bump(order, delivery=new_trip), "DELIVERY_PICKED_UP")
    return replace(decided, due=(first_check(order, now),))  # its ETA, every CHECK_EVERY_MS (hub/domain/eta.py)


def check_delivery(
    order: Order, cmd: c.DeliveryDeliver, actor: Actor, *, settings: BillingSettings, currency: str
) -> int:
    """May this rider mark the order delivered with ``cmd.collected``? Returns what was due (``amount_due``).

    Cash on delivery: ``collected`` must be exactly what is due. Prepaid (due 0): nothing is collected.
    """
    trip = _trip(order, actor)
    _require(order, trip, DeliveryStatus.OUT_FOR_DELIVERY, "delivered")
    if order.settling is not None:
        raise DomainError(
            ErrorCode.ORDER_LOCKED,
            f"order {order.number} is being paid at {order.settling.by}; try again in a moment",
            {"order_id": order.id},
        )
    due = amount_due(order, settings, currency)
    if cmd.collected != due:
        said = f"collect {due} on delivery" if due else "prepaid: collect nothing"
        raise DomainError(
            ErrorCode.INVALID_STATE,
            f"order {order.number} is {said}, not {cmd.collected}",
            {"order_id": order.id, "due": due, "collected": cmd.collected},
        )
    return due


def cod_tender(order: Order, due: int) -> c.PayOrder:
    """The payment a cash-on-delivery order takes when delivered: ``due`` in COD, held by its rider."""
    assert order.delivery is not None
    return c.PayOrder(
        order_ids=[order.id], tenders=[Tender(method=TenderMethod.COD, amount=due, reference=order.delivery.rider)]
    )


def delivered(order: Order, actor: Actor, now: int, *, collected: int, change: Callable[..., Order] = bump) -> Decision:
    """The customer has it (OUT_FOR_DELIVERY → DELIVERED), paid (beforehand, or just now on delivery): it closes.

    ``check_delivery`` said yes first, and a cash-on-delivery order's payment is in the books by now.
    ``change``: how the order changes (``bump``; a write already counted in this commit: no count again).
    """
    trip = _trip(order, actor)
    _require(order, trip, DeliveryStatus.OUT_FOR_DELIVERY, "delivered")
    new_trip = trip.model_copy(
        update={
            "status": DeliveryStatus.DELIVERED,
            "delivered_at": now,
            "cod": collected,
            "collected": collected,
            "by": actor.device_id,
        }
    )
    closes = order.payment_status is PaymentStatus.PAID
    new = change(order, delivery=new_trip, **({"status": OrderStatus.CLOSED} if closes else {}))
    return _decided(new, "DELIVERY_DELIVERED", closed=closes)


def _same_write(order: Order, **changes: object) -> Order:
    """Changes to an order this commit has already counted (its version and revision moved once)."""
    return order.model_copy(update=changes)


def paid_and_delivered(paid: Decision, actor: Actor, now: int, *, collected: int) -> Decision:
    """A cash-on-delivery payment applied (``settlement.finish``) and the order delivered, in one commit.

    A payment applied before (the decision changes no order) is left as it is: its order was delivered with it.
    """
    if len(paid.orders) != 1:
        return paid
    done = delivered(paid.orders[0], actor, now, collected=collected, change=_same_write)
    return replace(
        paid,
        result={**done.result, "payment": paid.result},
        orders=done.orders,
        events=(*paid.events, *done.events),
    )


def fail(order: Order, cmd: c.DeliveryFail, actor: Actor, now: int) -> Decision:
    """It could not be delivered (OUT_FOR_DELIVERY → FAILED, with the reason); the rider brings it back."""
    trip = _trip(order, actor)
    _require(order, trip, DeliveryStatus.OUT_FOR_DELIVERY, "failed")
    new_trip = trip.model_copy(
        update={"status": DeliveryStatus.FAILED, "failed_at": now, "reason": cmd.reason, "by": actor.device_id}
    )
    return _decided(bump(order, delivery=new_trip), "DELIVERY_FAILED")


def return_to_restaurant(order: Order, actor: Actor, now: int) -> Decision:
    """The food of a failed delivery is back (FAILED → RETURNED): the order may be assigned again or handed over."""
    trip = _trip(order, actor)
    _require(order, trip, DeliveryStatus.FAILED, "returned")
    new_trip = trip.model_copy(update={"status": DeliveryStatus.RETURNED, "returned_at": now, "by": actor.device_id})
    return _decided(bump(order, delivery=new_trip), "DELIVERY_RETURNED")


def _decided(order: Order, event_type: str, **result: object) -> Decision:
    return Decision(
        result={"order": order, **result},
        orders=(order,),
        events=(_moved(order, event_type),),
    )


def rider_orders(orders: Sequence[Order], rider: str) -> list[Order]:
    """The open orders ``rider`` holds (assigned, out, failed and not yet back), batch by batch, stop by stop."""
    mine = [
        o
        for o in orders
        if o.status in ASSIGNABLE and o.delivery is not None and o.delivery.rider == rider
        if o.delivery.status in WITH_RIDER
    ]
    return sorted(mine, key=_batch_order)


def _batch_order(order: Order) -> tuple[int, str, int]:
    trip = order.delivery
    assert trip is not None
    return trip.assigned_at, trip.batch, trip.stop
