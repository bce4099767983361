"""Printer health, decided without I/O: what the print agents read from the printers, kept and told on change.

A print agent reads each of its printers' real-time status (DLE EOT) and says ``print.status`` when
what it read changed. The hub keeps one :class:`PrinterHealth` per printer and tells expo, the
manager and the print agents (PRINTER_STATUS) only when the state or its detail moved: a report
the hub already has is answered and changes nothing, so an agent that says it again (a resent
command, a reconnect) never makes an event. When no agent is left to say (the last socket of the
agent that reported a printer closed), the printer is UNKNOWN: nobody can tell whether it prints.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fireflow.hub.domain.actors import Actor
from fireflow.hub.domain.decision import Decision, Event
from fireflow.hub.domain.errors import DomainError
from fireflow.schema import commands as c
from fireflow.schema import events as e
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.records import Printer, PrinterHealth, PrinterState

__all__ = ["HEALTH_CHANNELS", "NEVER_TOLD", "NO_AGENT", "agent_gone", "health_of", "report"]

HEALTH_CHANNELS = ("expo", "manager", "printing")
NO_AGENT = "no print agent connected"
NEVER_TOLD = "no print agent has reported it yet"


def _told(health: PrinterHealth) -> Event:
    return Event("PRINTER_STATUS", HEALTH_CHANNELS, e.PrinterStatus(health=health))


def _moved(current: PrinterHealth | None, printer: str, *, now: int, **changes: Any) -> PrinterHealth:
    """``current`` (or a first record of ``printer``) with ``changes``, its version moved on; ``since`` kept
    while the state stays (only the detail changed)."""
    base = current or PrinterHealth(printer=printer)
    since = base.since if current is not None and changes.get("state") is current.state else now
    return base.model_copy(update={**changes, "at": now, "since": since, "version": base.version + 1})


def report(
    printers: Sequence[Printer], current: PrinterHealth | None, actor: Actor, cmd: c.ReportPrinterStatus, now: int
) -> Decision:
    """A print agent's reading of one printer: stored and told when it differs from the hub's, else nothing."""
    printer = next((p for p in printers if p.id == cmd.printer_id), None)
    if printer is None:
        raise DomainError(
            ErrorCode.NOT_FOUND,
            f"no printer {cmd.printer_id!r} in this restaurant's setup",
            {"printer_id": cmd.printer_id},
        )
    if current is not None and current.state is cmd.state and current.detail == cmd.detail:
        shown = current.model_copy(update={"name": printer.name})
        return Decision(result={"health": shown.model_dump(mode="json"), "changed": False})
    health = _moved(
        current, printer.id, now=now, name=printer.name, state=cmd.state, detail=cmd.detail, agent=actor.device_id
    )
    return Decision(
        result={"health": health.model_dump(mode="json"), "changed": True},
        printer_health=(health,),
        events=(_told(health),),
    )


def agent_gone(health: Iterable[PrinterHealth], agent: str, now: int) -> Decision:
    """``agent`` has no socket left: every printer it was the last to report on is UNKNOWN (told once)."""
    gone = tuple(
        _moved(h, h.printer, now=now, state=PrinterState.UNKNOWN, detail=NO_AGENT)
        for h in sorted(health, key=lambda h: h.printer)
        if h.agent == agent and h.state is not PrinterState.UNKNOWN
    )
    return Decision(
        result={"agent": agent, "printers": [h.printer for h in gone]},
        printer_health=gone,
        events=tuple(_told(h) for h in gone),
    )


def health_of(printers: Sequence[Printer], stored: Mapping[str, PrinterHealth]) -> list[PrinterHealth]:
    """Every printer of the setup, in its order, with what the hub was told of it (UNKNOWN if nothing yet).

    The name is the setup's as it is now; a printer taken out of the setup is left out.
    """
    found = []
    for printer in printers:
        known = stored.get(printer.id)
        if known is None:
            known = PrinterHealth(printer=printer.id, detail=NEVER_TOLD)
        found.append(known.model_copy(update={"name": printer.name}))
    return found
