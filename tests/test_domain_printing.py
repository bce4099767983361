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
from fireflow.schema.records import Printer, PrintJob, PrintJobState
from tests.domain_support import NOW, change, fire, with_items

AGENT = Actor("demo", Role.PRINTER, "print-agent-1")
OTHER = Actor("demo", Role.PRINTER, "print-agent-2")
GRILL_PRINTS = d.KitchenContext(("fry", "cold", "bar"), 30_000, {"grill": "kitchen"}, "waiter-1")


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
    _refused(ErrorCode.INVALID_STATE, lambda: printing.confirm(taken, OTHER))
    (printed,) = printing.confirm(taken, AGENT).print_jobs
    assert printed.state is PrintJobState.PRINTED
    assert printing.confirm(printed, AGENT).print_jobs == ()  # said twice: the same answer
    _refused(ErrorCode.INVALID_STATE, lambda: printing.claim(printed, AGENT, NOW + 6))  # never printed twice


def test_a_lease_that_ends_unconfirmed_is_told_and_never_printed_again_by_itself() -> None:
    """The stated policy: claimed, no answer by the lease's end -> UNCONFIRMED; only a reprint prints it again."""
    job, _ = _fired_job()
    (taken,) = printing.claim(job, AGENT, NOW).print_jobs
    early = printing.lease_ended(taken, NOW + 1000)
    assert early.print_jobs == () and early.due == ()  # not yet: the check stays due
    ended = printing.lease_ended(taken, NOW + printing.LEASE_MS)
    (lost,) = ended.print_jobs
    assert lost.state is PrintJobState.UNCONFIRMED and "never said it printed" in lost.reason
    assert {ch for e in ended.events for ch in e.channels} == {"printing", "expo", "manager"}
    _refused(ErrorCode.INVALID_STATE, lambda: printing.claim(lost, OTHER, NOW + printing.LEASE_MS + 1))
    _refused(ErrorCode.INVALID_STATE, lambda: printing.reprint(taken, Actor("demo", Role.EXPO, "expo-1"), NOW))
    again = printing.reprint(lost, Actor("demo", Role.EXPO, "expo-1"), NOW + printing.LEASE_MS + 2)
    (copy,) = again.print_jobs
    assert (copy.id, copy.reprint, copy.state, copy.fired_by) == (f"{job.id}:r1", True, PrintJobState.PENDING, "expo-1")
    assert copy.ticket == job.ticket


PRINTERS = (
    Printer(id="kitchen", host="10.0.0.21", backup="pass"),
    Printer(id="pass", host="10.0.0.22", backup="kitchen"),
)


def test_a_failure_with_nothing_sent_goes_to_the_backup_and_one_with_bytes_sent_is_unconfirmed() -> None:
    """Offline before the job: FAILED, and the ticket on "pass" (once round the chain); paper out after it: UNCONFIRMED."""
    job, _ = _fired_job()
    (taken,) = printing.claim(job, AGENT, NOW).print_jobs
    _refused(
        ErrorCode.INVALID_STATE,
        lambda: printing.fail(taken, OTHER, c.PrintJobFailed(job_id=job.id, reason="x"), PRINTERS, NOW),
    )
    failed = printing.fail(taken, AGENT, c.PrintJobFailed(job_id=job.id, reason="offline"), PRINTERS, NOW + 1)
    first, backup = failed.print_jobs
    assert (first.state, first.reason) == (PrintJobState.FAILED, "offline")
    assert (backup.id, backup.printer, backup.tried, backup.state) == (
        f"{job.id}@pass",
        "pass",
        ("kitchen",),
        PrintJobState.PENDING,
    )
    assert backup.ticket == job.ticket and failed.result["backup_job_id"] == backup.id
    assert [e.type for e in failed.events] == ["PRINT_JOB_CHANGED", "PRINT_JOB"]
    (on_pass,) = printing.claim(backup, OTHER, NOW + 2).print_jobs
    last = printing.fail(on_pass, OTHER, c.PrintJobFailed(job_id=backup.id, reason="offline"), PRINTERS, NOW + 3)
    assert [j.state for j in last.print_jobs] == [PrintJobState.FAILED]  # kitchen was tried: the chain ends
    (sent,) = printing.fail(
        taken, AGENT, c.PrintJobFailed(job_id=job.id, reason="paper out", sent=True), PRINTERS, NOW
    ).print_jobs
    assert sent.state is PrintJobState.UNCONFIRMED and "may still print" in sent.reason


def test_a_job_nobody_claims_in_time_goes_to_the_backup() -> None:
    """No agent took it by the print deadline: FAILED "no print agent", the ticket on the backup; due from the fire."""
    order = with_items("burger")
    decision = fire(order, kitchen=GRILL_PRINTS)
    (job,) = decision.print_jobs
    assert (DueKind.PRINT, job.id, NOW + 1 + printing.LEASE_MS) in [(x.kind, x.subject, x.at) for x in decision.due]
    assert printing.lease_ended(job, NOW + 2, PRINTERS).print_jobs == ()  # not yet
    moved = printing.lease_ended(job, NOW + 1 + printing.LEASE_MS, PRINTERS)
    assert [(j.printer, j.state) for j in moved.print_jobs] == [
        ("kitchen", PrintJobState.FAILED),
        ("pass", PrintJobState.PENDING),
    ]
    assert moved.print_jobs[0].reason == "no print agent took it in time"
