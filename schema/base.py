"""The base of every record, and the order types: shared by ``records`` and ``billing`` without an import cycle."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

__all__ = ["OrderType", "Record"]


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OrderType(StrEnum):
    DINE_IN = "DINE_IN"
    TAKEAWAY = "TAKEAWAY"
    DELIVERY = "DELIVERY"
