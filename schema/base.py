"""The base of every record, and the order types: shared by ``records`` and ``billing`` without an import cycle."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["OrderType", "Record"]


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
