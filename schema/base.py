"""The base of every record, and the order types: shared by ``records`` and ``billing`` without an import cycle."""

from __future__ import annotations

import enum
from operator import attrgetter
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["OrderType", "Record", "StrEnum"]


class StrEnum(enum.StrEnum):
    """The standard ``StrEnum`` with a ``value`` read in C.

    pydantic writes an enum field as its ``value``, and Python 3.11's ``Enum.value`` is a descriptor
    written in Python: in ``fireflow bench kitchen`` a sampler on CPU time found 4 % of the node in it,
    under the commits' JSON. Here ``value`` is the member's ``_value_`` (the same string) read through
    ``operator.attrgetter``, with no Python frame.
    """

    if TYPE_CHECKING:

        @property
        def value(self) -> str: ...

    else:
        value = property(attrgetter("_value_"))


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GeoPoint(Record):
    """A place on Earth (WGS 84 degrees): a restaurant, a delivery address, a rider's phone."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class OrderType(StrEnum):
    DINE_IN = "DINE_IN"
    TAKEAWAY = "TAKEAWAY"
    DELIVERY = "DELIVERY"
