"""Who is acting: a device's role and, for kitchen devices, its stations.

Roles follow seed 004's table (WAITER, CASHIER, MANAGER; OWNER may do all a
manager may) plus the devices the hub serves (KITCHEN, EXPO, RIDER, DISPATCHER, DISPLAY). What each role may run
and read is decided here, once, for every transport.
"""

from __future__ import annotations

from dataclasses import dataclass

from fireflow.hub.domain.errors import DomainError
from fireflow.schema.base import StrEnum
from fireflow.schema.protocol import ErrorCode

__all__ = ["ALL_STATIONS", "FRONT", "KITCHEN_SIDE", "MANAGERS", "MONEY", "Actor", "Role", "can_read", "check_role"]

ALL_STATIONS = "*"


class Role(StrEnum):
    WAITER = "WAITER"
    CASHIER = "CASHIER"
    MANAGER = "MANAGER"
    OWNER = "OWNER"  # everything a manager may do, for the person the restaurant belongs to
    KITCHEN = "KITCHEN"
    EXPO = "EXPO"
    RIDER = "RIDER"
    DISPATCHER = "DISPATCHER"
    DISPLAY = "DISPLAY"
    PRINTER = "PRINTER"  # a print agent at the restaurant: prints the jobs of its printers


@dataclass(frozen=True, slots=True)
class Actor:
    restaurant_id: str
    role: Role
    device_id: str
    stations: tuple[str, ...] = ()

    def has_station(self, station: str) -> bool:
        return ALL_STATIONS in self.stations or station in self.stations


# Who may run a command is declared with the command (hub/commands/registry.py), from these groups.
MANAGERS = frozenset({Role.MANAGER, Role.OWNER})
FRONT = frozenset({Role.WAITER, Role.CASHIER}) | MANAGERS
KITCHEN_SIDE = frozenset({Role.KITCHEN, Role.EXPO}) | MANAGERS
MONEY = frozenset({Role.CASHIER}) | MANAGERS

_STAFF_CHANNELS = frozenset({"tables", "orders", "order", "board", "expo", "cashier", "menu"})
CHANNEL_ROLES: dict[Role, frozenset[str]] = {
    Role.WAITER: frozenset({"tables", "orders", "order", "board", "waiter", "menu"}),
    Role.CASHIER: _STAFF_CHANNELS,
    Role.MANAGER: _STAFF_CHANNELS | {"kitchen", "manager", "dispatch", "rider", "waiter", "printing"},
    Role.OWNER: _STAFF_CHANNELS | {"kitchen", "manager", "dispatch", "rider", "waiter", "printing"},
    Role.KITCHEN: frozenset({"kitchen", "board", "menu"}),
    Role.EXPO: frozenset({"kitchen", "expo", "board", "order", "tables", "menu", "printing"}),
    Role.RIDER: frozenset({"rider"}),
    Role.DISPATCHER: frozenset({"dispatch", "rider", "orders", "order", "menu"}),
    Role.DISPLAY: frozenset({"board", "kitchen", "expo", "tables", "menu"}),
    Role.PRINTER: frozenset({"printing"}),
}
CHANNEL_KINDS = frozenset(
    {
        "kitchen",
        "expo",
        "tables",
        "orders",
        "order",
        "dispatch",
        "rider",
        "board",
        "manager",
        "waiter",
        "cashier",
        "menu",
        "printing",
    }
)
_PARAMETERISED = frozenset({"kitchen", "order", "rider", "waiter"})


def check_role(actor: Actor, roles: frozenset[Role], command_type: str) -> None:
    if actor.role not in roles:
        raise DomainError(ErrorCode.FORBIDDEN, f"{actor.role} may not run {command_type}")


def can_read(actor: Actor, channel: str) -> None:
    """Raise unless the actor may subscribe to ``channel`` (``kind`` or ``kind:param``)."""
    kind, _, param = channel.partition(":")
    if kind not in CHANNEL_KINDS or (kind in _PARAMETERISED) != bool(param):
        raise DomainError(ErrorCode.UNKNOWN_CHANNEL, f"no channel {channel!r}")
    if kind not in CHANNEL_ROLES[actor.role]:
        raise DomainError(ErrorCode.FORBIDDEN, f"{actor.role} may not read {kind}")
    if actor.role is Role.KITCHEN and kind == "kitchen" and not actor.has_station(param):
        raise DomainError(ErrorCode.FORBIDDEN, f"this device is not at station {param!r}")
    if actor.role is Role.RIDER and param != actor.device_id:
        raise DomainError(ErrorCode.FORBIDDEN, "a rider reads only its own channel")
    if actor.role is Role.WAITER and kind == "waiter" and param != actor.device_id:
        raise DomainError(ErrorCode.FORBIDDEN, "a waiter reads only its own channel")
