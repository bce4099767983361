"""The demo restaurant: a menu over four stations, items needing no preparation, 12 tables."""

from __future__ import annotations

from fireflow.hub.commands.pins import Pins
from fireflow.hub.domain.actors import ALL_STATIONS, Role
from fireflow.hub.live.store import Store
from fireflow.hub.transports.tokens import mint
from fireflow.schema.billing import BillingSettings, TaxMode, TaxRate
from fireflow.schema.records import KitchenSettings, Menu, MenuItem, Restaurant, StationSettings, Table

__all__ = ["DEMO_ID", "demo_billing", "demo_kitchen", "demo_menu", "demo_tokens", "seed_restaurant"]

DEMO_ID = "demo"
DEMO_PIN = "1234"  # manager-1's approval PIN in the demo (and the tests)
STATIONS = ("grill", "fry", "cold", "bar")


def demo_menu() -> Menu:
    items = [
        MenuItem(id="burger", name="Classic Burger", price=34900, station="grill", category="mains", tax_code="GST5"),
        MenuItem(id="paneer-tikka", name="Paneer Tikka", price=29900, station="grill", category="starters", tax_code="GST5"),
        MenuItem(id="chicken-wings", name="Grilled Wings", price=31900, station="grill", category="starters", tax_code="GST5"),
        MenuItem(id="fries", name="Fries", price=14900, station="fry", category="sides", tax_code="GST5"),
        MenuItem(id="calamari", name="Fried Calamari", price=32900, station="fry", category="starters", tax_code="GST5"),
        MenuItem(id="caesar", name="Caesar Salad", price=24900, station="cold", category="salads", tax_code="GST5"),
        MenuItem(id="gazpacho", name="Gazpacho", price=19900, station="cold", category="soups", tax_code="GST5"),
        MenuItem(id="mojito", name="Virgin Mojito", price=17900, station="bar", category="drinks", tax_code="GST18"),
        MenuItem(id="lassi", name="Mango Lassi", price=12900, station="bar", category="drinks", tax_code="GST5"),
        MenuItem(
            id="water", name="Bottled Water", price=4900, station="bar", category="drinks", tax_code="GST18",
            requires_prep=False,
        ),
        MenuItem(
            id="soda", name="Soda Can", price=8900, station="bar", category="drinks", tax_code="GST18",
            requires_prep=False,
        ),
        MenuItem(
            id="brownie", name="Packaged Brownie", price=9900, station="cold", category="desserts", tax_code="GST18",
            requires_prep=False,
        ),
    ]  # fmt: skip
    return Menu(stations=STATIONS, items=tuple(items))


def demo_tables(count: int = 12) -> list[Table]:
    return [
        Table(id=f"T{n}", name=f"Table {n}", seats=2 if n <= 4 else 4 if n <= 10 else 8) for n in range(1, count + 1)
    ]


async def seed_restaurant(
    store: Store,
    rid: str = DEMO_ID,
    name: str = "Fireflow Demo Kitchen",
    tables: int = 12,
    kitchen: KitchenSettings | None = None,
    manager_pin: str | None = DEMO_PIN,
) -> None:
    restaurant = Restaurant(id=rid, name=name, kitchen=kitchen or demo_kitchen(), billing=demo_billing())
    await store.put_restaurant(restaurant, demo_menu(), demo_tables(tables))
    if manager_pin is not None:
        await Pins(store.redis).set(rid, "manager-1", manager_pin)


def demo_billing() -> BillingSettings:
    """Indian GST as the menu's tax codes name it, prices before tax, 10% service on dine-in."""
    return BillingSettings(
        tax_mode=TaxMode.EXCLUSIVE,
        taxes=(
            TaxRate(code="GST5", name="GST 5%", rate_bp=500),
            TaxRate(code="GST18", name="GST 18%", rate_bp=1800),
        ),
        service_charge_bp=1000,
    )


def demo_kitchen() -> KitchenSettings:
    """Ticket-age colours per station: drinks should be quick, the grill gets longer."""
    return KitchenSettings(
        recall_window_s=600,
        ack_timeout_s=30,
        stations=(
            StationSettings(id="grill", name="Grill", warn_after_s=480, late_after_s=720),
            StationSettings(id="fry", name="Fry", warn_after_s=300, late_after_s=480),
            StationSettings(id="cold", name="Cold", warn_after_s=300, late_after_s=480),
            StationSettings(id="bar", name="Bar", warn_after_s=120, late_after_s=240),
            StationSettings(id="*", name="Expo", warn_after_s=600, late_after_s=900),
        ),
    )


def demo_tokens(secret: str, rid: str = DEMO_ID) -> dict[str, str]:
    tokens = {
        "waiter": mint(secret, rid, Role.WAITER, device="waiter-1"),
        "cashier": mint(secret, rid, Role.CASHIER, device="cashier-1"),
        "manager": mint(secret, rid, Role.MANAGER, device="manager-1"),
        "expo": mint(secret, rid, Role.EXPO, device="expo-1", stations=(ALL_STATIONS,)),
        "board": mint(secret, rid, Role.DISPLAY, device="board-1"),
    }
    for station in STATIONS:
        tokens[f"kitchen:{station}"] = mint(secret, rid, Role.KITCHEN, device=f"kds-{station}", stations=(station,))
    return tokens
