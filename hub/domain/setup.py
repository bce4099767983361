"""A restaurant's setup: is it whole, and how it maps to the live records the hub runs on.

A setup file can be well-formed and still wrong in ways a person makes: an item
on a station that does not exist, a tax code with a typo, two tables called T4.
``problems`` finds every such mistake at once and names where it is
(``menu[3].station``), so an import is refused with the whole list and nothing
written. ``to_live`` and ``from_live`` convert between the file and the records
the commands read (restaurant, menu, tables), so an export of an import is the
same setup, field by field.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from fireflow.hub.domain.actors import ALL_STATIONS
from fireflow.hub.domain.decision import Decision, Event
from fireflow.hub.domain.errors import DomainError
from fireflow.hub.domain.money import MINOR_DIGITS
from fireflow.schema import commands as c
from fireflow.schema import events as e
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.records import (
    Desk,
    KitchenSettings,
    Menu,
    MenuItem,
    Printer,
    Restaurant,
    Routing,
    StationSettings,
    Table,
    TableStatus,
)
from fireflow.schema.setup import KitchenRules, Profile, PutStaff, RemoveStaff, RestaurantSetup, StaffMember, TablePlace

__all__ = [
    "APPROVERS",
    "LiveSetup",
    "from_live",
    "problems",
    "put_area",
    "put_category",
    "put_desk",
    "put_item",
    "put_printer",
    "put_staff",
    "put_station",
    "put_table",
    "remove_area",
    "remove_category",
    "remove_desk",
    "remove_item",
    "remove_printer",
    "remove_staff",
    "remove_station",
    "remove_table",
    "to_live",
    "update_billing",
    "update_profile",
]

_T = TypeVar("_T")
APPROVERS = frozenset({"MANAGER", "OWNER"})  # the staff roles whose PIN approves discounts, refunds and voids


@dataclass(frozen=True, slots=True)
class LiveSetup:
    """A setup as the live store keeps it; staff PINs are the Pins' business and travel apart."""

    restaurant: Restaurant
    menu: Menu
    tables: tuple[Table, ...]
    staff: tuple[StaffMember, ...]
    pinned: frozenset[str] = frozenset()  # the staff who have a PIN (its hash is the Pins' business)


def _duplicates(where: str, ids: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    found = []
    for n, id_ in enumerate(ids):
        if id_ in seen:
            found.append(f"{where}[{n}].id: {id_!r} is used twice")
        seen.add(id_)
    return found


def problems(setup: RestaurantSetup) -> list[str]:
    """Every mistake in ``setup``, one line each as ``path: what is wrong``; empty when it is whole."""
    found: list[str] = []
    profile = setup.profile
    iso = MINOR_DIGITS.get(profile.currency)  # known only where it is not 2; any other code may set its own
    if profile.minor_digits is not None and iso is not None and profile.minor_digits != iso:
        found.append(f"profile.minor_digits: {profile.currency} has {iso} minor digits, not {profile.minor_digits}")
    found += _duplicates("stations", (s.id for s in setup.stations))
    found += _duplicates("categories", (c.id for c in setup.categories))
    found += _duplicates("menu", (m.id for m in setup.menu))
    found += _duplicates("areas", (a.id for a in setup.areas))
    found += _duplicates("tables", (t.id for t in setup.tables))
    found += _duplicates("staff", (s.id for s in setup.staff))
    for n, person in enumerate(setup.staff):
        if person.role not in APPROVERS and (person.pin or person.pin_hash):
            found.append(f"staff[{n}].pin: a {person.role} does not approve with a PIN (MANAGER and OWNER do)")
    for n, station in enumerate(setup.stations):
        if station.id == ALL_STATIONS:
            found.append(f"stations[{n}].id: {ALL_STATIONS!r} means every station; name the station")
        if station.late_after_s <= station.warn_after_s:
            found.append(f"stations[{n}].late_after_s: must be after warn_after_s ({station.warn_after_s} s)")
    if setup.kitchen.expo_late_after_s <= setup.kitchen.expo_warn_after_s:
        found.append(
            f"kitchen.expo_late_after_s: must be after expo_warn_after_s ({setup.kitchen.expo_warn_after_s} s)"
        )
    stations = {s.id for s in setup.stations}
    categories = {c.id for c in setup.categories}
    taxes = {t.code for t in setup.billing.taxes}
    for n, item in enumerate(setup.menu):
        where = f"menu[{n}]"
        if item.station not in stations:
            found.append(f"{where}.station: no station {item.station!r} (stations: {', '.join(sorted(stations))})")
        if taxes and item.tax_code not in taxes:
            found.append(f"{where}.tax_code: no tax code {item.tax_code!r} (codes: {', '.join(sorted(taxes))})")
        if item.category and item.category not in categories:
            found.append(f"{where}.category: no category {item.category!r}")
        found += _duplicates(f"{where}.modifiers", (g.id for g in item.modifiers))
        for g, group in enumerate(item.modifiers):
            found += _duplicates(f"{where}.modifiers[{g}].options", (o.id for o in group.options))
            if group.max_choices > len(group.options):
                found.append(
                    f"{where}.modifiers[{g}].max_choices: {group.max_choices} but only {len(group.options)} options"
                )
    found += _printer_problems(setup)
    areas = {a.id for a in setup.areas}
    for n, table in enumerate(setup.tables):
        if table.area and table.area not in areas:
            found.append(f"tables[{n}].area: no area {table.area!r}")
    return found


def _printer_problems(setup: RestaurantSetup) -> list[str]:
    """Stations, desks and backups naming printers that exist; a backup chain that ends somewhere."""
    found = _duplicates("printers", (p.id for p in setup.printers))
    found += _duplicates("desks", (d.id for d in setup.desks))
    printers = {p.id: p for p in setup.printers}
    for n, station in enumerate(setup.stations):
        if station.printer is not None and station.printer not in printers:
            found.append(f"stations[{n}].printer: no printer {station.printer!r}")
        if station.routing is not Routing.SCREEN and station.printer is None:
            found.append(f"stations[{n}].printer: {station.routing.value} needs a printer")
    for n, printer in enumerate(setup.printers):
        if printer.backup is None:
            continue
        if printer.backup not in printers:
            found.append(f"printers[{n}].backup: no printer {printer.backup!r}")
            continue
        seen, at = {printer.id}, printers[printer.backup]
        while at.backup is not None and at.backup in printers and at.id not in seen:
            seen.add(at.id)
            at = printers[at.backup]
        if at.id in seen or at.backup in seen:
            found.append(f"printers[{n}].backup: the backups of {printer.id!r} come back to it")
    for n, desk in enumerate(setup.desks):
        if desk.printer not in printers:
            found.append(f"desks[{n}].printer: no printer {desk.printer!r}")
    return found


def to_live(setup: RestaurantSetup, *, restaurant_version: int = 0, menu_version: int = 0) -> LiveSetup:
    """The records the hub runs on, from a whole setup (check ``problems`` first)."""
    profile = setup.profile
    restaurant = Restaurant(
        id=profile.id,
        name=profile.name,
        currency=profile.currency,
        minor_digits=profile.minor_digits,
        timezone=profile.timezone,
        location=profile.location,
        kitchen=KitchenSettings(
            recall_window_s=setup.kitchen.recall_window_s,
            ack_timeout_s=setup.kitchen.ack_timeout_s,
            print_confirm_s=setup.kitchen.print_confirm_s,
            print_manual_s=setup.kitchen.print_manual_s,
            stations=(*setup.stations, _expo(setup.kitchen)),
        ),
        billing=setup.billing,
        areas=setup.areas,
        printers=setup.printers,
        desks=setup.desks,
        version=restaurant_version,
    )
    menu = Menu(
        stations=tuple(s.id for s in setup.stations),
        items=setup.menu,
        categories=setup.categories,
        version=menu_version,
    )
    tables = tuple(Table(id=t.id, name=t.name, seats=t.seats, area=t.area, x=t.x, y=t.y) for t in setup.tables)
    return LiveSetup(restaurant, menu, tables, setup.staff)


def from_live(
    restaurant: Restaurant, menu: Menu, tables: Sequence[Table], staff: Sequence[StaffMember]
) -> RestaurantSetup:
    """The setup file of a running restaurant: what ``fireflow restaurant export`` writes.

    Built from records already valid, without validating again: a restaurant made before setup
    files existed (an id the file's pattern would refuse) can still be checked and exported.
    """
    kitchen = restaurant.kitchen
    expo = kitchen.station(ALL_STATIONS)
    return RestaurantSetup.model_construct(
        profile=Profile.model_construct(
            id=restaurant.id,
            name=restaurant.name,
            timezone=restaurant.timezone,
            currency=restaurant.currency,
            minor_digits=restaurant.minor_digits,
            location=restaurant.location,
        ),
        billing=restaurant.billing,
        kitchen=KitchenRules.model_construct(
            recall_window_s=kitchen.recall_window_s,
            ack_timeout_s=kitchen.ack_timeout_s,
            print_confirm_s=kitchen.print_confirm_s,
            print_manual_s=kitchen.print_manual_s,
            expo_warn_after_s=expo.warn_after_s,
            expo_late_after_s=expo.late_after_s,
        ),
        # every station of the menu, in the menu's order, with its settings where it has any
        stations=tuple(kitchen.station(s) for s in menu.stations),
        categories=menu.categories,
        menu=menu.items,
        areas=restaurant.areas,
        tables=tuple(
            TablePlace.model_construct(id=t.id, name=t.name, seats=t.seats, area=t.area, x=t.x, y=t.y)
            for t in sorted(tables, key=_table_order)
        ),
        staff=tuple(staff),
        printers=restaurant.printers,
        desks=restaurant.desks,
    )


def _expo(rules: KitchenRules) -> StationSettings:
    """The expo screen's ticket ages, kept as the all-stations entry of the kitchen settings."""
    return StationSettings(
        id=ALL_STATIONS, name="Expo", warn_after_s=rules.expo_warn_after_s, late_after_s=rules.expo_late_after_s
    )


def _table_order(table: Table) -> tuple[str, int, str]:
    """T2 before T10: a name's digits sort as a number."""
    head = table.id.rstrip("0123456789")
    tail = table.id[len(head) :]
    return (head, int(tail) if tail else -1, table.id)


# -- one change at a time: the setup commands ------------------------------------------------------
#
# Each command changes one part and is checked against the whole setup it leaves: a change that
# would add a mistake (an item on a station just removed, a tax code no rate covers) is refused
# with INVALID_SETUP and every new problem; mistakes the setup had before are not this change's.

MENU_CHANNELS = ("menu", "manager")
FLOOR_CHANNELS = ("tables", "manager")
PROFILE_CHANNELS = ("manager", "cashier", "menu", "printing")  # printing: the agents take new printers


def _shape(problem: str) -> str:
    """A problem without its list positions, so removing an item does not make the others' problems new."""
    return re.sub(r"\[\d+\]", "[]", problem)


def _check_change(before: LiveSetup, after: LiveSetup) -> None:
    old = {_shape(p) for p in problems(from_live(before.restaurant, before.menu, before.tables, ()))}
    new = [p for p in problems(from_live(after.restaurant, after.menu, after.tables, ())) if _shape(p) not in old]
    if new:
        more = f" (and {len(new) - 1} more)" if len(new) > 1 else ""
        raise DomainError(
            ErrorCode.INVALID_SETUP, f"that change would break the setup: {new[0]}{more}", {"problems": new}
        )


def _fresh(current: int, given: int | None, what: str) -> None:
    if given is not None and given != current:
        raise DomainError(
            ErrorCode.VERSION_CONFLICT,
            f"the {what} changed since you loaded it (now version {current}); reload and try again",
            {"version": current},
        )


def _upsert(items: Sequence[_T], new: _T, key: Callable[[_T], str], position: int | None = None) -> tuple[_T, ...]:
    """``items`` with ``new`` in place of the one with its key, or added (at ``position``, else last)."""
    rest = [item for item in items if key(item) != key(new)]
    at = next((n for n, item in enumerate(items) if key(item) == key(new)), len(rest))
    if position is not None:
        at = min(position, len(rest))
    rest.insert(at, new)
    return tuple(rest)


def _menu_changed(menu: Menu, items: tuple[MenuItem, ...] = (), removed: tuple[str, ...] = ()) -> Event:
    data = e.MenuChanged(
        version=menu.version, items=items, removed=removed, categories=menu.categories, stations=menu.stations
    )
    return Event("MENU_CHANGED", MENU_CHANNELS, data)


def _menu_move(before: LiveSetup, menu: Menu, event: Event, result: dict[str, Any]) -> Decision:
    _check_change(before, LiveSetup(before.restaurant, menu, before.tables, ()))
    return Decision(result={"menu_version": menu.version, **result}, menu=menu, events=(event,))


def put_item(live: LiveSetup, cmd: c.PutMenuItem) -> Decision:
    menu = live.menu
    _fresh(menu.version, cmd.version, "menu")
    new = menu.model_copy(update={"items": _upsert(menu.items, cmd.item, _id), "version": menu.version + 1})
    return _menu_move(live, new, _menu_changed(new, items=(cmd.item,)), {"menu_item_id": cmd.item.id})


def remove_item(live: LiveSetup, cmd: c.RemoveMenuItem) -> Decision:
    menu = live.menu
    _fresh(menu.version, cmd.version, "menu")
    if menu.item(cmd.menu_item_id) is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no menu item {cmd.menu_item_id!r}")
    items = tuple(i for i in menu.items if i.id != cmd.menu_item_id)
    new = menu.model_copy(update={"items": items, "version": menu.version + 1})
    return _menu_move(live, new, _menu_changed(new, removed=(cmd.menu_item_id,)), {"menu_item_id": cmd.menu_item_id})


def put_category(live: LiveSetup, cmd: c.PutCategory) -> Decision:
    menu = live.menu
    _fresh(menu.version, cmd.version, "menu")
    categories = _upsert(menu.categories, cmd.category, _id, cmd.position)
    new = menu.model_copy(update={"categories": categories, "version": menu.version + 1})
    return _menu_move(live, new, _menu_changed(new), {"category_id": cmd.category.id})


def remove_category(live: LiveSetup, cmd: c.RemoveCategory) -> Decision:
    menu = live.menu
    _fresh(menu.version, cmd.version, "menu")
    if all(c.id != cmd.category_id for c in menu.categories):
        raise DomainError(ErrorCode.NOT_FOUND, f"no category {cmd.category_id!r}")
    categories = tuple(c for c in menu.categories if c.id != cmd.category_id)
    new = menu.model_copy(update={"categories": categories, "version": menu.version + 1})
    return _menu_move(live, new, _menu_changed(new), {"category_id": cmd.category_id})


def _kitchen_move(live: LiveSetup, stations: tuple[StationSettings, ...], menu_stations: tuple[str, ...]) -> Decision:
    restaurant, menu = live.restaurant, live.menu
    kitchen = restaurant.kitchen.model_copy(update={"stations": stations})
    new_restaurant = restaurant.model_copy(update={"kitchen": kitchen, "version": restaurant.version + 1})
    new_menu = menu.model_copy(update={"stations": menu_stations, "version": menu.version + 1})
    _check_change(live, LiveSetup(new_restaurant, new_menu, live.tables, ()))
    kitchen_channels = ("expo", "manager", *(f"kitchen:{s}" for s in sorted({*menu.stations, *menu_stations})))
    events = (
        _menu_changed(new_menu),
        Event("KITCHEN_SETTINGS_CHANGED", kitchen_channels, e.KitchenSettingsChanged(kitchen=kitchen)),
    )
    result = {"menu_version": new_menu.version, "restaurant_version": new_restaurant.version}
    return Decision(result=result, restaurant=new_restaurant, menu=new_menu, events=events)


def put_station(live: LiveSetup, cmd: c.PutStation) -> Decision:
    _fresh(live.menu.version, cmd.version, "menu")
    station = cmd.station
    if station.id == ALL_STATIONS:
        raise DomainError(ErrorCode.INVALID_SETUP, f"{ALL_STATIONS!r} means every station; name the station")
    if station.late_after_s <= station.warn_after_s:
        raise DomainError(ErrorCode.INVALID_SETUP, f"{station.id}: late_after_s must be after warn_after_s")
    stations = _upsert(live.restaurant.kitchen.stations, station, _id)
    menu_stations = live.menu.stations if station.id in live.menu.stations else (*live.menu.stations, station.id)
    return _kitchen_move(live, stations, menu_stations)


def remove_station(live: LiveSetup, cmd: c.RemoveStation) -> Decision:
    _fresh(live.menu.version, cmd.version, "menu")
    if cmd.station_id not in live.menu.stations:
        raise DomainError(ErrorCode.NOT_FOUND, f"no station {cmd.station_id!r}")
    stations = tuple(s for s in live.restaurant.kitchen.stations if s.id != cmd.station_id)
    return _kitchen_move(live, stations, tuple(s for s in live.menu.stations if s != cmd.station_id))


def _floor_move(
    live: LiveSetup, restaurant: Restaurant, tables: tuple[Table, ...] = (), dropped: tuple[Table, ...] = ()
) -> Decision:
    gone = tuple(t.id for t in dropped)
    kept = {t.id: t for t in live.tables} | {t.id: t for t in tables}
    after = tuple(t for t in kept.values() if t.id not in gone)
    _check_change(live, LiveSetup(restaurant, live.menu, after, ()))
    data = e.TablesChanged(tables=tables, removed=gone, areas=restaurant.areas)
    return Decision(
        result={"restaurant_version": restaurant.version, "tables": [t.id for t in tables], "removed": list(gone)},
        restaurant=restaurant if restaurant is not live.restaurant else None,
        tables=tables,
        dropped_tables=dropped,
        events=(Event("TABLES_CHANGED", FLOOR_CHANNELS, data),),
    )


def put_area(live: LiveSetup, cmd: c.PutArea) -> Decision:
    restaurant = live.restaurant
    _fresh(restaurant.version, cmd.version, "restaurant")
    areas = _upsert(restaurant.areas, cmd.area, _id)
    return _floor_move(live, restaurant.model_copy(update={"areas": areas, "version": restaurant.version + 1}))


def remove_area(live: LiveSetup, cmd: c.RemoveArea) -> Decision:
    restaurant = live.restaurant
    _fresh(restaurant.version, cmd.version, "restaurant")
    if all(a.id != cmd.area_id for a in restaurant.areas):
        raise DomainError(ErrorCode.NOT_FOUND, f"no area {cmd.area_id!r}")
    areas = tuple(a for a in restaurant.areas if a.id != cmd.area_id)
    return _floor_move(live, restaurant.model_copy(update={"areas": areas, "version": restaurant.version + 1}))


def put_table(live: LiveSetup, cmd: c.PutTable) -> Decision:
    current = next((t for t in live.tables if t.id == cmd.table_id), None)
    place: dict[str, Any] = {"name": cmd.name, "seats": cmd.seats, "area": cmd.area, "x": cmd.x, "y": cmd.y}
    if current is None:
        table = Table(id=cmd.table_id, version=1, **place)
    else:
        _fresh(current.version, cmd.version, f"table {cmd.table_id}")
        table = current.model_copy(update=place | {"version": current.version + 1})
    return _floor_move(live, live.restaurant, tables=(table,))


def remove_table(live: LiveSetup, cmd: c.RemoveTable) -> Decision:
    current = next((t for t in live.tables if t.id == cmd.table_id), None)
    if current is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no table {cmd.table_id!r}")
    if current.order_id is not None or current.status is not TableStatus.FREE:
        raise DomainError(
            ErrorCode.INVALID_STATE,
            f"table {current.name} is {current.status.value.lower()}; settle or move its order first",
            {"status": current.status.value, "order_id": current.order_id},
        )
    return _floor_move(live, live.restaurant, dropped=(current,))


def _profile_move(live: LiveSetup, restaurant: Restaurant, result: dict[str, Any] | None = None) -> Decision:
    _check_change(live, LiveSetup(restaurant, live.menu, live.tables, ()))
    event = Event("PROFILE_CHANGED", PROFILE_CHANNELS, e.ProfileChanged(restaurant=restaurant))
    answer = {"restaurant_version": restaurant.version, **(result or {})}
    return Decision(result=answer, restaurant=restaurant, events=(event,))


def update_profile(live: LiveSetup, cmd: c.UpdateProfile) -> Decision:
    """Name, time zone and place; the time zone is checked against the zone database by the shell first."""
    restaurant = live.restaurant
    _fresh(restaurant.version, cmd.version, "restaurant")
    changes: dict[str, Any] = {"version": restaurant.version + 1}
    if cmd.name is not None:
        changes["name"] = cmd.name
    if cmd.timezone is not None:
        changes["timezone"] = cmd.timezone
    if cmd.location is not None:
        changes["location"] = cmd.location
    return _profile_move(live, restaurant.model_copy(update=changes))


def update_billing(live: LiveSetup, cmd: c.UpdateBilling) -> Decision:
    restaurant = live.restaurant
    _fresh(restaurant.version, cmd.version, "restaurant")
    return _profile_move(
        live, restaurant.model_copy(update={"billing": cmd.billing, "version": restaurant.version + 1})
    )


def _id(record: Any) -> str:
    return str(record.id)


# -- staff: who approves with a PIN --------------------------------------------------------------------

STAFF_CHANNELS = ("manager",)


def _staff_move(live: LiveSetup, result: dict[str, Any], **change: Any) -> Decision:
    restaurant = live.restaurant.model_copy(update={"version": live.restaurant.version + 1})
    data = e.StaffChanged(
        version=restaurant.version, staff=change.get("staff", ()), removed=change.get("dropped_staff", ())
    )
    event = Event("STAFF_CHANGED", STAFF_CHANNELS, data)
    return Decision(
        result={"restaurant_version": restaurant.version, **result}, restaurant=restaurant, events=(event,), **change
    )


def put_staff(live: LiveSetup, cmd: PutStaff, pin_hash: str | None) -> Decision:
    """A person added or changed; ``pin_hash`` is the new PIN's, hashed by the shell (None: keep theirs)."""
    _fresh(live.restaurant.version, cmd.version, "restaurant")
    person = StaffMember(id=cmd.staff_id, name=cmd.name, role=cmd.role)
    was = next((s for s in live.staff if s.id == cmd.staff_id), None)
    if person.role not in APPROVERS:  # a PIN approves discounts, refunds and voids: only theirs is kept
        if pin_hash is not None:
            raise DomainError(
                ErrorCode.INVALID_SETUP,
                f"a {person.role.lower()} does not approve with a PIN: leave it empty, or make them a manager",
                {"problems": [f"staff: {person.id} is a {person.role}"]},
            )
        if was is not None and was.role in APPROVERS:
            _keep_an_approver(live, cmd.staff_id)
        return _staff_move(live, {"staff_id": person.id}, staff=(person,), dropped_pins=(person.id,))
    pins = {person.id: pin_hash} if pin_hash is not None else {}
    return _staff_move(live, {"staff_id": person.id}, staff=(person,), pin_hashes=pins)


def remove_staff(live: LiveSetup, cmd: RemoveStaff) -> Decision:
    _fresh(live.restaurant.version, cmd.version, "restaurant")
    was = next((s for s in live.staff if s.id == cmd.staff_id), None)
    if was is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no staff member {cmd.staff_id!r}")
    if was.role in APPROVERS:
        _keep_an_approver(live, cmd.staff_id)
    return _staff_move(live, {"staff_id": was.id}, dropped_staff=(was.id,))


def _keep_an_approver(live: LiveSetup, leaving: str) -> None:
    """Someone must still be able to approve refunds and voids once ``leaving`` no longer can.

    Able means a MANAGER or OWNER with a PIN: a manager added without one approves nothing yet.
    """
    if leaving not in live.pinned:
        return  # they could not approve anyway: nothing is lost
    if not any(s.role in APPROVERS and s.id != leaving and s.id in live.pinned for s in live.staff):
        raise DomainError(
            ErrorCode.INVALID_SETUP,
            "that would leave nobody who approves refunds and voids: add another manager first",
            {"problems": [f"staff: {leaving} is the last manager"]},
        )


# -- printers: where tickets and receipts print -------------------------------------------------------


def _put_in(live: LiveSetup, version: int | None, part: str, record: Printer | Desk) -> Decision:
    """``record`` added to (or replacing its like in) one of the restaurant's lists: printers, desks."""
    restaurant = live.restaurant
    _fresh(restaurant.version, version, "restaurant")
    records = _upsert(getattr(restaurant, part), record, _id)
    new = restaurant.model_copy(update={part: records, "version": restaurant.version + 1})
    return _profile_move(live, new, {f"{part[:-1]}_id": record.id})


def _remove_from(live: LiveSetup, version: int | None, part: str, record_id: str) -> Decision:
    restaurant = live.restaurant
    _fresh(restaurant.version, version, "restaurant")
    records = getattr(restaurant, part)
    if all(r.id != record_id for r in records):
        raise DomainError(ErrorCode.NOT_FOUND, f"no {part[:-1]} {record_id!r}")
    new = restaurant.model_copy(
        update={part: tuple(r for r in records if r.id != record_id), "version": restaurant.version + 1}
    )
    return _profile_move(live, new, {f"{part[:-1]}_id": record_id})


def put_printer(live: LiveSetup, cmd: c.PutPrinter) -> Decision:
    return _put_in(live, cmd.version, "printers", cmd.printer)


def remove_printer(live: LiveSetup, cmd: c.RemovePrinter) -> Decision:
    """A printer a station, desk or backup still names is refused (INVALID_SETUP) by the whole-setup check."""
    return _remove_from(live, cmd.version, "printers", cmd.printer_id)


def put_desk(live: LiveSetup, cmd: c.PutDesk) -> Decision:
    return _put_in(live, cmd.version, "desks", cmd.desk)


def remove_desk(live: LiveSetup, cmd: c.RemoveDesk) -> Decision:
    return _remove_from(live, cmd.version, "desks", cmd.desk_id)
