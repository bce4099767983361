"""Saved group bills: orders put together under a title to be invoiced at once (seed 003's booking groups).

An office lunch over three tables, a wedding's two sittings: a cashier or manager
saves the group (title, the customer it is for, the customer's references such as a
purchase order), previews it (which orders are in, which are left out and why), and
pays it as one invoice that carries the title and references.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, field_validator

from fireflow.schema.commands import Command, Id

__all__ = ["SaveGroup"]


class SaveGroup(Command):
    """Save a new group (no ``group_id``) or change one not yet invoiced (``group_id`` and ``version``)."""

    group_id: str | None = Field(default=None, max_length=96)
    version: int | None = None
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
    customer_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] | None = None
    reference1: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] = Field(
        default="", description="the customer's first reference: a purchase order, a booking number"
    )
    reference2: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] = ""
    order_ids: list[Id] = Field(min_length=1, max_length=20)

    @field_validator("order_ids")
    @classmethod
    def _once_each(cls, order_ids: list[str]) -> list[str]:
        if len(set(order_ids)) != len(order_ids):
            raise ValueError("an order is listed twice")
        return order_ids
