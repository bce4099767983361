"""The restaurant setup file: everything a restaurant is before its first order, in one document.

``fireflow restaurant import|export`` read and write it, the demo restaurant is
one, and a manager's setup screens change the same parts one command at a
time. The parts are the live records the hub keeps (``records``), so what a
file says is exactly what the screens show; what the file adds is its format
tag, the staff, and each part's place in one document. Cross-references (an
item's station, tax code and category; a table's area; unique ids) are checked
by ``fireflow.hub.domain.setup.problems``, which names the path of each.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from fireflow.schema.base import GeoPoint, Record
from fireflow.schema.billing import BillingSettings
from fireflow.schema.commands import Command, SetupCommand
from fireflow.schema.records import Area, Category, Desk, MenuItem, Printer, StationSettings

__all__ = [
    "FORMAT",
    "ID_PATTERN",
    "MENU_COLUMNS",
    "KitchenRules",
    "Profile",
    "PutStaff",
    "RemoveStaff",
    "RestaurantSetup",
    "StaffMember",
    "TablePlace",
]

FORMAT: Literal["fireflow-restaurant/1"] = "fireflow-restaurant/1"
# A menu as CSV (``fireflow restaurant import --menu-csv``): a header row, prices in major units (349.00).
MENU_COLUMNS = (
    "id",
    "name",
    "price",
    "station",
    "category",
    "tax_code",
    "requires_prep",
    "available",
    "default_course",
)
ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,47}$"  # a restaurant's id: it names Redis keys and URLs
_CURRENCY = re.compile(r"^[A-Z]{3}$")


class Profile(Record):
    id: str = Field(pattern=ID_PATTERN, description="the restaurant's id: lower-case letters, digits, - and _")
    name: str = Field(min_length=1, max_length=120)
    timezone: str = Field(default="UTC", description="IANA time zone, e.g. Asia/Kolkata; business days follow it")
    currency: str = Field(default="INR", description="ISO 4217 code")
    minor_digits: int | None = Field(
        default=None, ge=0, le=4, description="the currency's minor-unit exponent (null: ISO 4217's, INR 2, JPY 0)"
    )
    location: GeoPoint | None = Field(default=None, description="where riders leave from (dispatch's map, batches)")

    @model_validator(mode="after")
    def _currency_code(self) -> Profile:
        if not _CURRENCY.match(self.currency):
            raise ValueError(f"currency must be an ISO 4217 code such as INR, not {self.currency!r}")
        return self


class KitchenRules(Record):
    recall_window_s: int = Field(default=600, ge=0, description="how long a bumped item or order can be recalled")
    ack_timeout_s: int = Field(default=30, ge=1, description="a ticket not acknowledged by a screen by then alerts")
    print_confirm_s: int = Field(
        default=20, ge=1, le=600, description="a print job not confirmed by its agent by then is UNCONFIRMED"
    )
    print_manual_s: int = Field(
        default=120, ge=1, le=3_600, description="a job on the manual list nobody handled by then: CRITICAL alert"
    )
    expo_warn_after_s: int = Field(default=600, ge=1, description="the expo screen's ticket age for warn")
    expo_late_after_s: int = Field(default=900, ge=1, description="the expo screen's ticket age for late")


class TablePlace(Record):
    """A table as set up: where it stands and how many it seats (its live state is not setup)."""

    id: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=40)
    seats: int = Field(default=4, ge=1, le=99)
    area: str = ""
    x: int = Field(default=0, ge=0, le=1000)
    y: int = Field(default=0, ge=0, le=1000)


StaffRole = Literal["MANAGER", "CASHIER", "WAITER", "OWNER"]
DeviceRole = Literal[
    "WAITER", "CASHIER", "MANAGER", "OWNER", "KITCHEN", "EXPO", "RIDER", "DISPATCHER", "DISPLAY", "PRINTER"
]
_STAFF_ID = r"^[A-Za-z0-9_.:-]+$"


class StaffMember(Record):
    """A person who approves with a PIN: in a file, ``pin`` (hashed on import) or ``pin_hash`` (as exported)."""

    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=80)
    role: StaffRole = "MANAGER"
    pin: str | None = Field(default=None, pattern=r"^[0-9]{4,8}$", description="4 to 8 digits; never exported")
    pin_hash: str | None = Field(default=None, description="an argon2 hash, as exported")

    @model_validator(mode="after")
    def _one_pin(self) -> StaffMember:
        if self.pin is not None and self.pin_hash is not None:
            raise ValueError("give pin or pin_hash, not both")
        return self


class PutStaff(SetupCommand):
    """Add a person or change their name, role or PIN; ``version`` is the restaurant's (PINs are never shown)."""

    staff_id: str = Field(min_length=1, max_length=64, pattern=_STAFF_ID)
    name: str = Field(min_length=1, max_length=80)
    role: StaffRole = "MANAGER"
    pin: str | None = Field(
        default=None, pattern=r"^[0-9]{4,8}$", description="a new PIN, 4 to 8 digits (null: keep the one they have)"
    )


class RemoveStaff(SetupCommand):
    """Remove a person: their PIN stops approving at once."""

    staff_id: str = Field(min_length=1, max_length=64, pattern=_STAFF_ID)


class Device(Record):
    """A paired device: what its tokens may do, and whether they still may."""

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    role: DeviceRole | None = None
    stations: tuple[str, ...] = ()
    name: str = Field(default="", max_length=80)
    generation: int = Field(default=0, ge=0, description="tokens of an earlier generation are refused")
    added_at: int = 0
    added_by: str = ""
    revoked_at: int | None = None
    revoked_by: str | None = None


class PairDevice(Command):
    """Add a device (or pair one again: its older tokens stop working) and get a pairing code for it."""

    device_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    role: DeviceRole
    stations: tuple[str, ...] = Field(default=(), max_length=32)
    name: str = Field(default="", max_length=80)


class RevokeDevice(Command):
    """Revoke a device: its open sockets close within a second on every node and its tokens are refused."""

    device_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")


class RestaurantSetup(Record):
    """One restaurant's whole setup; ``fireflow restaurant export`` writes exactly this."""

    format: Literal["fireflow-restaurant/1"] = FORMAT
    profile: Profile
    billing: BillingSettings = BillingSettings()
    kitchen: KitchenRules = KitchenRules()
    stations: tuple[StationSettings, ...] = ()
    categories: tuple[Category, ...] = ()
    menu: tuple[MenuItem, ...] = ()
    areas: tuple[Area, ...] = ()
    tables: tuple[TablePlace, ...] = ()
    staff: tuple[StaffMember, ...] = ()
    printers: tuple[Printer, ...] = ()
    desks: tuple[Desk, ...] = ()
