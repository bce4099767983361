"""The demo prints: emulated printers in the demo's process, its print agent, and what they printed on /printers.json.

The demo's node is run in this event loop as ``fireflow demo`` runs it (``DemoPrinters`` set up in the
restaurant, ``demo_server``), on the suite's real Redis and Postgres, under the test's own restaurant
id. Waits are on the agent following the hub, on printed tickets and on hub events, never on sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from redis.asyncio import Redis

from fireflow.clients.printers.emulator import PrinterEmulator
from fireflow.clients.python import HubClient
from fireflow.hub.commands.pins import Pins
from fireflow.hub.domain.actors import Role
from fireflow.hub.live.store import Store
from fireflow.hub.run.app import create_app, uvicorn_config
from fireflow.hub.run.demo import (
    BACKUP_PRINTER,
    DESK_PRINTER,
    DESK_TILL,
    demo_setup,
    printer_ids,
    seed_restaurant,
    with_printers,
)
from fireflow.hub.run.demo_printers import DemoPrinters, DemoServer, demo_server
from fireflow.hub.run.setup_files import export_setup, import_setup
from fireflow.hub.transports.tokens import mint
from fireflow.schema.records import Routing
from fireflow.schema.setup import RestaurantSetup
from tests.conftest import SECRET, WAIT, RunningHub, Servers, free_port, settings_for


def demo_as(rid: str) -> RestaurantSetup:
    """The demo's setup file under the test's restaurant id."""
    setup = demo_setup()
    return setup.model_copy(update={"profile": setup.profile.model_copy(update={"id": rid})})


@dataclass
class DemoNode:
    """A demo node serving on loopback with its emulated printers and their agent."""

    url: str
    rid: str
    printers: DemoPrinters
    server: DemoServer

    @property
    def ws_url(self) -> str:
        return self.url.replace("http", "ws", 1) + "/ws"

    def token(self, role: Role, device: str, stations: tuple[str, ...] = ()) -> str:
        return mint(SECRET, self.rid, role, device=device, stations=stations)

    def http(self, role: Role = Role.WAITER, device: str = "waiter-1") -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.token(role, device)}"}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=WAIT)


@contextlib.asynccontextmanager
async def demo_node(servers: Servers, redis: Redis, rid: str) -> AsyncIterator[DemoNode]:
    """The demo restaurant as ``rid``, printing, served as ``fireflow demo`` serves it, its agent following the hub."""
    printers = DemoPrinters.reserve()
    try:
        assert await printers.set_up(Store(redis), Pins(redis, cost="test"), demo_as(rid))
        settings = settings_for(servers, host="127.0.0.1", port=free_port())
        app = create_app(settings)
        url = f"http://127.0.0.1:{settings.port}"
        config = uvicorn_config(app, settings, log_level="warning")
        server = demo_server(app, config, printers, url, SECRET, rid)
        task = asyncio.create_task(server.serve())
        printing = asyncio.ensure_future(printers.printing.wait())
        await asyncio.wait({task, printing}, timeout=4 * WAIT, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()
        assert printing.done(), f"the demo's print agent did not follow the hub in time ({printers.agent_state})"
        try:
            yield DemoNode(url, rid, printers, server)
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 4 * WAIT)
    finally:
        printers.release()


async def fire_order(node: DemoNode, *items: str) -> str:
    async with node.http() as http:
        opened = await http.post("/api/v1/orders", json={"type": "TAKEAWAY"})
        assert opened.status_code == 200, opened.text
        order_id: str = opened.json()["result"]["order"]["id"]
        for item in items:
            added = await http.post(f"/api/v1/orders/{order_id}/items", json={"menu_item_id": item})
            assert added.status_code == 200, added.text
        fired = await http.post(f"/api/v1/orders/{order_id}/fire")
        assert fired.status_code == 200, fired.text
    return order_id


async def printed_json(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=WAIT) as http:
        answer = await http.get("/printers.json")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _texts(emulator: PrinterEmulator) -> list[list[str]]:
    return [[line.text.strip() for line in ticket.lines] for ticket in emulator.printed]


# -- the setup ---------------------------------------------------------------------------------------


def test_only_the_demo_command_adds_printers_the_tests_seed_screens_only() -> None:
    """The demo file routes every station to screens; with_printers gives each a printer (BOTH), the till a desk, a backup for all."""
    plain = demo_setup()
    assert plain.printers == () and plain.desks == ()
    assert {s.routing for s in plain.stations} == {Routing.SCREEN}
    ports = {printer_id: 9101 + n for n, printer_id in enumerate(printer_ids())}
    printing = with_printers(plain, ports)
    assert [p.id for p in printing.printers] == ["grill", "fry", "cold", "bar", DESK_PRINTER, BACKUP_PRINTER]
    assert {(s.routing, s.printer) for s in printing.stations} == {(Routing.BOTH, s.id) for s in plain.stations}
    assert [(d.id, d.printer) for d in printing.desks] == [(DESK_TILL, DESK_PRINTER)]
    backups = {p.id: p.backup for p in printing.printers}
    assert backups.pop(BACKUP_PRINTER) is None and set(backups.values()) == {BACKUP_PRINTER}
    assert {(p.host, p.port) for p in printing.printers} == {("127.0.0.1", port) for port in ports.values()}


async def test_the_seeded_demo_restaurant_still_shows_tickets_on_screens_only(redis: Redis, rid: str) -> None:
    """seed_restaurant (what the tests use) sets up no printer: STATION_OFFLINE and friends stay as they were."""
    await seed_restaurant(Store(redis), rid, manager_pin=None)
    restaurant = await Store(redis).restaurant(rid, fresh=True)
    assert restaurant is not None and restaurant.printers == () and restaurant.desks == ()
    assert {s.routing for s in restaurant.kitchen.stations} == {Routing.SCREEN}


def test_ports_are_the_fixed_range_or_a_free_one_where_taken() -> None:
    """Each printer gets first_port + n, or any free port when that one is taken; every reserved port is held."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        first = taken.getsockname()[1]
        printers = DemoPrinters.reserve(["a", "b"], first_port=first)
        try:
            assert printers.ports["a"] != first and len(set(printers.ports.values())) == 2
            assert not printers.fixed_ports
            for port in printers.ports.values():
                with socket.socket() as again, contextlib.suppress(OSError):
                    again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    again.bind(("127.0.0.1", port))
                    raise AssertionError(f"port {port} was not held")
        finally:
            printers.release()


async def test_a_demo_started_again_moves_only_its_loopback_printers_to_this_runs_ports(redis: Redis, rid: str) -> None:
    """Kept as it was left (a renamed restaurant stays renamed); its loopback printers take the new ports, a real one stays."""
    store, pins = Store(redis), Pins(redis, cost="test")
    first = DemoPrinters.reserve()
    second: DemoPrinters | None = None
    try:
        assert await first.set_up(store, pins, demo_as(rid))
        found = await export_setup(store, rid)
        assert found is not None
        real = tuple(
            p.model_copy(update={"host": "10.0.0.9", "port": 9100}) if p.id == "bar" else p for p in found.printers
        )
        profile = found.profile.model_copy(update={"name": "Renamed"})
        await import_setup(store, pins, found.model_copy(update={"printers": real, "profile": profile}))
        second = DemoPrinters.reserve()  # the first still holds its ports: these are others
        assert not await second.set_up(store, pins, demo_as(rid))
        kept = await export_setup(store, rid)
        assert kept is not None and kept.profile.name == "Renamed"
        addresses = {p.id: (p.host, p.port) for p in kept.printers}
        assert addresses.pop("bar") == ("10.0.0.9", 9100)
        assert addresses == {printer_id: ("127.0.0.1", port) for printer_id, port in second.ports.items()}
        assert set(second.printers) == set(printer_ids()) - {"bar"}
        assert not set(second.ports.values()) & set(first.ports.values())
    finally:
        first.release()
        if second is not None:
            second.release()


async def test_a_demo_restaurant_with_no_printer_gets_the_demos_again(redis: Redis, rid: str) -> None:
    """The demo's file imported afresh (no printers): the next start sets its printers up again, stations BOTH."""
    store, pins = Store(redis), Pins(redis, cost="test")
    first = DemoPrinters.reserve()
    second: DemoPrinters | None = None
    try:
        assert await first.set_up(store, pins, demo_as(rid))
        await import_setup(store, pins, demo_as(rid))
        restaurant = await store.restaurant(rid, fresh=True)
        assert restaurant is not None and restaurant.printers == ()
        second = DemoPrinters.reserve()
        assert not await second.set_up(store, pins, demo_as(rid))
        restaurant = await store.restaurant(rid, fresh=True)
        assert restaurant is not None
        assert {p.id: p.port for p in restaurant.printers} == second.ports
        assert {s.id: s.routing for s in restaurant.kitchen.stations if s.id in second.ports} == {
            station: Routing.BOTH for station in ("grill", "fry", "cold", "bar")
        }
    finally:
        first.release()
        if second is not None:
            second.release()


# -- printing ----------------------------------------------------------------------------------------


async def test_a_fire_in_the_demo_prints_on_each_stations_printer_and_shows_on_printers_json(
    servers: Servers, redis: Redis, rid: str
) -> None:
    """A burger and fries fired: the grill's screen still gets its ticket, the grill and fry printers print theirs, /printers.json shows them."""
    async with demo_node(servers, redis, rid) as node:
        grill = await HubClient.connect(node.ws_url, node.token(Role.KITCHEN, "kds-grill", ("grill",)))
        try:
            await grill.subscribe("kitchen:grill")
            order_id = await fire_order(node, "burger", "fries")
            async with asyncio.timeout(WAIT):
                while (event := await grill.events.get())["type"] != "NEW_KITCHEN_ORDER":
                    pass
            assert event["data"]["ticket"]["order_id"] == order_id
        finally:
            await grill.close()
        emulators = node.printers.emulators
        await emulators["grill"].wait_for(1, WAIT)
        await emulators["fry"].wait_for(1, WAIT)
        (burger,) = _texts(emulators["grill"])
        (fries,) = _texts(emulators["fry"])
        assert burger[0] == "GRILL" and "1 x Classic Burger" in burger
        assert fries[0] == "FRY" and "1 x Fries" in fries
        body = await printed_json(node.url)
        assert body["emulated"] is True and body["agent"] == "printing"
        by_id = {printer["id"]: printer for printer in body["printers"]}
        assert list(by_id) == list(printer_ids())
        shown = by_id["grill"]
        assert (
            shown["printed"] == 1
            and shown["listening"]
            and shown["address"] == f"127.0.0.1:{node.printers.ports['grill']}"
        )
        (ticket,) = shown["tickets"]
        assert ticket["cut"] and ticket["number"] == 1 and "1 x Classic Burger" in ticket["text"]
        item = next(line for line in ticket["lines"] if line["text"].strip() == "1 x Classic Burger")
        assert (item["width"], item["height"], item["spans"][0]["bold"]) == (1, 2, True)
        assert by_id["fry"]["printed"] == 1 and by_id["cold"]["printed"] == 0 and by_id["backup"]["tickets"] == []
        # A second fire: newest first.
        await fire_order(node, "burger")
        await emulators["grill"].wait_for(2, WAIT)
        numbers = [
            t["number"] for t in {p["id"]: p for p in (await printed_json(node.url))["printers"]}["grill"]["tickets"]
        ]
        assert numbers == [2, 1]
    assert node.printers.agent_state == "stopped"
    assert all(emulator.offline for emulator in node.printers.emulators.values())


async def test_a_hub_without_emulated_printers_says_so(hub: RunningHub) -> None:
    """/printers.json of a node `fireflow serve` started: emulated false, no printers."""
    body = await printed_json(hub.url)
    assert body == {"emulated": False, "version": 0, "agent": "", "printers": []}
