"""Setup files in and out: read and check a restaurant file or a menu CSV, import it, export a restaurant.

What is wrong with a file is said as ``path: what is wrong``, one line per
mistake and all of them at once (``SetupRefused.lines``), and nothing is
written until the whole file is right. The rules of a whole setup are the
domain's (``fireflow.hub.domain.setup``); here are the file formats, the time
zone (which needs the system's zone database) and the live state an import
must not break: a table that is in use is not removed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from pydantic import ValidationError

from fireflow.hub.commands.pins import Pins
from fireflow.hub.domain.money import minor_digits
from fireflow.hub.domain.setup import LiveSetup, from_live, problems, to_live
from fireflow.hub.live.store import Store
from fireflow.schema.records import Menu, MenuItem
from fireflow.schema.setup import MENU_COLUMNS, RestaurantSetup, StaffMember

__all__ = ["SetupRefused", "export_setup", "import_setup", "read_menu_csv", "read_setup", "write_setup"]

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "y"}
_FALSE = {"0", "false", "no", "n", ""}


class SetupRefused(Exception):
    """A setup that cannot be used, with every reason as ``path: what is wrong``."""

    def __init__(self, lines: Sequence[str]) -> None:
        super().__init__("; ".join(lines))
        self.lines = list(lines)


def _where(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "file"


def _validation_lines(exc: ValidationError, prefix: str = "") -> list[str]:
    return [f"{prefix}{_where(e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)]


def check(setup: RestaurantSetup) -> RestaurantSetup:
    """``setup`` if it is whole, else ``SetupRefused`` with every mistake."""
    found = problems(setup)
    try:
        ZoneInfo(setup.profile.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        found.insert(0, f"profile.timezone: unknown time zone {setup.profile.timezone!r} (e.g. Asia/Kolkata, UTC)")
    if found:
        raise SetupRefused(found)
    return setup


def parse_setup(raw: bytes | str) -> RestaurantSetup:
    """A setup file's text, parsed and checked."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise SetupRefused([f"file: not JSON ({exc})"]) from None
    try:
        return check(RestaurantSetup.model_validate(data))
    except ValidationError as exc:
        raise SetupRefused(_validation_lines(exc)) from None


def read_setup(path: Path) -> RestaurantSetup:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SetupRefused([f"{path}: cannot read ({exc.strerror})"]) from None
    return parse_setup(raw)


def write_setup(setup: RestaurantSetup) -> bytes:
    """The file's text: indented, keys in the models' order, so a diff of two exports reads well."""
    return orjson.dumps(setup.model_dump(mode="json"), option=orjson.OPT_INDENT_2) + b"\n"


def _price(text: str, digits: int) -> int:
    """``349.00`` in major units to minor units, exactly; more decimals than the currency has is refused."""
    try:
        amount = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"price {text!r} is not a number") from None
    minor = amount.scaleb(digits)
    if minor != minor.to_integral_value() or not amount.is_finite():
        raise ValueError(f"price {text!r} has more than {digits} decimals")
    return int(minor)


def _course(text: str) -> int:
    if not text.isdigit():
        raise ValueError(f"default_course {text!r} is not a whole number")
    return int(text)


def _flag(text: str, default: bool) -> bool:
    value = text.strip().lower()
    if not value:
        return default
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise ValueError(f"{text!r} is not yes or no")


def read_menu_csv(
    text: str, currency: str, own_digits: int | None = None, *, against: RestaurantSetup | None = None
) -> tuple[MenuItem, ...]:
    """A menu from CSV (header row; ``MENU_COLUMNS``; prices in major units, ``349.00``); modifiers are the file's.

    Every mistake of every row is listed at once, each with its line: a bad price does not hide a missing name, and
    with ``against`` (the setup the menu is for) a station, tax code or category it does not have is named there too,
    not in a second round as ``menu[n]`` once the rest is fixed."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("id", "name", "price", "station") if c not in (reader.fieldnames or ())]
    if missing:
        raise SetupRefused([f"menu.csv: missing column(s) {', '.join(missing)} (columns: {', '.join(MENU_COLUMNS)})"])
    unknown = [c for c in reader.fieldnames or () if c not in MENU_COLUMNS]
    if unknown:
        raise SetupRefused([f"menu.csv: unknown column(s) {', '.join(unknown)} (columns: {', '.join(MENU_COLUMNS)})"])
    digits = minor_digits(currency, own_digits)
    items: list[MenuItem] = []
    lines: list[str] = []
    for n, row in enumerate(reader, start=2):  # line 1 is the header
        fields, wrong = _row(row, digits, "" if against and against.billing.taxes else "STD")
        try:
            item = MenuItem.model_validate(fields)
        except ValidationError as exc:
            wrong += _validation_lines(exc)
        else:
            items.append(item)
        if against is not None:
            wrong += _references(fields, against)
        lines += [f"menu.csv line {n}: {what}" for what in wrong]
    if lines:
        raise SetupRefused(lines)
    return tuple(items)


def _row(row: dict[str, str], digits: int, no_tax: str) -> tuple[dict[str, Any], list[str]]:
    """A CSV row's fields, each read on its own: what could not be read is listed and a stand-in kept, so the model
    still says what else is wrong with the row."""
    wrong: list[str] = []

    def read(parse: Callable[[str], T], text: str, fallback: T) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            wrong.append(str(exc))
            return fallback

    course = (row.get("default_course") or "").strip()
    fields = {
        "id": row["id"].strip(),
        "name": row["name"].strip(),
        "price": read(lambda text: _price(text, digits), row["price"], 0),
        "station": row["station"].strip(),
        "category": (row.get("category") or "").strip(),
        "tax_code": (row.get("tax_code") or "").strip() or no_tax,
        "requires_prep": read(lambda text: _flag(text, True), row.get("requires_prep") or "", True),
        "available": read(lambda text: _flag(text, True), row.get("available") or "", True),
        "default_course": read(_course, course, 1) if course else 1,
    }
    return fields, wrong


def _references(fields: dict[str, Any], setup: RestaurantSetup) -> list[str]:
    """What a menu row names that ``setup`` does not have (``hub/domain/setup.py`` checks the same of a whole menu)."""
    found: list[str] = []
    stations = sorted(s.id for s in setup.stations)
    if fields["station"] and fields["station"] not in stations:
        found.append(f"station: no station {fields['station']!r} (stations: {', '.join(stations)})")
    taxes = sorted(t.code for t in setup.billing.taxes)
    if taxes and fields["tax_code"] not in taxes:
        given = f"no tax code {fields['tax_code']!r}" if fields["tax_code"] else "none given"
        found.append(f"tax_code: {given} (codes: {', '.join(taxes)})")
    categories = {c.id for c in setup.categories}
    if fields["category"] and fields["category"] not in categories:
        found.append(f"category: no category {fields['category']!r}")
    return found


def with_menu(setup: RestaurantSetup, menu: tuple[MenuItem, ...]) -> RestaurantSetup:
    """``setup`` with its menu replaced (keeping the modifiers of items the CSV names again), checked."""
    modifiers = {item.id: item.modifiers for item in setup.menu}
    items = tuple(item.model_copy(update={"modifiers": modifiers.get(item.id, ())}) for item in menu)
    return check(setup.model_copy(update={"menu": items}))


async def export_setup(store: Store, rid: str) -> RestaurantSetup | None:
    restaurant = await store.restaurant(rid, fresh=True)
    if restaurant is None:
        return None
    menu = await store.menu(rid)
    staff = {s.id: s for s in await store.staff(rid)}
    hashes = await store.pin_hashes(rid)
    people = []
    for person_id in sorted(staff.keys() | hashes.keys()):
        person = staff.get(person_id)
        if person is None:  # a PIN set by manager.set_pin for someone the setup does not list
            person = StaffMember(id=person_id, name=person_id)
        people.append(person.model_copy(update={"pin": None, "pin_hash": hashes.get(person_id)}))
    return from_live(restaurant, menu or Menu(stations=(), items=()), await store.tables(rid), people)


async def import_setup(store: Store, pins: Pins, setup: RestaurantSetup, *, create: bool = False) -> LiveSetup:
    """Write ``setup`` (checked) as its restaurant's whole setup; ``create`` refuses one that exists.

    Versions move on from the stored ones, so every terminal's copy is seen as stale; a staff member
    with neither ``pin`` nor ``pin_hash`` keeps the PIN they have.
    """
    check(setup)
    rid = setup.profile.id
    current = await store.restaurant(rid, fresh=True)
    if create and current is not None:
        raise SetupRefused(
            [f"profile.id: restaurant {rid!r} exists already (import replaces a setup; create does not)"]
        )
    menu = await store.menu(rid)
    live = to_live(
        setup,
        restaurant_version=current.version + 1 if current else 0,
        menu_version=menu.version + 1 if menu else 0,
    )
    stored = await store.pin_hashes(rid)
    hashes: dict[str, str] = {}
    for person in setup.staff:
        if person.pin is not None:
            hashes[person.id] = await pins.hash(person.pin)
        elif person.pin_hash is not None:
            hashes[person.id] = person.pin_hash
        elif person.id in stored:
            hashes[person.id] = stored[person.id]
    people = tuple(p.model_copy(update={"pin": None, "pin_hash": None}) for p in setup.staff)
    live = LiveSetup(live.restaurant, live.menu, live.tables, people)
    in_use = await store.put_setup(live, hashes)
    if in_use:
        raise SetupRefused([f"tables: {', '.join(in_use)} in use; settle or move their orders before removing them"])
    return live
