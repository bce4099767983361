"""The customer book's command payload: a customer added or changed whole."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from fireflow.schema.base import GeoPoint, Record
from fireflow.schema.commands import Command

__all__ = ["Address", "PutCustomer"]

Phone = Annotated[str, StringConstraints(min_length=3, max_length=32)]


class Address(Record):
    label: str = Field(default="", max_length=40, description="home, work...")
    line: str = Field(min_length=1, max_length=300)
    notes: str = Field(default="", max_length=300, description="gate code, landmark, floor")
    location: GeoPoint | None = Field(default=None, description="its place: a delivery there carries it (map, ETAs)")


class PutCustomer(Command):
    """Add a customer (no ``customer_id``) or change one whole (``customer_id`` and the ``version`` loaded)."""

    customer_id: str | None = Field(default=None, max_length=96)
    name: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    phones: list[Phone] = Field(min_length=1, max_length=5)
    addresses: list[Address] = Field(default_factory=list, max_length=10)
    notes: str = Field(default="", max_length=500)
    version: int | None = None
