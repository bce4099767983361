"""Printer health without servers: a report stored and told only when it changes, UNKNOWN when its agent left."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from fireflow.hub.domain import printer_health
from fireflow.hub.domain.actors import Actor, Role
from fireflow.hub.domain.decision import Decision
from fireflow.hub.domain.errors import DomainError
from fireflow.hub.domain.views import LiveState, channel_view, needs
from fireflow.schema import commands as c
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.records import Printer, PrinterHealth, PrinterState, Restaurant

AGENT = Actor("demo", Role.PRINTER, "print-agent-1")
OTHER = Actor("demo", Role.PRINTER, "print-agent-2")
PRINTERS = (Printer(id="kitchen", name="Grill", host="10.0.0.21"), Printer(id="pass", name="Pass", host="10.0.0.22"))
NOW = 1_700_000_000_000
READABLE = [s for s in PrinterState if s is not PrinterState.UNKNOWN]


def _say(
    current: PrinterHealth | None,
    state: PrinterState,
    detail: str = "",
    *,
    at: int = NOW,
    actor: Actor = AGENT,
    printer: str = "kitchen",
) -> Decision:
    cmd = c.ReportPrinterStatus(printer_id=printer, state=state, detail=detail)
    return printer_health.report(PRINTERS, current, actor, cmd, at)


def _stored(decision: Decision) -> PrinterHealth:
    (health,) = decision.printer_health
    return health


def test_a_first_report_is_stored_and_told_to_expo_the_manager_and_the_agents() -> None:
    """The first word on a printer: version 1, since now, by the agent, with the setup's name; PRINTER_STATUS."""
    decision = _say(None, PrinterState.PAPER_OUT)
    health = _stored(decision)
    assert health == PrinterHealth(
        printer="kitchen",
        name="Grill",
        state=PrinterState.PAPER_OUT,
        agent="print-agent-1",
        at=NOW,
        since=NOW,
        version=1,
    )
    (event,) = decision.events
    assert (event.type, event.channels) == ("PRINTER_STATUS", ("expo", "manager", "printing"))
    assert event.data.health == health  # type: ignore[attr-defined]
    assert decision.result == {"health": health.model_dump(mode="json"), "changed": True}


def test_the_same_report_again_changes_nothing_and_is_answered() -> None:
    """Said again (a resend, a reconnect, another agent): no record, no event; the answer is the stored state."""
    health = _stored(_say(None, PrinterState.ONLINE))
    again = _say(health, PrinterState.ONLINE, at=NOW + 5_000, actor=OTHER)
    assert again.printer_health == () and again.events == ()
    assert again.result == {"health": health.model_dump(mode="json"), "changed": False}


def test_a_new_state_moves_since_and_a_new_detail_alone_keeps_it() -> None:
    """Offline at t1 then offline with a detail at t2: since stays t1; back online at t3: since t3."""
    off = _stored(_say(None, PrinterState.OFFLINE, at=NOW))
    why = _stored(_say(off, PrinterState.OFFLINE, "no answer", at=NOW + 1_000))
    assert (why.since, why.at, why.detail, why.version) == (NOW, NOW + 1_000, "no answer", 2)
    back = _stored(_say(why, PrinterState.ONLINE, at=NOW + 2_000, actor=OTHER))
    assert (back.state, back.since, back.detail, back.agent, back.version) == (
        PrinterState.ONLINE,
        NOW + 2_000,
        "",
        "print-agent-2",
        3,
    )


def test_a_printer_not_in_the_setup_is_not_found_by_name() -> None:
    """A report of a printer the restaurant does not have: NOT_FOUND naming it, nothing stored."""
    with pytest.raises(DomainError) as refused:
        _say(None, PrinterState.ONLINE, printer="bar")
    assert refused.value.code is ErrorCode.NOT_FOUND
    assert "no printer 'bar'" in refused.value.message and refused.value.details == {"printer_id": "bar"}


@pytest.mark.parametrize(
    "data",
    [
        {"printer_id": "kitchen", "state": "ON_FIRE"},
        {"printer_id": "kitchen", "state": "UNKNOWN"},
        {"printer_id": "kitchen", "state": "ONLINE", "detail": "x" * 201},
        {"printer_id": "kitchen no spaces", "state": "ONLINE"},
        {"printer_id": "kitchen"},
        {"printer_id": "kitchen", "state": "ONLINE", "agent": "someone-else"},
    ],
)
def test_a_bad_report_is_refused_by_its_model(data: dict[str, object]) -> None:
    """A state that is none of the printer's (UNKNOWN is the hub's own word), a detail too long, a bad id,
    a missing state, an extra field: the payload model refuses it."""
    with pytest.raises(ValidationError):
        c.ReportPrinterStatus.model_validate(data)


def test_an_agent_gone_makes_its_printers_unknown_and_no_others() -> None:
    """The agent that last told the kitchen printer leaves: kitchen UNKNOWN (told once); pass, told by another, stays."""
    kitchen = _stored(_say(None, PrinterState.ONLINE))
    passes = _stored(_say(None, PrinterState.COVER_OPEN, printer="pass", actor=OTHER))
    gone = printer_health.agent_gone([passes, kitchen], "print-agent-1", NOW + 9_000)
    (health,) = gone.printer_health
    assert (health.printer, health.state, health.detail, health.since, health.version) == (
        "kitchen",
        PrinterState.UNKNOWN,
        printer_health.NO_AGENT,
        NOW + 9_000,
        2,
    )
    assert [e.type for e in gone.events] == ["PRINTER_STATUS"] and gone.result["printers"] == ["kitchen"]
    again = printer_health.agent_gone([health, passes], "print-agent-1", NOW + 10_000)
    assert again.printer_health == () and again.events == ()


def test_the_snapshots_show_every_printer_with_its_health() -> None:
    """expo, manager and printing snapshots list each printer of the setup, in its order, with the stored state
    under the setup's name now; one never told is UNKNOWN; a printer out of the setup is left out."""
    told = _stored(_say(None, PrinterState.PAPER_OUT, printer="pass")).model_copy(update={"name": "old name"})
    gone = PrinterHealth(printer="bar", state=PrinterState.ONLINE, version=1)
    state = LiveState(
        now=NOW, restaurant=Restaurant(id="demo", name="Demo", printers=PRINTERS), printer_health=[gone, told]
    )
    for channel in ("expo", "manager", "printing"):
        assert "printer_health" in needs(channel)
        shown = channel_view(channel, state)["printer_health"]
        assert [(h["printer"], h["name"], h["state"]) for h in shown] == [
            ("kitchen", "Grill", "UNKNOWN"),
            ("pass", "Pass", "PAPER_OUT"),
        ]
        assert shown[0]["detail"] == printer_health.NEVER_TOLD
    assert "printer_health" not in needs("kitchen:grill") and "printer_health" not in channel_view("orders", state)


@given(st.lists(st.tuples(st.sampled_from(READABLE), st.sampled_from(["", "no answer", "paper low"])), max_size=30))
def test_events_are_exactly_the_changes(reports: list[tuple[PrinterState, str]]) -> None:
    """Any run of reports: one PRINTER_STATUS per report that differs from the last stored, versions count them,
    and since is when the state last changed."""
    current: PrinterHealth | None = None
    told = 0
    since = 0
    for n, (state, detail) in enumerate(reports):
        at = NOW + n
        changed = current is None or (current.state, current.detail) != (state, detail)
        if current is None or current.state is not state:
            since = at
        decision = _say(current, state, detail, at=at)
        assert len(decision.events) == int(changed) and decision.result["changed"] is changed
        if changed:
            current = _stored(decision)
            told += 1
        assert current is not None
        assert (current.state, current.detail, current.since, current.version) == (state, detail, since, told)
