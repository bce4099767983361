"""The demo restaurant: ``demo_restaurant.json``, a setup file like any restaurant's.

A menu over four stations (a ribeye whose doneness must be chosen, a burger with
optional add-ons, drinks that need no preparation), two floor areas with 12
tables, and manager-1 who approves with PIN 1234. ``fireflow demo`` imports it; the tests seed it under their own
restaurant ids, as it is: every station on its screens only.

``fireflow demo`` also makes it print (:func:`with_printers`): a printer per station, one at the
cashier's desk and a backup, all ESC/POS emulators on loopback ports (``fireflow.hub.run.demo_printers``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path

from fireflow.hub.commands.pins import Pins
from fireflow.hub.domain.actors import ALL_STATIONS, Role
from fireflow.hub.domain.setup import LiveSetup, to_live
from fireflow.hub.live.store import Store
from fireflow.hub.transports.tokens import mint
from fireflow.schema.billing import BillingSettings
from fireflow.schema.records import Desk, KitchenSettings, Menu, Printer, Routing, Table
from fireflow.schema.setup import RestaurantSetup

__all__ = [
    "BACKUP_PRINTER",
    "DEMO_FILE",
    "DEMO_ID",
    "DESK_PRINTER",
    "DESK_TILL",
    "demo_billing",
    "demo_kitchen",
    "demo_menu",
    "demo_setup",
    "demo_tables",
    "demo_tokens",
    "printer_ids",
    "seed_restaurant",
    "with_printers",
]

DEMO_FILE = Path(__file__).with_name("demo_restaurant.json")
DEMO_ID = "demo"
DEMO_PIN = "1234"  # manager-1's approval PIN in the demo (and the tests)
DESK_TILL = "cashier-1"  # the demo's cashier till (its token's device): its receipts print at the desk
DESK_PRINTER = "desk"
BACKUP_PRINTER = "backup"


@functools.cache
def demo_setup() -> RestaurantSetup:
    return RestaurantSetup.model_validate_json(DEMO_FILE.read_bytes())


@functools.cache
def _live() -> LiveSetup:
    return to_live(demo_setup())


def demo_menu() -> Menu:
    return _live().menu


def demo_kitchen() -> KitchenSettings:
    """Ticket-age colours per station: drinks should be quick, the grill gets longer."""
    return _live().restaurant.kitchen


def demo_billing() -> BillingSettings:
    """Indian GST as the menu's tax codes name it, prices before tax, 10% service on dine-in."""
    return demo_setup().billing


def demo_tables(count: int = 12) -> list[Table]:
    """The demo's first ``count`` tables (it has 12), then plain ones numbered on."""
    tables = list(_live().tables[:count])
    tables += [Table(id=f"T{n}", name=f"Table {n}", seats=4) for n in range(len(tables) + 1, count + 1)]
    return tables


def stations() -> tuple[str, ...]:
    return demo_menu().stations


async def seed_restaurant(
    store: Store,
    rid: str = DEMO_ID,
    name: str = "Fireflow Demo Kitchen",
    tables: int = 12,
    kitchen: KitchenSettings | None = None,
    manager_pin: str | None = DEMO_PIN,
) -> None:
    """The demo restaurant as ``rid``; ``manager_pin`` None leaves PINs to the caller."""
    setup = demo_setup()
    profile = setup.profile.model_copy(update={"id": rid, "name": name})
    live = to_live(setup.model_copy(update={"profile": profile}))
    restaurant = live.restaurant if kitchen is None else live.restaurant.model_copy(update={"kitchen": kitchen})
    staff = tuple(p.model_copy(update={"pin": None}) for p in live.staff)
    await store.put_setup(LiveSetup(restaurant, live.menu, tuple(demo_tables(tables)), staff), {})  # a fresh id
    if manager_pin is not None:
        await Pins(store.redis).set(rid, "manager-1", manager_pin)


def demo_tokens(secret: str, rid: str = DEMO_ID) -> dict[str, str]:
    tokens = {
        "waiter": mint(secret, rid, Role.WAITER, device="waiter-1"),
        "cashier": mint(secret, rid, Role.CASHIER, device="cashier-1"),
        "manager": mint(secret, rid, Role.MANAGER, device="manager-1"),
        "expo": mint(secret, rid, Role.EXPO, device="expo-1", stations=(ALL_STATIONS,)),
        "board": mint(secret, rid, Role.DISPLAY, device="board-1"),
        "rider": mint(secret, rid, Role.RIDER, device="rider-1"),
        "dispatcher": mint(secret, rid, Role.DISPATCHER, device="dispatch-1"),
    }
    for station in stations():
        tokens[f"kitchen:{station}"] = mint(secret, rid, Role.KITCHEN, device=f"kds-{station}", stations=(station,))
    return tokens


def printer_ids(setup: RestaurantSetup | None = None) -> tuple[str, ...]:
    """The printers :func:`with_printers` adds: one per station (named as it), the desk's, the backup."""
    setup = setup or demo_setup()
    return (*(station.id for station in setup.stations), DESK_PRINTER, BACKUP_PRINTER)


def with_printers(setup: RestaurantSetup, ports: Mapping[str, int], host: str = "127.0.0.1") -> RestaurantSetup:
    """``setup`` printing on ``host`` at ``ports`` (by printer id, as :func:`printer_ids` names them).

    Each station with a port prints on its own printer and keeps its screens (routing BOTH); the demo's
    cashier till prints its receipts at the desk; a printer that fails hands its tickets to the backup.
    """
    printers = [
        Printer(id=s.id, name=f"{s.name or s.id} printer", host=host, port=ports[s.id], backup=BACKUP_PRINTER)
        for s in setup.stations
        if s.id in ports
    ]
    printers += [
        Printer(id=DESK_PRINTER, name="Desk printer", host=host, port=ports[DESK_PRINTER], backup=BACKUP_PRINTER),
        Printer(id=BACKUP_PRINTER, name="Backup printer", host=host, port=ports[BACKUP_PRINTER]),
    ]
    stations = tuple(
        s.model_copy(update={"routing": Routing.BOTH, "printer": s.id}) if s.id in ports else s for s in setup.stations
    )
    desks = (Desk(id=DESK_TILL, name="Cashier's desk", printer=DESK_PRINTER),)
    return setup.model_copy(update={"printers": tuple(printers), "stations": stations, "desks": desks})
