"""Print jobs, decided without I/O: one job per ticket per printer, claimed by one agent, confirmed or not.

A job's id is its ticket's, so however often a fire is told (a retried command,
an agent that reconnects and replays, a restarted hub) it is one job. An agent
claims a job before printing it, so two agents of one restaurant never print
the same one, and says PRINTED only once the printer answered after the bytes.

The stated policy for a job claimed and never confirmed (the agent died between
writing and the printer's answer): it is NOT printed again by itself, because a
ticket printed twice is food cooked twice. When its lease ends it becomes
UNCONFIRMED and goes on the manual list (below), so a person checks the printer
and reprints it if it is not there (``print.reprint``, marked REPRINT).

The fallback chain (seed 004), every step an event:

1. a printer fails a job with nothing sent, or no agent takes it in time: FAILED,
   and the same ticket goes to the printer's backup (PRINT_REROUTED alert to expo
   and the manager), and on along the backups while one is left untried;
2. no printer left, or UNCONFIRMED: the job goes on the manual list
   (``manual_since``): the ticket is flagged on its station's screens, expo and the
   manager get a PRINT_MANUAL alert, and anybody there can say it is handled
   (``print.handled``: done by hand, or found printed) or reprint it;
3. nobody did within ``print_manual_s``: a CRITICAL PRINT_UNHANDLED alert.

A job done with (printed, handled, passed on) is kept ``KEEP_MS`` for reprints and
then dropped, so the restaurant's jobs do not grow without end.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from fireflow.hub.domain.actors import Actor, Role
from fireflow.hub.domain.decision import Decision, Due, DueKind, Event
from fireflow.hub.domain.errors import DomainError
from fireflow.schema import commands as c
from fireflow.schema import events as e
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.records import (
    Alert,
    AlertKind,
    AlertSeverity,
    KitchenSettings,
    KitchenTicket,
    Printer,
    PrintJob,
    PrintJobState,
    PrintKind,
    Restaurant,
)

__all__ = [
    "JOB_CHANNELS",
    "KEEP_MS",
    "LEASE_MS",
    "check",
    "claim",
    "confirm",
    "fail",
    "handle",
    "jobs_for",
    "manual_alerts",
    "on_manual_list",
    "reprint",
    "reprint_id",
]

LEASE_MS = 20_000  # how long an agent has between claiming a job and saying how it went (KitchenSettings' default)
KEEP_MS = 12 * 3_600_000  # a job done with stays this long (a shift) for reprints, then goes
JOB_CHANNELS = ("printing", "expo", "manager")
ALERT_CHANNELS = ("expo", "manager")
HANDLED_WORDS = {c.Handled.BY_HAND: "done by hand", c.Handled.FOUND_PRINTED: "found printed"}
_OPEN = frozenset({PrintJobState.PENDING, PrintJobState.CLAIMED})


def jobs_for(
    tickets: Sequence[KitchenTicket], printers: Mapping[str, str], *, fired_by: str, now: int
) -> tuple[tuple[PrintJob, ...], tuple[Event, ...]]:
    """A job for each ticket of a station that prints (``printers``: station -> printer), and PRINT_JOB.

    Each is due a check (``DueKind.PRINT``): one nobody claims in time goes to the backup printer.
    """
    jobs = tuple(
        PrintJob(
            id=ticket.id,
            printer=printers[ticket.station],
            station=ticket.station,
            order_id=ticket.order_id,
            ticket=ticket,
            fired_by=fired_by,
            created_at=now,
        )
        for ticket in tickets
        if ticket.station in printers
    )
    return jobs, tuple(Event("PRINT_JOB", ("printing",), e.PrintJobChanged(job=job)) for job in jobs)


def on_manual_list(job: PrintJob) -> bool:
    """Whether ``job`` waits for a person: no printer could print it (or it is unconfirmed), nobody handled it."""
    return job.manual_since is not None and job.handled_at is None


def _channels(job: PrintJob) -> tuple[str, ...]:
    """Who hears of a job: agents, expo, managers, and its station's screens once it is on the manual list."""
    if job.manual_since is not None and job.station:
        return (*JOB_CHANNELS, f"kitchen:{job.station}")
    return JOB_CHANNELS


def _changed(job: PrintJob) -> Event:
    return Event("PRINT_JOB_CHANGED", _channels(job), e.PrintJobChanged(job=job))


def _what(job: PrintJob) -> str:
    """The job in a person's words: what to look for on the printer or to do by hand."""
    ticket = job.ticket
    if job.kind is PrintKind.KOT and ticket is not None:
        void = " VOID" if ticket.kind.value == "VOID" else ""
        return f"order {ticket.order_number}'s {job.station}{void} ticket"
    if job.kind is PrintKind.RECEIPT:
        return f"the receipt of order {job.order_id.rpartition(':')[2] or job.order_id}"
    return "the Z-report"


def _printer_name(printers: Sequence[Printer], printer_id: str) -> str:
    found = next((p for p in printers if p.id == printer_id), None)
    return f"printer {found.name or found.id}" if found else f"printer {printer_id}"


def _alert(job: PrintJob, kind: AlertKind, at: int, message: str) -> Alert:
    ticket = job.ticket
    return Alert(
        id=f"{job.id}:{kind.value.lower()}",
        kind=kind,
        station=job.station,
        order_id=job.order_id,
        order_number=ticket.order_number if ticket is not None else None,
        job_id=job.id,
        severity=AlertSeverity.CRITICAL if kind is AlertKind.PRINT_UNHANDLED else AlertSeverity.WARNING,
        at=at,
        message=message,
    )


def _manual_alert(job: PrintJob, at: int) -> Alert:
    why = f" ({job.reason})" if job.reason else ""
    if job.state is PrintJobState.UNCONFIRMED:
        message = f"Check the printer for {_what(job)}{why}; reprint it or say it is handled"
    else:
        message = f"No printer could print {_what(job)}{why}: do it by hand, or reprint it"
    return _alert(job, AlertKind.PRINT_MANUAL, at, message)


def _critical_alert(job: PrintJob, at: int) -> Alert:
    waited = (at - (job.manual_since or at)) // 1000
    message = f"Nobody has handled {_what(job)} for {waited} s: it may not be made. Act now"
    return _alert(job, AlertKind.PRINT_UNHANDLED, at, message)


def manual_alerts(jobs: Iterable[PrintJob]) -> list[Alert]:
    """The printing alerts still standing (a job on the manual list): what a snapshot shows, oldest first."""
    alerts = [
        _critical_alert(job, job.critical_at) if job.critical_at is not None else _manual_alert(job, job.manual_since)
        for job in jobs
        if on_manual_list(job) and job.manual_since is not None
    ]
    return sorted(alerts, key=lambda a: (a.at, a.id))


def _told(alert: Alert) -> Event:
    return Event("KITCHEN_ALERT", ALERT_CHANNELS, e.KitchenAlert(alert=alert))


def _moved(
    job: PrintJob,
    result: dict[str, object] | None = None,
    *,
    due: Due | None = None,
    alerts: Sequence[Alert] = (),
    **changes: object,
) -> Decision:
    new = job.model_copy(update={**changes, "version": job.version + 1})
    return Decision(
        result={"job": new.model_dump(mode="json"), **(result or {})},
        print_jobs=(new,),
        events=(_changed(new), *map(_told, alerts)),
        due=(due,) if due is not None else (),
    )


def _done_with(job: PrintJob, now: int) -> Due:
    """A job nothing more happens to by itself: checked once more when it is old enough to drop."""
    return Due(DueKind.PRINT, job.id, now + KEEP_MS)


def _to_manual(job: PrintJob, now: int, kitchen: KitchenSettings, **changes: object) -> Decision:
    """On the manual list: flagged on the station's screens, PRINT_MANUAL to expo and managers, CRITICAL later."""
    new = job.model_copy(update={**changes, "manual_since": now, "version": job.version + 1})
    return Decision(
        result={"job": new.model_dump(mode="json")},
        print_jobs=(new,),
        events=(_changed(new), _told(_manual_alert(new, now))),
        due=(Due(DueKind.PRINT, job.id, now + kitchen.print_manual_s * 1000),),
    )


def claim(job: PrintJob, actor: Actor, now: int, lease_ms: int = LEASE_MS) -> Decision:
    """Take a job to print it: one agent at a time; the same agent claiming again gets it back."""
    if job.state is PrintJobState.CLAIMED and job.claimed_by == actor.device_id:
        return Decision(result={"job": job.model_dump(mode="json")})
    if job.state is not PrintJobState.PENDING:
        by = f" by {job.claimed_by}" if job.state is PrintJobState.CLAIMED else ""
        raise DomainError(
            ErrorCode.INVALID_STATE,
            f"print job {job.id} is {job.state.value.lower()}{by}; it is not printed again by itself",
            {"job_id": job.id, "state": job.state.value, "claimed_by": job.claimed_by},
        )
    until = now + lease_ms
    return _moved(
        job,
        due=Due(DueKind.PRINT, job.id, until),
        state=PrintJobState.CLAIMED,
        claimed_by=actor.device_id,
        claimed_until=until,
        attempts=job.attempts + 1,
    )


def _held_by(job: PrintJob, actor: Actor) -> None:
    if job.state is not PrintJobState.CLAIMED or job.claimed_by != actor.device_id:
        raise DomainError(
            ErrorCode.INVALID_STATE,
            f"print job {job.id} is not claimed by this agent ({job.state.value.lower()})",
            {"job_id": job.id, "state": job.state.value, "claimed_by": job.claimed_by},
        )


def confirm(job: PrintJob, actor: Actor, now: int) -> Decision:
    """The printer answered fine after the job was written: PRINTED (said again: the same answer)."""
    if job.state is PrintJobState.PRINTED and job.claimed_by == actor.device_id:
        return Decision(result={"job": job.model_dump(mode="json")})
    _held_by(job, actor)
    return _moved(job, due=_done_with(job, now), state=PrintJobState.PRINTED)


def _to_backup(job: PrintJob, printers: Sequence[Printer], now: int) -> tuple[PrintJob, ...]:
    """The ticket again on the failed printer's backup, unless the chain has been tried through."""
    backup = next((p.backup for p in printers if p.id == job.printer), None)
    tried = (*job.tried, job.printer)
    if backup is None or backup in tried or all(p.id != backup for p in printers):
        return ()
    again = job.model_copy(
        update={
            "id": f"{job.id}@{backup}",
            "printer": backup,
            "tried": tried,
            "attempts": 0,
            "state": PrintJobState.PENDING,
            "claimed_by": None,
            "claimed_until": None,
            "reason": "",
            "created_at": now,
            "version": 1,
        }
    )
    return (again,)


def _failed(job: PrintJob, reason: str, restaurant: Restaurant, now: int) -> Decision:
    """FAILED (nothing reached the printer): the same ticket on the backup printer, or on the manual list."""
    backups = _to_backup(job, restaurant.printers, now)
    if not backups:
        return _to_manual(job, now, restaurant.kitchen, state=PrintJobState.FAILED, reason=reason)
    backup = backups[0]
    message = (
        f"{_printer_name(restaurant.printers, job.printer)} failed {_what(job)} ({reason}); "
        f"it goes to {_printer_name(restaurant.printers, backup.printer)}"
    )
    moved = _moved(
        job,
        {"backup_job_id": backup.id},
        due=_done_with(job, now),
        alerts=(_alert(job, AlertKind.PRINT_REROUTED, now, message),),
        state=PrintJobState.FAILED,
        reason=reason,
    )
    lease_ms = restaurant.kitchen.print_confirm_s * 1000
    return Decision(
        result=moved.result,
        print_jobs=(*moved.print_jobs, backup),
        events=(*moved.events, Event("PRINT_JOB", ("printing",), e.PrintJobChanged(job=backup))),
        due=(*moved.due, Due(DueKind.PRINT, backup.id, now + lease_ms)),
    )


def fail(job: PrintJob, actor: Actor, cmd: c.PrintJobFailed, restaurant: Restaurant, now: int) -> Decision:
    """Nothing sent: FAILED and on to the backup. Some bytes sent: the printer may still print them (a
    printer out of paper keeps what it got), so it is UNCONFIRMED like a job never answered, not rerouted."""
    _held_by(job, actor)
    if cmd.sent:
        reason = f"{cmd.reason} after the ticket was sent"
        return _to_manual(job, now, restaurant.kitchen, state=PrintJobState.UNCONFIRMED, reason=reason)
    return _failed(job, cmd.reason, restaurant, now)


def check(job: PrintJob, restaurant: Restaurant, now: int, *, cancelled: bool = False) -> Decision:
    """A job's check is due. Never claimed in time (no agent took it): FAILED, on to the backup printer.
    Claimed and never answered: UNCONFIRMED, on the manual list, never printed again by itself. On the
    manual list too long: CRITICAL, unless its order was cancelled meanwhile (``cancelled``): then there is
    nothing to make and the hub takes it off the list. Done with long enough ago: dropped. A check early
    by another node's clock changes nothing and stays due."""
    stays = Decision(result={"job": job.model_dump(mode="json")})
    if job.state is PrintJobState.PENDING:
        if job.created_at + restaurant.kitchen.print_confirm_s * 1000 > now:
            return stays
        return _failed(job, "no print agent took it in time", restaurant, now)
    if job.state is PrintJobState.CLAIMED:
        if (job.claimed_until or 0) > now:
            return stays
        reason = f"{job.claimed_by} took it and never said it printed"
        return _to_manual(job, now, restaurant.kitchen, state=PrintJobState.UNCONFIRMED, reason=reason)
    if on_manual_list(job):
        if cancelled:
            handled = "order cancelled: nothing to make"
            return _moved(job, due=_done_with(job, now), handled_by="hub", handled_at=now, handled=handled)
        if job.critical_at is not None:
            return Decision(result=stays.result, due=(_done_with(job, now),))  # said once; it stays listed
        if (job.manual_since or 0) + restaurant.kitchen.print_manual_s * 1000 > now:
            return stays
        return _moved(job, due=_done_with(job, now), alerts=(_critical_alert(job, now),), critical_at=now)
    finished = job.handled_at if job.handled_at is not None else job.created_at
    if finished + KEEP_MS > now:
        return Decision(result=stays.result, due=(Due(DueKind.PRINT, job.id, finished + KEEP_MS),))
    return Decision(result={"dropped": job.id}, dropped_print_jobs=(job.id,), due=(Due(DueKind.PRINT, job.id, None),))


def handle(job: PrintJob, actor: Actor, how: c.Handled, now: int) -> Decision:
    """A person says a job on the manual list is handled: made from the screen or by hand, or found printed."""
    words = HANDLED_WORDS[how]
    if job.handled_at is not None:
        if job.handled_by == actor.device_id and job.handled == words:
            return Decision(result={"job": job.model_dump(mode="json")})  # the same answer, said again
        raise DomainError(
            ErrorCode.INVALID_STATE,
            f"print job {job.id} was handled already by {job.handled_by}: {job.handled}",
            {"job_id": job.id, "handled_by": job.handled_by, "handled": job.handled},
        )
    if job.manual_since is None:
        raise DomainError(
            ErrorCode.INVALID_STATE,
            f"print job {job.id} is {job.state.value.lower()}, not on the manual list: nothing to handle",
            {"job_id": job.id, "state": job.state.value},
        )
    if actor.role is Role.KITCHEN and not actor.has_station(job.station):
        raise DomainError(
            ErrorCode.FORBIDDEN,
            f"print job {job.id} is {job.station}'s: a screen of another station cannot handle it",
            {"job_id": job.id, "station": job.station},
        )
    return _moved(job, due=_done_with(job, now), handled_by=actor.device_id, handled_at=now, handled=words)


def reprint_id(job: PrintJob) -> str:
    return f"{job.id}:r{job.attempts}"


def reprint(job: PrintJob, actor: Actor, now: int, lease_ms: int, earlier: PrintJob | None = None) -> Decision:
    """A person asks for it again: a new job marked REPRINT (``reprint_id``), whatever became of the first.

    ``earlier`` is a copy already made of this job: two people pressing reprint at once make one copy.
    A job on the manual list is handled by it ("reprinted as ..."); the copy goes through the whole
    fallback chain again.
    """
    if earlier is not None:
        raise DomainError(
            ErrorCode.INVALID_STATE,
            f"print job {job.id} was reprinted already as {earlier.id} ({earlier.state.value.lower()}); "
            "reprint that one if it is lost too",
            {"job_id": job.id, "reprint_id": earlier.id, "state": earlier.state.value},
        )
    if job.state in _OPEN:
        raise DomainError(
            ErrorCode.INVALID_STATE,
            f"print job {job.id} is still {job.state.value.lower()}: wait for it before reprinting",
            {"job_id": job.id, "state": job.state.value},
        )
    again = job.model_copy(
        update={
            "id": reprint_id(job),
            "printer": (*job.tried, job.printer)[0],  # the ticket's own printer: its chain starts again
            "reprint": True,
            "state": PrintJobState.PENDING,
            "claimed_by": None,
            "claimed_until": None,
            "reason": "",
            "tried": (),
            "fired_by": actor.device_id,
            "created_at": now,
            "manual_since": None,
            "handled_by": None,
            "handled_at": None,
            "handled": "",
            "critical_at": None,
            "version": 1,
        }
    )
    made = Event("PRINT_JOB", ("printing",), e.PrintJobChanged(job=again))
    lease = Due(DueKind.PRINT, again.id, now + lease_ms)
    result = {"job": again.model_dump(mode="json")}
    if not on_manual_list(job):
        return Decision(result=result, print_jobs=(again,), events=(made,), due=(lease,))
    handled = _moved(
        job, due=_done_with(job, now), handled_by=actor.device_id, handled_at=now, handled=f"reprinted as {again.id}"
    )
    return Decision(
        result=result,
        print_jobs=(*handled.print_jobs, again),
        events=(*handled.events, made),
        due=(*handled.due, lease),
    )
