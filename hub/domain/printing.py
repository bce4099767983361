"""Print jobs, decided without I/O: one job per ticket per printer, claimed by one agent, confirmed or not.

A job's id is its ticket's, so however often a fire is told (a retried command,
an agent that reconnects and replays, a restarted hub) it is one job. An agent
claims a job before printing it, so two agents of one restaurant never print
the same one, and says PRINTED only once the printer answered after the bytes.

The stated policy for a job claimed and never confirmed (the agent died between
writing and the printer's answer): it is NOT printed again by itself, because a
ticket printed twice is food cooked twice. When its lease ends it becomes
UNCONFIRMED and expo and the manager are told, so a person checks the printer
and reprints it if it is not there (``print.reprint``, marked REPRINT).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fireflow.hub.domain.actors import Actor
from fireflow.hub.domain.decision import Decision, Due, DueKind, Event
from fireflow.hub.domain.errors import DomainError
from fireflow.schema import commands as c
from fireflow.schema import events as e
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.records import KitchenTicket, Printer, PrintJob, PrintJobState

__all__ = [
    "JOB_CHANNELS",
    "LEASE_MS",
    "claim",
    "confirm",
    "fail",
    "jobs_for",
    "lease_ended",
    "reprint",
    "reprint_id",
]

LEASE_MS = 20_000  # how long an agent has between claiming a job and saying how it went (KitchenSettings' default)
JOB_CHANNELS = ("printing", "expo", "manager")
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


def _moved(
    job: PrintJob, result: dict[str, object] | None = None, *, due: Due | None = None, **changes: object
) -> Decision:
    new = job.model_copy(update={**changes, "version": job.version + 1})
    return Decision(
        result={"job": new.model_dump(mode="json"), **(result or {})},
        print_jobs=(new,),
        events=(Event("PRINT_JOB_CHANGED", JOB_CHANNELS, e.PrintJobChanged(job=new)),),
        due=(due,) if due is not None else (),
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


def confirm(job: PrintJob, actor: Actor) -> Decision:
    """The printer answered fine after the job was written: PRINTED (said again: the same answer)."""
    if job.state is PrintJobState.PRINTED and job.claimed_by == actor.device_id:
        return Decision(result={"job": job.model_dump(mode="json")})
    _held_by(job, actor)
    return _moved(job, due=Due(DueKind.PRINT, job.id, None), state=PrintJobState.PRINTED)


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
            "state": PrintJobState.PENDING,
            "claimed_by": None,
            "claimed_until": None,
            "reason": "",
            "created_at": now,
            "version": 1,
        }
    )
    return (again,)


def _failed(job: PrintJob, reason: str, printers: Sequence[Printer], now: int) -> Decision:
    """FAILED (nothing reached the printer), and the same ticket on its backup printer when it has one."""
    moved = _moved(job, due=Due(DueKind.PRINT, job.id, None), state=PrintJobState.FAILED, reason=reason)
    backups = _to_backup(job, printers, now)
    told = tuple(Event("PRINT_JOB", ("printing",), e.PrintJobChanged(job=b)) for b in backups)
    extra = {"backup_job_id": backups[0].id} if backups else {}
    return Decision(
        result={**moved.result, **extra},
        print_jobs=(*moved.print_jobs, *backups),
        events=(*moved.events, *told),
        due=moved.due,
    )


def fail(job: PrintJob, actor: Actor, cmd: c.PrintJobFailed, printers: Sequence[Printer], now: int) -> Decision:
    """Nothing sent: FAILED and on to the backup. Some bytes sent: the printer may still print them (a
    printer out of paper keeps what it got), so it is UNCONFIRMED like a job never answered, not rerouted."""
    _held_by(job, actor)
    if cmd.sent:
        reason = f"{cmd.reason} after the ticket was sent: it may still print; check the printer"
        return _moved(job, due=Due(DueKind.PRINT, job.id, None), state=PrintJobState.UNCONFIRMED, reason=reason)
    return _failed(job, cmd.reason, printers, now)


def lease_ended(job: PrintJob, now: int, printers: Sequence[Printer] = (), lease_ms: int = LEASE_MS) -> Decision:
    """A job's time ran out. Never claimed (no agent took it): FAILED, on to the backup printer.
    Claimed and never answered: UNCONFIRMED, told, never printed again by itself."""
    if job.state is PrintJobState.PENDING:
        if job.created_at + lease_ms > now:  # early (another node's clock): the check stays due
            return Decision(result={"job": job.model_dump(mode="json")})
        return _failed(job, "no print agent took it in time", printers, now)
    if job.state is not PrintJobState.CLAIMED:  # answered meanwhile: nothing to check any more
        return Decision(result={"job": job.model_dump(mode="json")}, due=(Due(DueKind.PRINT, job.id, None),))
    if (job.claimed_until or 0) > now:  # early (another node's clock): the check stays due
        return Decision(result={"job": job.model_dump(mode="json")})
    reason = f"{job.claimed_by} took it and never said it printed: check the printer, reprint if it is not there"
    return _moved(job, due=Due(DueKind.PRINT, job.id, None), state=PrintJobState.UNCONFIRMED, reason=reason)


def reprint_id(job: PrintJob) -> str:
    return f"{job.id}:r{job.attempts}"


def reprint(job: PrintJob, actor: Actor, now: int, earlier: PrintJob | None = None) -> Decision:
    """A person asks for it again: a new job marked REPRINT (``reprint_id``), whatever became of the first.

    ``earlier`` is a copy already made of this job: two people pressing reprint at once make one copy.
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
            "reprint": True,
            "state": PrintJobState.PENDING,
            "claimed_by": None,
            "claimed_until": None,
            "reason": "",
            "fired_by": actor.device_id,
            "created_at": now,
            "version": 1,
        }
    )
    event = Event("PRINT_JOB", ("printing",), e.PrintJobChanged(job=again))
    return Decision(result={"job": again.model_dump(mode="json")}, print_jobs=(again,), events=(event,))
