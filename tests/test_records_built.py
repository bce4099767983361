"""Records the domain builds without validating them again (``schema.base.trusted``) and copies
(``Record.model_copy``): each must be the record validation would have made, field for field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, Field

from fireflow.hub.domain import ready_times
from fireflow.schema import base
from fireflow.schema import commands as c
from fireflow.schema.records import OrderItem, OrderStatus, OrderType, TicketKind, TicketLine, TicketRef
from tests import domain_support as s


def _records(value: Any) -> list[BaseModel]:
    """Every record in ``value``, nested ones too."""
    if isinstance(value, BaseModel):
        found = [value]
        for name in type(value).model_fields:
            found += _records(getattr(value, name))
        return found
    if isinstance(value, list | tuple):
        return [r for v in value for r in _records(v)]
    if isinstance(value, dict):
        return [r for v in value.values() for r in _records(v)]
    return []


def _as_validated(record: BaseModel) -> None:
    """``record`` is what validating its own fields gives: equal, the same JSON, the same fields set."""
    again = type(record).model_validate(record.model_dump(), strict=False)
    assert again == record
    assert again.model_dump_json() == record.model_dump_json()
    assert list(again.__dict__) == list(record.__dict__)  # field order: repr and dumps read it
    for name, value in record.__dict__.items():
        assert type(value) is type(getattr(again, name)), f"{type(record).__name__}.{name}"


def test_what_a_fire_builds_unvalidated_is_what_validation_would_have_built() -> None:
    order = s.with_items("burger", "fries", "caesar", "mojito")
    decision = s.fire(order, kitchen=s.d.KitchenContext(live_stations=("fry", "cold", "bar"), ack_timeout_ms=30_000))
    records = [r for event in decision.events for r in _records(event.data)] + _records(decision.orders)
    kinds = {type(r).__name__ for r in records}
    assert {"KitchenTicket", "TicketLine", "TicketRef", "NewKitchenOrder", "OrderChanged", "TokenPreparing"} <= kinds
    for record in records:
        _as_validated(record)


def test_what_a_prediction_and_a_recall_build_unvalidated_is_what_validation_would_have_built() -> None:
    fired = s.fire(s.with_items("burger", "fries")).orders[0]
    told = ready_times.told(
        [fired], c.PredictReady(predictions=[c.ReadyPrediction(order_id=fired.id, ready_at=s.NOW + 600_000)]), s.NOW
    )
    assert [e.type for e in told.events] == ["ORDER_PREDICTED"]
    rushed = s.d.rush_order(fired, s.EXPO, c.RushOrder(order_id=fired.id, rush=True), s.NOW + 5)  # cards to stations
    for record in _records([e.data for e in (*told.events, *rushed.events)]) + _records(told.orders):
        _as_validated(record)


def test_a_copy_is_pydantics_copy_field_for_field() -> None:
    line: OrderItem = s.with_items("burger").items[0]
    update = {"fired": True, "sent": 1, "fired_at": s.NOW}
    ours, theirs = line.model_copy(update=update), BaseModel.model_copy(line, update=update)
    assert ours == theirs and ours.__dict__ == theirs.__dict__ and list(ours.__dict__) == list(theirs.__dict__)
    assert ours.model_fields_set == theirs.model_fields_set and "fired_at" in ours.model_fields_set
    assert ours.fired and not line.fired  # the original is untouched
    plain = line.model_copy()
    assert plain == line and plain is not line and plain.__dict__ is not line.__dict__
    assert plain.model_fields_set == line.model_fields_set and plain.model_fields_set is not line.model_fields_set
    deep = s.with_items("burger", "fries").model_copy(update={"status": OrderStatus.READY}, deep=True)
    assert deep.status is OrderStatus.READY and deep.items[0] is not s.with_items("burger", "fries").items[0]


def test_a_record_built_unvalidated_still_refuses_a_missing_or_unknown_field() -> None:
    build = base.trusted(TicketRef)
    made = build(id="o1:t1", station="grill", kind=TicketKind.FIRE, sent_at=1)
    assert made == TicketRef(id="o1:t1", station="grill", kind=TicketKind.FIRE, sent_at=1)
    assert made.acked_at is None and made.model_fields_set == {"id", "station", "kind", "sent_at"}
    with pytest.raises(TypeError, match=r"missing \['id'\]"):
        build(station="grill", kind=TicketKind.FIRE, sent_at=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"unknown \['seen'\]"):
        build(id="o1:t1", station="grill", kind=TicketKind.FIRE, sent_at=1, seen=True)  # type: ignore[call-arg]
    assert base.trusted(TicketLine) is base.trusted(TicketLine)  # made once per record type


def test_a_record_with_a_mutable_default_is_built_by_its_constructor_only() -> None:
    class Basket(base.Record):
        kind: OrderType
        items: list[str] = Field(default=["bread"])

    with pytest.raises(TypeError, match="mutable default"):
        base.trusted(Basket)
