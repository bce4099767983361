"""The handlers of the setup commands: load the whole setup, let ``fireflow.hub.domain.setup`` decide.

A setup command is rare and reads the restaurant (fresh, not the node's
cached copy), the menu and the tables in one go; the commit then checks the
versions of what it changes, so two managers editing at once never lose an edit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fireflow.hub.commands.context import Context, Handler
from fireflow.hub.domain import setup
from fireflow.hub.domain.actors import ALL_STATIONS
from fireflow.hub.domain.decision import Decision, Event
from fireflow.hub.domain.errors import DomainError
from fireflow.schema import commands as payloads
from fireflow.schema import events as e
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.records import Menu
from fireflow.schema.setup import Device, PairDevice, PutStaff, RevokeDevice

__all__ = [
    "pair_device",
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
    "revoke_device",
    "update_billing",
    "update_profile",
]


async def _live(ctx: Context) -> setup.LiveSetup:
    restaurant = await ctx.store.restaurant(ctx.rid, fresh=True)
    if restaurant is None:
        raise DomainError(ErrorCode.NOT_FOUND, "this restaurant is not set up")
    menu = await ctx.store.menu(ctx.rid) or Menu(stations=(), items=())
    staff = tuple(await ctx.store.staff(ctx.rid))
    pinned = frozenset(await ctx.store.pin_hashes(ctx.rid))
    return setup.LiveSetup(restaurant, menu, tuple(await ctx.store.tables(ctx.rid)), staff, pinned)


_C = TypeVar("_C", bound=payloads.Command)


def _on(decide: Callable[[setup.LiveSetup, _C], Decision]) -> Handler:
    """The handler that loads the setup and hands it, with the command, to ``decide``."""

    async def handler(ctx: Context) -> Decision:
        return decide(await _live(ctx), ctx.command)

    handler.__name__ = decide.__name__
    return handler


put_item = _on(setup.put_item)
remove_item = _on(setup.remove_item)
put_category = _on(setup.put_category)
remove_category = _on(setup.remove_category)
put_station = _on(setup.put_station)
remove_station = _on(setup.remove_station)
put_area = _on(setup.put_area)
remove_area = _on(setup.remove_area)
put_table = _on(setup.put_table)
remove_table = _on(setup.remove_table)
update_billing = _on(setup.update_billing)
remove_staff = _on(setup.remove_staff)
put_printer = _on(setup.put_printer)
remove_printer = _on(setup.remove_printer)
put_desk = _on(setup.put_desk)
remove_desk = _on(setup.remove_desk)


async def put_staff(ctx: Context) -> Decision:
    """The PIN is hashed here (argon2, off the event loop), before the pure decision."""
    cmd: PutStaff = ctx.command
    live = await _live(ctx)
    hashed = None
    if cmd.pin is not None:
        if ctx.pins is None:
            raise DomainError(ErrorCode.UNAVAILABLE, "PINs cannot be set here")
        hashed = await ctx.pins.hash(cmd.pin)
    return setup.put_staff(live, cmd, hashed)


async def update_profile(ctx: Context) -> Decision:
    cmd: payloads.UpdateProfile = ctx.command
    if cmd.timezone is not None:
        try:
            ZoneInfo(cmd.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise DomainError(
                ErrorCode.INVALID_SETUP, f"unknown time zone {cmd.timezone!r} (e.g. Asia/Kolkata, UTC)"
            ) from None
    return setup.update_profile(await _live(ctx), cmd)


async def pair_device(ctx: Context) -> Decision:
    """A device record and a pairing code; pairing a known device again moves its token generation on."""
    cmd: PairDevice = ctx.command
    if ctx.devices is None:
        raise DomainError(ErrorCode.UNAVAILABLE, "devices cannot be paired here")
    stations = set((await _live(ctx)).menu.stations)
    if cmd.role == "KITCHEN" and not cmd.stations:
        raise DomainError(ErrorCode.INVALID_COMMAND, "a kitchen device needs its stations (e.g. grill)")
    if cmd.stations and cmd.role not in ("KITCHEN", "EXPO"):
        raise DomainError(ErrorCode.INVALID_COMMAND, f"a {cmd.role} device has no stations; leave them empty")
    unknown = sorted(set(cmd.stations) - stations - {ALL_STATIONS})
    if unknown:
        known = ", ".join(sorted(stations)) or "none yet"
        raise DomainError(
            ErrorCode.INVALID_SETUP,
            f"no station {unknown[0]!r} (stations: {known})",
            {"problems": [f"stations: no station {s!r}" for s in unknown]},
        )
    current = await ctx.devices.get(ctx.rid, cmd.device_id)
    generation = current.generation + 1 if current is not None else 0
    device = Device(
        id=cmd.device_id,
        role=cmd.role,
        stations=cmd.stations,
        name=cmd.name,
        generation=generation,
        added_at=ctx.now,
        added_by=ctx.actor.device_id,
    )
    code, expires_at = await ctx.devices.offer(ctx.rid, device)
    event = Event("DEVICE_CHANGED", ("manager",), e.DeviceChanged(device=device))
    result = {"device_id": device.id, "code": f"{code[:3]}-{code[3:]}", "expires_at": expires_at}
    return Decision(result=result, events=(event,))


async def revoke_device(ctx: Context) -> Decision:
    cmd: RevokeDevice = ctx.command
    if ctx.devices is None:
        raise DomainError(ErrorCode.UNAVAILABLE, "devices cannot be revoked here")
    current = await ctx.devices.get(ctx.rid, cmd.device_id) or Device(id=cmd.device_id)
    revoked = current.model_copy(
        update={"generation": current.generation + 1, "revoked_at": ctx.now, "revoked_by": ctx.actor.device_id}
    )
    await ctx.devices.revoke(ctx.rid, revoked)
    event = Event("DEVICE_CHANGED", ("manager",), e.DeviceChanged(device=revoked))
    return Decision(result={"device_id": revoked.id, "revoked_at": ctx.now}, events=(event,))
