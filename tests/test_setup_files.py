"""Setup files against real Redis: import, export, the CLI, and an import that must not harm a running service."""

from __future__ import annotations

from pathlib import Path

import orjson
from redis.asyncio import Redis

from fireflow.hub.commands.pins import Pins
from fireflow.hub.domain.actors import Role
from fireflow.hub.live.store import Store
from fireflow.hub.run.demo import DEMO_PIN, demo_setup
from fireflow.hub.run.setup_files import SetupRefused, export_setup, import_setup, parse_setup, write_setup
from fireflow.schema.records import TableStatus
from fireflow.schema.setup import RestaurantSetup
from tests.conftest import RunningHub, Servers
from tests.test_cli import _env, _fireflow


def _as(setup: RestaurantSetup, rid: str) -> RestaurantSetup:
    return setup.model_copy(update={"profile": setup.profile.model_copy(update={"id": rid})})


async def test_export_then_import_gives_the_same_setup_field_by_field(redis: Redis, rid: str) -> None:
    """The demo imported, exported, imported as another restaurant and exported again: equal in every field."""
    store, pins = Store(redis), Pins(redis, cost="test")
    await import_setup(store, pins, _as(demo_setup(), rid))
    first = await export_setup(store, rid)
    assert first is not None
    (manager,) = first.staff
    assert manager.pin is None and manager.pin_hash is not None and manager.pin_hash.startswith("$argon2")
    assert await pins.approver(rid, "till-1", DEMO_PIN) == "manager-1"  # the file's PIN works
    assert first.model_copy(update={"staff": ()}) == _as(demo_setup(), rid).model_copy(update={"staff": ()})
    other = rid + "b"
    await import_setup(store, pins, parse_setup(write_setup(_as(first, other))))
    second = await export_setup(store, other)
    assert second is not None
    assert second.model_dump() == _as(first, other).model_dump()
    assert await pins.approver(other, "till-1", DEMO_PIN) == "manager-1"  # the exported hash still verifies


async def test_an_import_during_service_keeps_open_orders_and_refuses_to_drop_a_table_in_use(
    hub: RunningHub, redis: Redis
) -> None:
    """Re-import with T1 renamed and a new price: T1 stays occupied, the order's line keeps its price."""
    rid = hub.rid
    store, pins = Store(redis), Pins(redis, cost="test")
    await import_setup(store, pins, _as(demo_setup(), rid))
    waiter = await hub.client(Role.WAITER)
    ack = await waiter.command("order.open", {"type": "DINE_IN", "table_id": "T1", "guests": 2})
    order_id = ack["result"]["order"]["id"]
    await waiter.command("order.add_item", {"order_id": order_id, "menu_item_id": "burger", "quantity": 1})
    setup = _as(demo_setup(), rid)
    tables = tuple(t.model_copy(update={"name": "Window"}) if t.id == "T1" else t for t in setup.tables)
    menu = tuple(m.model_copy(update={"price": 39900}) if m.id == "burger" else m for m in setup.menu)
    await import_setup(store, pins, setup.model_copy(update={"tables": tables, "menu": menu}))
    t1 = next(t for t in await store.tables(rid) if t.id == "T1")
    assert (t1.name, t1.status, t1.order_id) == ("Window", TableStatus.OCCUPIED, order_id)
    order = await store.order(rid, order_id)
    assert order is not None and [line.unit_price for line in order.items] == [34900]
    menu_now = await store.menu(rid)
    assert menu_now is not None and menu_now.item("burger") is not None and menu_now.item("burger").price == 39900
    without_t1 = setup.model_copy(update={"tables": tables[1:], "menu": ()})
    try:
        await import_setup(store, pins, without_t1)
        raise AssertionError("an import dropping an occupied table was accepted")
    except SetupRefused as exc:
        assert exc.lines == ["tables: T1 in use; settle or move their orders before removing them"]
    after = await store.menu(rid)
    assert after is not None and len(after.items) == len(setup.menu)  # nothing of the refused file was written


async def test_the_restaurant_commands_create_export_and_import_from_the_shell(
    servers: Servers, redis: Redis, rid: str, tmp_path: Path
) -> None:
    """`fireflow restaurant create|export|import` on the suite's Redis; a bad file is refused with its paths."""
    env = _env(FIREFLOW_SECRET="s3cret", REDIS_URL=servers.redis_url, FIREFLOW_PIN_HASH="test")
    made = _fireflow("restaurant", "create", "--id", rid, "--name", "Corner Cafe", "--currency", "JPY", env=env)
    assert made.returncode == 0, made.stderr
    assert f"restaurant {rid!r} created" in made.stdout and "manager's device token" in made.stdout
    again = _fireflow("restaurant", "create", "--id", rid, "--name", "Twice", env=env)
    assert again.returncode == 2 and f"restaurant {rid!r} exists already" in again.stderr
    out = tmp_path / "cafe.json"
    exported = _fireflow("restaurant", "export", rid, "-o", str(out), env=env)
    assert exported.returncode == 0, exported.stderr
    cafe = parse_setup(out.read_bytes())
    assert (cafe.profile.name, cafe.profile.currency, cafe.menu) == ("Corner Cafe", "JPY", ())
    demo = orjson.loads(write_setup(_as(demo_setup(), rid)))
    demo["menu"][0]["station"] = "grll"
    demo["tables"][0]["area"] = "roof"
    bad = tmp_path / "bad.json"
    bad.write_bytes(orjson.dumps(demo))
    refused = _fireflow("restaurant", "import", str(bad), env=env)
    assert refused.returncode == 2
    assert "2 problems, nothing written" in refused.stderr
    assert "menu[0].station: no station 'grll'" in refused.stderr and "tables[0].area: no area 'roof'" in refused.stderr
    assert parse_setup(_fireflow("restaurant", "export", rid, env=env).stdout) == cafe  # unchanged
    csv = tmp_path / "menu.csv"
    csv.write_text("id,name,price,station,category,tax_code\nburger,Burger,399.00,grill,mains,GST5\n")
    good = tmp_path / "good.json"
    good.write_bytes(write_setup(_as(demo_setup(), rid)))
    imported = _fireflow("restaurant", "import", str(good), "--menu-csv", str(csv), env=env)
    assert imported.returncode == 0, imported.stderr
    now = parse_setup(_fireflow("restaurant", "export", rid, env=env).stdout)
    assert [(m.id, m.price, [g.id for g in m.modifiers]) for m in now.menu] == [
        ("burger", 39900, ["doneness", "add-ons"])
    ]
    missing = _fireflow("restaurant", "export", "nosuch", env=env)
    assert missing.returncode == 2 and "unknown restaurant 'nosuch'" in missing.stderr
