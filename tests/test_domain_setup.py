"""A restaurant's setup without servers: every mistake named by its path, and file <-> live records losslessly."""

from __future__ import annotations

from typing import Any

import pytest

from fireflow.hub.domain import setup
from fireflow.hub.domain.errors import DomainError
from fireflow.hub.domain.setup import LiveSetup, from_live, problems, to_live
from fireflow.hub.run.demo import demo_setup
from fireflow.hub.run.setup_files import SetupRefused, parse_setup, read_menu_csv, write_setup
from fireflow.schema import commands as c
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.records import (
    Area,
    Category,
    Desk,
    ModifierGroup,
    ModifierOption,
    Printer,
    Routing,
    StationSettings,
    TableStatus,
)
from fireflow.schema.setup import RestaurantSetup, StaffMember, TablePlace


def _demo_without_pins() -> RestaurantSetup:
    setup = demo_setup()
    return setup.model_copy(update={"staff": tuple(p.model_copy(update={"pin": None}) for p in setup.staff)})


def test_the_demo_file_is_a_whole_setup() -> None:
    """The demo restaurant is a setup file with nothing wrong: 4 stations, 13 items, 12 tables in 2 areas."""
    setup = demo_setup()
    assert problems(setup) == []
    assert [s.id for s in setup.stations] == ["grill", "fry", "cold", "bar"]
    assert (len(setup.menu), len(setup.tables), len(setup.areas)) == (13, 12, 2)
    ribeye = next(item for item in setup.menu if item.id == "ribeye")
    assert [g.id for g in ribeye.modifiers if g.required] == ["doneness"]


def test_live_records_give_back_the_same_setup_field_by_field() -> None:
    """to_live then from_live is the identity on a setup (tables in natural order T2 < T10)."""
    setup = _demo_without_pins()
    live = to_live(setup)
    assert live.restaurant.kitchen.station("*").warn_after_s == setup.kitchen.expo_warn_after_s
    assert from_live(live.restaurant, live.menu, list(reversed(live.tables)), live.staff) == setup


def test_every_mistake_is_named_by_its_path_at_once() -> None:
    """Typos in a station, tax code, category and area, twice-used ids and a bad modifier: one line each."""
    setup = demo_setup()
    menu = list(setup.menu)
    menu[0] = menu[0].model_copy(update={"station": "grll", "tax_code": "GST7", "category": "mian"})
    bad_group = ModifierGroup(id="size", name="Size", max_choices=3, options=(ModifierOption(id="s", name="S"),))
    menu[1] = menu[1].model_copy(update={"modifiers": (bad_group, bad_group)})
    menu.append(menu[2])
    tables = (*setup.tables, TablePlace(id="T1", name="Again", area="roof"))
    wrong = setup.model_copy(update={"menu": tuple(menu), "tables": tables})
    found = problems(wrong)
    assert found == [
        "menu[13].id: 'paneer-tikka' is used twice",
        "tables[12].id: 'T1' is used twice",
        "menu[0].station: no station 'grll' (stations: bar, cold, fry, grill)",
        "menu[0].tax_code: no tax code 'GST7' (codes: GST18, GST5)",
        "menu[0].category: no category 'mian'",
        "menu[1].modifiers[1].id: 'size' is used twice",
        "menu[1].modifiers[0].max_choices: 3 but only 1 options",
        "menu[1].modifiers[1].max_choices: 3 but only 1 options",
        "tables[12].area: no area 'roof'",
    ]


def test_a_currency_exponent_that_contradicts_iso_4217_is_refused() -> None:
    """JPY has no minor unit: a file saying 2 is wrong; an unlisted currency may set its own."""
    setup = demo_setup()
    jpy = setup.model_copy(update={"profile": setup.profile.model_copy(update={"currency": "JPY", "minor_digits": 2})})
    assert problems(jpy) == ["profile.minor_digits: JPY has 0 minor digits, not 2"]
    own = setup.model_copy(update={"profile": setup.profile.model_copy(update={"currency": "XTS", "minor_digits": 3})})
    assert problems(own) == []


def test_station_timings_must_go_warn_then_late_and_star_is_not_a_station() -> None:
    setup = demo_setup()
    stations = (setup.stations[0].model_copy(update={"id": "*", "late_after_s": 10, "warn_after_s": 20}),)
    found = problems(setup.model_copy(update={"stations": (*stations, *setup.stations[1:])}))
    assert "stations[0].id: '*' means every station; name the station" in found
    assert "stations[0].late_after_s: must be after warn_after_s (20 s)" in found


def test_a_file_that_is_not_a_setup_is_refused_with_paths() -> None:
    """Not JSON, a wrong format tag, a negative price, an unknown field, a bad time zone: paths, not tracebacks."""
    with pytest.raises(SetupRefused) as err:
        parse_setup(b"{not json")
    assert err.value.lines[0].startswith("file: not JSON")
    raw = write_setup(demo_setup()).decode()
    broken = raw.replace('"fireflow-restaurant/1"', '"fireflow-restaurant/9"').replace('"price": 34900', '"price": -1')
    with pytest.raises(SetupRefused) as err:
        parse_setup(broken.replace('"seats": 2', '"seets": 2', 1))
    assert any(line.startswith("format: ") for line in err.value.lines)
    assert any(line.startswith("menu[0].price: ") for line in err.value.lines)
    assert any(line.startswith("tables[0].seets: ") for line in err.value.lines)
    with pytest.raises(SetupRefused) as err:
        parse_setup(raw.replace('"timezone": "UTC"', '"timezone": "Mars/Olympus"'))
    assert err.value.lines == ["profile.timezone: unknown time zone 'Mars/Olympus' (e.g. Asia/Kolkata, UTC)"]


def test_a_staff_member_gives_a_pin_or_its_hash_never_both() -> None:
    with pytest.raises(ValueError, match="pin or pin_hash"):
        StaffMember(id="m", name="M", pin="1234", pin_hash="$argon2id$...")
    with pytest.raises(ValueError):
        StaffMember(id="m", name="M", pin="12")  # four digits at least


def test_a_menu_csv_reads_prices_in_major_units_exactly() -> None:
    """349.5 is 34950 paise; 0 decimals for JPY; a bad row names its line and column, the others are not lost."""
    text = "id,name,price,station,category,tax_code,requires_prep\nburger,Burger,349.5,grill,mains,GST5,yes\n"
    text += "water,Water,49,bar,drinks,GST18,no\n"
    items = read_menu_csv(text, "INR")
    assert [(i.id, i.price, i.requires_prep) for i in items] == [("burger", 34950, True), ("water", 4900, False)]
    assert read_menu_csv("id,name,price,station\nramen,Ramen,980,noodle\n", "JPY")[0].price == 980
    with pytest.raises(SetupRefused) as err:
        read_menu_csv("id,name,price,station\na,A,1.234,grill\nb,B,abc,grill\nc,,1,grill\n", "INR")
    assert err.value.lines[0] == "menu.csv line 2: price '1.234' has more than 2 decimals"
    assert err.value.lines[1] == "menu.csv line 3: price 'abc' is not a number"
    assert err.value.lines[2].startswith("menu.csv line 4: name: ")
    with pytest.raises(SetupRefused) as err:  # every mistake of a row at once, and what the setup lacks, by line
        bad = "id,name,price,station,category,default_course\nbad,Bad,12.345,grill,mains,1\nworse,,abc,nowhere,,x\n"
        read_menu_csv(bad, "INR", against=_demo_without_pins())
    assert err.value.lines[0] == "menu.csv line 2: price '12.345' has more than 2 decimals"
    worse = [line for line in err.value.lines if line.startswith("menu.csv line 3: ")]
    assert any("price 'abc'" in line for line in worse) and any("default_course 'x'" in line for line in worse)
    assert any(": name: " in line for line in worse) and any("no station 'nowhere'" in line for line in worse)
    assert any("tax_code: none given (codes: " in line for line in worse), worse
    assert not any("'STD'" in line for line in err.value.lines)  # no code the file never gave
    with pytest.raises(SetupRefused, match="missing column"):
        read_menu_csv("id,name,station\n", "INR")
    with pytest.raises(SetupRefused, match="unknown column"):
        read_menu_csv("id,name,price,station,colour\n", "INR")


def _live() -> LiveSetup:
    return to_live(_demo_without_pins())


def _refused(code: ErrorCode, decide: Any) -> DomainError:
    with pytest.raises(DomainError) as err:
        decide()
    assert err.value.code is code, err.value.message
    return err.value


def test_setup_commands_decide_without_servers() -> None:
    """Each setup change: the new part with its version moved on, the event to tell, or the refusal and why."""
    live = _live()
    burger = live.menu.item("burger")
    assert burger is not None
    cheaper = setup.put_item(live, c.PutMenuItem(item=burger.model_copy(update={"price": 29900}), version=0))
    assert cheaper.menu is not None and cheaper.menu.version == 1 and cheaper.menu.item("burger").price == 29900  # type: ignore[union-attr]
    assert [e.type for e in cheaper.events] == ["MENU_CHANGED"] and cheaper.result["menu_version"] == 1
    conflict = _refused(ErrorCode.VERSION_CONFLICT, lambda: setup.put_item(live, c.PutMenuItem(item=burger, version=7)))
    assert conflict.details == {"version": 0}
    broken = _refused(ErrorCode.INVALID_SETUP, lambda: setup.remove_station(live, c.RemoveStation(station_id="bar")))
    assert len(broken.details["problems"]) == 4  # type: ignore[index]  # mojito, lassi, water, soda
    _refused(ErrorCode.NOT_FOUND, lambda: setup.remove_item(live, c.RemoveMenuItem(menu_item_id="nope")))
    _refused(ErrorCode.NOT_FOUND, lambda: setup.remove_category(live, c.RemoveCategory(category_id="nope")))
    gone = setup.remove_item(live, c.RemoveMenuItem(menu_item_id="soda"))
    assert gone.menu is not None and gone.menu.item("soda") is None and gone.events[0].data.removed == ("soda",)  # type: ignore[attr-defined]
    first = setup.put_category(live, c.PutCategory(category=Category(id="specials", name="Specials"), position=0))
    assert first.menu is not None and first.menu.categories[0].id == "specials"
    _refused(ErrorCode.INVALID_SETUP, lambda: setup.remove_category(live, c.RemoveCategory(category_id="mains")))
    tandoor = StationSettings(id="tandoor", name="Tandoor", colour="#c92a2a", warn_after_s=60, late_after_s=120)
    added = setup.put_station(live, c.PutStation(station=tandoor))
    assert added.menu is not None and added.menu.stations[-1] == "tandoor" and added.restaurant is not None
    assert [e.type for e in added.events] == ["MENU_CHANGED", "KITCHEN_SETTINGS_CHANGED"]
    late_first = tandoor.model_copy(update={"late_after_s": 30})
    _refused(ErrorCode.INVALID_SETUP, lambda: setup.put_station(live, c.PutStation(station=late_first)))
    _refused(
        ErrorCode.INVALID_SETUP,
        lambda: setup.put_station(live, c.PutStation(station=tandoor.model_copy(update={"id": "*"}))),
    )


def test_floor_and_profile_commands_decide_without_servers() -> None:
    live = _live()
    bar = setup.put_area(live, c.PutArea(area=Area(id="bar", name="Bar")))
    assert bar.restaurant is not None and [a.id for a in bar.restaurant.areas] == ["main", "terrace", "bar"]
    _refused(ErrorCode.INVALID_SETUP, lambda: setup.remove_area(live, c.RemoveArea(area_id="main")))
    moved = setup.put_table(live, c.PutTable(table_id="T1", name="Window", seats=2, area="terrace", x=10, y=20))
    (table,) = moved.tables
    assert (table.name, table.area, table.version) == ("Window", "terrace", 1)
    new = setup.put_table(live, c.PutTable(table_id="T99", name="Patio", area="terrace"))
    assert new.tables[0].version == 1 and new.result["tables"] == ["T99"]
    _refused(ErrorCode.INVALID_SETUP, lambda: setup.put_table(live, c.PutTable(table_id="T98", name="X", area="roof")))
    busy = live.tables[1].model_copy(update={"status": TableStatus.OCCUPIED, "order_id": "o1"})
    occupied = LiveSetup(live.restaurant, live.menu, (live.tables[0], busy, *live.tables[2:]), ())
    _refused(ErrorCode.INVALID_STATE, lambda: setup.remove_table(occupied, c.RemoveTable(table_id=busy.id)))
    dropped = setup.remove_table(live, c.RemoveTable(table_id="T12"))
    assert [t.id for t in dropped.dropped_tables] == ["T12"] and dropped.events[0].data.removed == ("T12",)  # type: ignore[attr-defined]
    renamed = setup.update_profile(live, c.UpdateProfile(name="Renamed", version=0))
    assert renamed.restaurant is not None and renamed.restaurant.name == "Renamed" and renamed.restaurant.version == 1
    billing = live.restaurant.billing
    no_gst18 = billing.model_copy(update={"taxes": billing.taxes[:1]})
    refused = _refused(ErrorCode.INVALID_SETUP, lambda: setup.update_billing(live, c.UpdateBilling(billing=no_gst18)))
    assert all("GST18" in p for p in refused.details["problems"])  # type: ignore[index]


def test_printers_are_named_where_they_are_used_and_a_backup_chain_ends() -> None:
    """A station or desk naming no printer, PRINT without one, a backup that is missing or loops back: refused."""
    base = _demo_without_pins()
    kitchen = Printer(id="kitchen", host="10.0.0.21", backup="pass")
    passe = Printer(id="pass", host="10.0.0.22", columns=32)
    grill = base.stations[0].model_copy(update={"routing": Routing.BOTH, "printer": "kitchen"})
    whole = base.model_copy(
        update={"printers": (kitchen, passe), "stations": (grill, *base.stations[1:]),
                "desks": (Desk(id="cashier-1", name="Front", printer="pass"),)}
    )  # fmt: skip
    assert problems(whole) == []
    live = to_live(whole)
    assert from_live(live.restaurant, live.menu, live.tables, live.staff) == whole  # printers and desks kept
    looped = whole.model_copy(update={"printers": (kitchen, passe.model_copy(update={"backup": "kitchen"}))})
    assert problems(looped) == [
        "printers[0].backup: the backups of 'kitchen' come back to it",
        "printers[1].backup: the backups of 'pass' come back to it",
    ]
    fry = base.stations[1].model_copy(update={"routing": Routing.PRINT})
    broken = whole.model_copy(
        update={"printers": (kitchen.model_copy(update={"backup": "gone"}),), "stations": (grill, fry, *base.stations[2:]),
                "desks": (Desk(id="cashier-1", printer="pass"),)}
    )  # fmt: skip
    assert problems(broken) == [
        "stations[1].printer: PRINT needs a printer",
        "printers[0].backup: no printer 'gone'",
        "desks[0].printer: no printer 'pass'",
    ]


def test_printer_and_desk_commands_decide_without_servers() -> None:
    """Added with the restaurant's version moved on and PROFILE_CHANGED; one in use cannot be removed."""
    live = _live()
    printer = Printer(id="kitchen", host="10.0.0.21")
    added = setup.put_printer(live, c.PutPrinter(printer=printer, version=0))
    assert added.restaurant is not None and added.restaurant.printers == (printer,)
    assert (
        added.result == {"restaurant_version": 1, "printer_id": "kitchen"} and added.events[0].type == "PROFILE_CHANGED"
    )
    with_printer = LiveSetup(added.restaurant, live.menu, live.tables, ())
    desk = setup.put_desk(with_printer, c.PutDesk(desk=Desk(id="cashier-1", printer="kitchen")))
    assert desk.restaurant is not None and desk.restaurant.desks[0].printer == "kitchen"
    in_use = LiveSetup(desk.restaurant, live.menu, live.tables, ())
    refused = _refused(
        ErrorCode.INVALID_SETUP, lambda: setup.remove_printer(in_use, c.RemovePrinter(printer_id="kitchen"))
    )
    assert refused.details == {"problems": ["desks[0].printer: no printer 'kitchen'"]}
    nowhere = Desk(id="cashier-2", printer="nope")
    _refused(ErrorCode.INVALID_SETUP, lambda: setup.put_desk(in_use, c.PutDesk(desk=nowhere)))
    _refused(ErrorCode.NOT_FOUND, lambda: setup.remove_desk(in_use, c.RemoveDesk(desk_id="cashier-9")))
    _refused(ErrorCode.VERSION_CONFLICT, lambda: setup.put_printer(in_use, c.PutPrinter(printer=printer, version=0)))
    gone = setup.remove_desk(in_use, c.RemoveDesk(desk_id="cashier-1"))
    assert gone.restaurant is not None and gone.restaurant.desks == ()
