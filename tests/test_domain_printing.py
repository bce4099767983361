"""Print jobs without servers: one job per ticket at a printing station, one agent at a time, the stated policy."""

from __future__ import annotations

import pytest

from fireflow.hub.domain import orders as d
from fireflow.hub.domain import printing
from fireflow.hub.domain.actors import Actor, Role
from fireflow.hub.domain.decision import DueKind
from fireflow.hub.domain.errors import DomainError
from fireflow.schema import commands as c
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.records import (
    AlertKind,
    AlertSeverity,
    KitchenSettings,
    Printer,
    PrintJob,
    PrintJobState,
    Restaurant,
)
from tests.domain_support import NOW, change, fire, with_items

AGENT = Actor("demo", Role.PRINTER, "print-agent-1")
OTHER = Actor("demo", Role.PRINTER, "print-agent-2")
GRILL_PRINTS = d.KitchenContext(("fry", "cold", "bar"), 30_000, {"grill": "kitchen"}, "waiter-1")
EXPO = Actor("demo", Role.EXPO, "expo-1")
LEASE = printing.LEASE_MS
PRINTERS = (
    Printer(id="kitchen", name="Kitchen", host="10.0.0.21", backup="pass"),
    Printer(id="pass", name="Pass", host="10.0.0.22", backup="kitchen"),
)
RESTAURANT = Restaurant(
    id="demo", name="Demo", printers=PRINTERS, kitchen=KitchenSettings(print_confirm_s=20, print_manual_s=120)
)


def _fired_job() -> tuple[PrintJob, d.Order]:
    order = with_items("burger", "fries")
    decision = fire(order, kitchen=GRILL_PRINTS)
    (job,) = decision.print_jobs
    return job, decision.orders[0]


def test_a_fire_makes_one_job_per_printing_station_named_by_its_ticket_and_no_offline_alert() -> None:
    """The grill prints and has no screen: a job on its printer, PRINT_JOB told; fry (with a screen) gets none."""
    order = with_items("burger", "fries")
    decision = fire(order, kitchen=GRILL_PRINTS)
    (job,) = decision.print_jobs
    grill = next(
        e.data.ticket for e in decision.events if e.type == "NEW_KITCHEN_ORDER" and e.channels == ("kitchen:grill",)
    )  # type: ignore[attr-defined]
    assert (job.id, job.printer, job.station, job.state, job.version) == (
        grill.id,
        "kitchen",
        "grill",
        PrintJobState.PENDING,
        1,
    )
    assert job.ticket == grill and job.fired_by == "waiter-1"
    assert [e.type for e in decision.events if e.channels == ("printing",)] == ["PRINT_JOB"]
    assert not [e for e in decision.events if e.type == "KITCHEN_ALERT"]  # a printer watches the grill
    unwatched = fire(order, kitchen=d.KitchenContext(("fry", "cold", "bar"), 30_000))
    assert [e.data.alert.station for e in unwatched.events if e.type == "KITCHEN_ALERT"] == ["grill"]  # type: ignore[attr-defined]
    assert unwatched.print_jobs == ()


def test_a_void_at_a_printing_station_prints_too() -> None:
    """Lowering a fired burger sends the grill a VOID ticket, and that ticket is a job of its own."""
    _, order = _fired_job()
    voided = d.change_item(
        order, d.StockBook(), c.ChangeItem(order_id=order.id, line_id="L1", quantity=1), NOW + 3, GRILL_PRINTS
    )
    assert voided.print_jobs == ()  # 1 burger was sent; 1 stays: nothing to void
    more = change(order, "L1", 3).orders[0]
    fired_more = fire(more, kitchen=GRILL_PRINTS, now=NOW + 4)
    (added,) = fired_more.print_jobs
    assert added.ticket.lines[0].change.value == "ADDED" and added.id != order.tickets[0].id
    less = d.change_item(
        fired_more.orders[0],
        d.StockBook(),
        c.ChangeItem(order_id=order.id, line_id="L1", quantity=1),
        NOW + 5,
        GRILL_PRINTS,
    )
    (void,) = less.print_jobs
    assert void.ticket.kind.value == "VOID" and void.ticket.lines[0].quantity == 2


def _refused(code: ErrorCode, decide: object) -> DomainError:
    with pytest.raises(DomainError) as err:
        decide()  # type: ignore[operator]
    assert err.value.code is code, err.value.message
    return err.value


def test_one_agent_claims_confirms_and_the_others_are_refused() -> None:
    """Claimed once (the lease due), claimed again by its agent (the same), by another (refused); PRINTED once."""
    job, _ = _fired_job()
    claimed = printing.claim(job, AGENT, NOW)
    (taken,) = claimed.print_jobs
    assert (taken.state, taken.claimed_by, taken.claimed_until, taken.version) == (
        PrintJobState.CLAIMED, "print-agent-1", NOW + printing.LEASE_MS, 2,
    )  # fmt: skip
    assert [(x.kind, x.subject, x.at) for x in claimed.due] == [(DueKind.PRINT, job.id, NOW + printing.LEASE_MS)]
    assert printing.claim(taken, AGENT, NOW + 5).print_jobs == ()  # the same agent again: nothing moves
    refused = _refused(ErrorCode.INVALID_STATE, lambda: printing.claim(taken, OTHER, NOW + 5))
    assert refused.details["claimed_by"] == "print-agent-1"  # type: ignore[index]
    _refused(ErrorCode.INVALID_STATE, lambda: printing.confirm(taken, OTHER, NOW))
    (printed,) = printing.confirm(taken, AGENT, NOW).print_jobs
    assert printed.state is PrintJobState.PRINTED
    assert printing.confirm(printed, AGENT, NOW).print_jobs == ()  # said twice: the same answer
    _refused(ErrorCode.INVALID_STATE, lambda: printing.claim(printed, AGENT, NOW + 6))  # never printed twice


def test_a_lease_that_ends_unconfirmed_is_told_and_never_printed_again_by_itself() -> None:
    """The stated policy: claimed, no answer by the lease's end -> UNCONFIRMED; only a reprint prints it again."""
    job, _ = _fired_job()
    (taken,) = printing.claim(job, AGENT, NOW).print_jobs
    early = printing.check(taken, RESTAURANT, NOW + 1000)
    assert early.print_jobs == () and early.due == ()  # not yet: the check stays due
    ended = printing.check(taken, RESTAURANT, NOW + printing.LEASE_MS)
    (lost,) = ended.print_jobs
    assert lost.state is PrintJobState.UNCONFIRMED and "never said it printed" in lost.reason
    assert lost.manual_since == NOW + printing.LEASE_MS  # on the manual list: a person checks the printer
    assert {ch for e in ended.events for ch in e.channels} == {"printing", "expo", "manager", "kitchen:grill"}
    _refused(ErrorCode.INVALID_STATE, lambda: printing.claim(lost, OTHER, NOW + printing.LEASE_MS + 1))
    _refused(ErrorCode.INVALID_STATE, lambda: printing.reprint(taken, EXPO, NOW, LEASE))
    again = printing.reprint(lost, EXPO, NOW + printing.LEASE_MS + 2, LEASE)
    handled, copy = again.print_jobs
    assert (copy.id, copy.reprint, copy.state, copy.fired_by) == (f"{job.id}:r1", True, PrintJobState.PENDING, "expo-1")
    assert copy.ticket == job.ticket and copy.manual_since is None
    assert (handled.id, handled.handled_by, handled.handled) == (job.id, "expo-1", f"reprinted as {copy.id}")
    assert (DueKind.PRINT, copy.id, NOW + printing.LEASE_MS + 2 + LEASE) in [
        (x.kind, x.subject, x.at) for x in again.due
    ]


def test_a_failure_with_nothing_sent_goes_to_the_backup_and_one_with_bytes_sent_is_unconfirmed() -> None:
    """Offline before the job: FAILED, and the ticket on "pass" (once round the chain); paper out after it: UNCONFIRMED."""
    job, _ = _fired_job()
    (taken,) = printing.claim(job, AGENT, NOW).print_jobs
    _refused(
        ErrorCode.INVALID_STATE,
        lambda: printing.fail(taken, OTHER, c.PrintJobFailed(job_id=job.id, reason="x"), RESTAURANT, NOW),
    )
    failed = printing.fail(taken, AGENT, c.PrintJobFailed(job_id=job.id, reason="offline"), RESTAURANT, NOW + 1)
    first, backup = failed.print_jobs
    assert (first.state, first.reason) == (PrintJobState.FAILED, "offline")
    assert (backup.id, backup.printer, backup.tried, backup.state) == (
        f"{job.id}@pass",
        "pass",
        ("kitchen",),
        PrintJobState.PENDING,
    )
    assert backup.ticket == job.ticket and failed.result["backup_job_id"] == backup.id
    assert [e.type for e in failed.events] == ["PRINT_JOB_CHANGED", "KITCHEN_ALERT", "PRINT_JOB"]
    (rerouted,) = [e.data.alert for e in failed.events if e.type == "KITCHEN_ALERT"]  # type: ignore[attr-defined]
    assert rerouted.kind is AlertKind.PRINT_REROUTED and rerouted.job_id == job.id
    assert rerouted.message == "printer Kitchen failed order 1's grill ticket (offline); it goes to printer Pass"
    assert (DueKind.PRINT, backup.id, NOW + 1 + LEASE) in [(x.kind, x.subject, x.at) for x in failed.due]
    (on_pass,) = printing.claim(backup, OTHER, NOW + 2).print_jobs
    last = printing.fail(on_pass, OTHER, c.PrintJobFailed(job_id=backup.id, reason="offline"), RESTAURANT, NOW + 3)
    assert [j.state for j in last.print_jobs] == [PrintJobState.FAILED]  # kitchen was tried: the manual list
    assert last.print_jobs[0].manual_since == NOW + 3
    (sent,) = printing.fail(
        taken, AGENT, c.PrintJobFailed(job_id=job.id, reason="paper out", sent=True), RESTAURANT, NOW
    ).print_jobs
    assert sent.state is PrintJobState.UNCONFIRMED and sent.reason == "paper out after the ticket was sent"


def test_a_job_nobody_claims_in_time_goes_to_the_backup() -> None:
    """No agent took it by the print deadline: FAILED "no print agent", the ticket on the backup; due from the fire."""
    order = with_items("burger")
    decision = fire(order, kitchen=GRILL_PRINTS)
    (job,) = decision.print_jobs
    assert (DueKind.PRINT, job.id, NOW + 1 + printing.LEASE_MS) in [(x.kind, x.subject, x.at) for x in decision.due]
    assert printing.check(job, RESTAURANT, NOW + 2).print_jobs == ()  # not yet
    moved = printing.check(job, RESTAURANT, NOW + 1 + printing.LEASE_MS)
    assert [(j.printer, j.state) for j in moved.print_jobs] == [
        ("kitchen", PrintJobState.FAILED),
        ("pass", PrintJobState.PENDING),
    ]
    assert moved.print_jobs[0].reason == "no print agent took it in time"


def _stranded() -> PrintJob:
    """The grill's ticket after both printers failed it: FAILED, on the manual list."""
    job, _ = _fired_job()
    (taken,) = printing.claim(job, AGENT, NOW).print_jobs
    offline = c.PrintJobFailed(job_id=job.id, reason="offline")
    backup = printing.fail(taken, AGENT, offline, RESTAURANT, NOW + 1).print_jobs[1]
    (on_pass,) = printing.claim(backup, AGENT, NOW + 2).print_jobs
    offline = c.PrintJobFailed(job_id=backup.id, reason="offline")
    (stranded,) = printing.fail(on_pass, AGENT, offline, RESTAURANT, NOW + 3).print_jobs
    return stranded


def test_with_every_printer_down_the_ticket_is_flagged_listed_alerted_then_critical() -> None:
    """The chain's end: flagged on the grill's screens, PRINT_MANUAL to expo and managers, CRITICAL after
    print_manual_s unless somebody handles it; a check before then changes nothing."""
    job, _ = _fired_job()
    (taken,) = printing.claim(job, AGENT, NOW).print_jobs
    backup = printing.fail(taken, AGENT, c.PrintJobFailed(job_id=job.id, reason="offline"), RESTAURANT, NOW + 1)
    (on_pass,) = printing.claim(backup.print_jobs[1], AGENT, NOW + 2).print_jobs
    last = printing.fail(on_pass, AGENT, c.PrintJobFailed(job_id=on_pass.id, reason="paper out"), RESTAURANT, NOW + 3)
    (stranded,) = last.print_jobs
    assert printing.on_manual_list(stranded)
    changed, told = last.events
    assert changed.channels == ("printing", "expo", "manager", "kitchen:grill")  # flagged on the grill's screens
    alert = told.data.alert  # type: ignore[attr-defined]
    assert (told.type, told.channels, alert.kind, alert.severity) == (
        "KITCHEN_ALERT", ("expo", "manager"), AlertKind.PRINT_MANUAL, AlertSeverity.WARNING,
    )  # fmt: skip
    assert alert.message == "No printer could print order 1's grill ticket (paper out): do it by hand, or reprint it"
    manual_due = NOW + 3 + 120_000
    assert [(x.subject, x.at) for x in last.due] == [(on_pass.id, manual_due)]
    assert printing.manual_alerts([stranded]) == [alert]  # what a snapshot shows
    assert printing.check(stranded, RESTAURANT, manual_due - 1).print_jobs == ()  # not yet
    critical = printing.check(stranded, RESTAURANT, manual_due)
    (late,) = critical.print_jobs
    (raised,) = [e.data.alert for e in critical.events if e.type == "KITCHEN_ALERT"]  # type: ignore[attr-defined]
    assert (late.critical_at, raised.kind, raised.severity) == (
        manual_due,
        AlertKind.PRINT_UNHANDLED,
        AlertSeverity.CRITICAL,
    )
    assert raised.message == "Nobody has handled order 1's grill ticket for 120 s: it may not be made. Act now"
    assert printing.manual_alerts([late]) == [raised]  # CRITICAL replaces the warning, and stands
    assert printing.check(late, RESTAURANT, manual_due + 5).events == ()  # said once


def test_handled_by_hand_ends_the_alerts_once_and_a_screen_of_another_station_cannot() -> None:
    stranded = _stranded()
    fry = Actor("demo", Role.KITCHEN, "kds-fry", ("fry",))
    grill = Actor("demo", Role.KITCHEN, "kds-grill", ("grill",))
    _refused(ErrorCode.FORBIDDEN, lambda: printing.handle(stranded, fry, c.Handled.BY_HAND, NOW + 4))
    done = printing.handle(stranded, grill, c.Handled.BY_HAND, NOW + 4)
    (handled,) = done.print_jobs
    assert (handled.handled_by, handled.handled, handled.handled_at) == ("kds-grill", "done by hand", NOW + 4)
    assert not printing.on_manual_list(handled) and printing.manual_alerts([handled]) == []
    assert done.events[0].channels[-1] == "kitchen:grill"  # the flag goes from the screens too
    assert printing.handle(handled, grill, c.Handled.BY_HAND, NOW + 5).print_jobs == ()  # said again: the same
    other = _refused(ErrorCode.INVALID_STATE, lambda: printing.handle(handled, EXPO, c.Handled.FOUND_PRINTED, NOW + 5))
    assert "handled already by kds-grill: done by hand" in other.message
    assert printing.check(handled, RESTAURANT, NOW + 200_000).events == ()  # no CRITICAL once handled
    job, _ = _fired_job()
    _refused(ErrorCode.INVALID_STATE, lambda: printing.handle(job, EXPO, c.Handled.BY_HAND, NOW))  # not listed


def test_a_job_done_with_is_dropped_after_the_keep_window() -> None:
    job, _ = _fired_job()
    (taken,) = printing.claim(job, AGENT, NOW).print_jobs
    confirmed = printing.confirm(taken, AGENT, NOW + 1)
    assert [(x.subject, x.at) for x in confirmed.due] == [(job.id, NOW + 1 + printing.KEEP_MS)]
    (printed,) = confirmed.print_jobs
    assert printing.check(printed, RESTAURANT, job.created_at + printing.KEEP_MS - 1).dropped_print_jobs == ()
    assert printing.check(printed, RESTAURANT, job.created_at + printing.KEEP_MS).dropped_print_jobs == (job.id,)
    listed = _stranded()
    assert printing.check(listed, RESTAURANT, NOW + 10 * printing.KEEP_MS).dropped_print_jobs == ()  # kept while listed


def test_a_listed_ticket_of_an_order_cancelled_meanwhile_leaves_the_list_instead_of_going_critical() -> None:
    stranded = _stranded()
    due = (stranded.manual_since or 0) + 120_000
    decision = printing.check(stranded, RESTAURANT, due, cancelled=True)
    (handled,) = decision.print_jobs
    assert (handled.handled_by, handled.handled) == ("hub", "order cancelled: nothing to make")
    assert not [e for e in decision.events if e.type == "KITCHEN_ALERT"] and handled.critical_at is None
