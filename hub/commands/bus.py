"""The command bus: validate, load, decide, commit; the same for every transport.

A command id makes a command idempotent: its first result is stored with the
commit, atomically, and every retry gets that result back without effect. A
version conflict from a concurrent writer is retried here with fresh state
(the client's own ``version`` expectation is checked by the domain). What a
command is, who may run it and how it runs come from ``fireflow.hub.commands.registry``.

Every copy of one command id gets the same answer. For most commands the
commit does that alone: a copy that decides after its twin committed gets the
twin's stored result. A command that does slow work before its commit (money
written to the books first; anything that checks a manager's PIN, a slow hash
and a counted try) is run one copy at a time (``one_copy_at_a_time``): the
copy that claims the id in Redis runs, its twins, on any node, wait for its
stored answer, or for its refusal, kept a few seconds for them (a retryable
refusal only for the twins that waited: a later retry may succeed). So ten
copies of one wrong PIN are one wrong try, and the claim costs a round trip
only for the commands that need it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from pydantic import ValidationError
from redis.exceptions import RedisError

from fireflow.hub.books.audit import AuditTrail
from fireflow.hub.books.customers import Customers
from fireflow.hub.books.groups import Groups
from fireflow.hub.commands.context import Context
from fireflow.hub.commands.pins import Pins
from fireflow.hub.commands.registry import Flow, Spec, spec
from fireflow.hub.commands.settle import BooksOnly, Settler
from fireflow.hub.commands.tenancy import tenant_violation
from fireflow.hub.domain.actors import Actor, Role, check_role
from fireflow.hub.domain.errors import DomainError
from fireflow.hub.domain.invoice_links import InvoiceLinks
from fireflow.hub.live.devices import Devices
from fireflow.hub.live.store import CLAIMED, Claim, Claimed, Refusal, Store, StoredResult, acting_as
from fireflow.hub.logs import log_context
from fireflow.hub.metrics import Metrics, outcome_of
from fireflow.hub.retry import Backoff, until_committed
from fireflow.schema import commands as payloads
from fireflow.schema.protocol import ErrorCode

__all__ = ["CommandBus", "one_copy_at_a_time", "validation_details"]

logger = logging.getLogger(__name__)

CLAIM_MS = 30_000  # a copy whose node died lets its twins run after this
TWIN_WAIT_S = 10.0  # how long a copy waits for its running twin before answering BUSY (retryable)
REFUSAL_KEPT_MS = 5_000  # how long twins arriving late still get a copy's refusal instead of running again
RETRYABLE_REFUSAL_KEPT_MS = 1_000  # a retryable one (BUSY, UNAVAILABLE) is only for the twins that waited for it


def validation_details(exc: ValidationError) -> dict[str, Any]:
    """Pydantic's errors without echoing the input back (it may be large or hostile)."""
    return {"errors": [{"loc": list(err["loc"]), "msg": err["msg"]} for err in exc.errors(include_input=False)[:10]]}


def _require_json_values(command_type: str, data: dict[str, Any]) -> None:
    """Refuse what JSON cannot carry (msgpack bytes and extension types): commands are stored as JSON."""
    for key, value in data.items():
        try:
            orjson.dumps(value)
        except TypeError:
            msg = "bytes and msgpack extension types are not allowed; send strings, numbers, lists and maps"
            details = {"errors": [{"loc": [key], "msg": msg}]}
            raise DomainError(ErrorCode.INVALID_COMMAND, f"invalid {command_type}", details) from None


def _targets(command_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """What a refused command reached for, for its audit row (validated fields only, bounded)."""
    found: dict[str, Any] = {"command_id": command_id}
    if isinstance(data.get("order_id"), str):
        found["order_id"] = data["order_id"]
    if isinstance(data.get("order_ids"), list):
        found["order_ids"] = [str(i) for i in data["order_ids"][:10]]
    return found


def fingerprint(command_type: str, data: dict[str, Any]) -> str:
    return hashlib.sha1(command_type.encode() + orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def _same(prior: StoredResult, fp: str) -> StoredResult:
    if prior.fingerprint != fp:
        raise DomainError(ErrorCode.IDEMPOTENCY_KEY_REUSED, "this command id was used for another command")
    return prior


def _answered(claim: Claim, fp: str, *, waited: bool) -> StoredResult | None:
    """A twin's answer to this copy: its stored result, or (raised) its refusal; None when there is none to take.

    A refusal of another command under this id is not an answer; nor is a retryable one (BUSY,
    UNAVAILABLE) to a copy that did not wait for it: the retry it is may well succeed now.
    """
    if claim.stored is not None:
        return _same(claim.stored, fp)
    refused = claim.refusal
    if refused is not None and refused.fingerprint == fp:
        error = DomainError(ErrorCode(refused.code), refused.message, refused.details)
        if waited or not error.retryable:
            raise error
    return None


def runs_one_copy_at_a_time(found: Spec, command: payloads.Command) -> bool:
    """Whether the command does work before its commit that a twin must not repeat: the books first,
    a PIN to check, or a write of its own (a pairing code, a customer)."""
    # A model without the field is asked through pydantic's slow ``__getattr__`` (an AttributeError caught): on
    # every command, so the field is looked up on the model's class first.
    return (
        found.durable_first
        or found.side_effects
        or ("pin" in type(command).model_fields and getattr(command, "pin", None) is not None)
    )


async def one_copy_at_a_time(
    store: Store, rid: str, key: str, fingerprint: str, run: Callable[[], Awaitable[StoredResult]]
) -> StoredResult:
    """Run the copies of one command id one after another, on any node; a copy that waited gets the first's answer.

    The copy that claims the id runs; the others look for its stored result or its
    refusal until they find it, or claim the id themselves (the first ended without
    an answer to share: it crashed, or its refusal is gone), or give up with BUSY.
    """
    token = secrets.token_hex(8)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TWIN_WAIT_S
    backoff = Backoff(first=0.002, ceiling=0.1)
    waited = False
    while not (claim := await store.claim(rid, key, token, CLAIM_MS)).held:
        waited = True  # a twin is running: its answer, once it lets go, is this copy's
        if claim.stored is not None:
            return _same(claim.stored, fingerprint)
        if loop.time() > deadline:
            raise DomainError(ErrorCode.BUSY, "a copy of this command is still running; retry with the same id")
        await backoff.wait()
    refusal: Refusal | None = None
    kept_ms = 0
    held = Claimed(rid, key, token)
    running = CLAIMED.set(held)  # the commit of the answer lets go of the claim (commit.lua), a round trip saved
    try:
        found = _answered(claim, fingerprint, waited=waited)
        if found is not None:
            return found
        try:
            return await run()
        except DomainError as exc:
            prior = await store.stored_result(rid, key)  # a twin whose claim ran out finished it meanwhile
            if prior is not None:
                return _same(prior, fingerprint)
            refusal = Refusal(fingerprint, exc.code.value, exc.message, exc.details)
            kept_ms = RETRYABLE_REFUSAL_KEPT_MS if exc.retryable else REFUSAL_KEPT_MS
            raise
    finally:
        CLAIMED.reset(running)
        if refusal is not None or not held.released:
            with contextlib.suppress(RedisError, OSError):  # the claim runs out by itself
                await store.unclaim(rid, key, token, refusal, kept_ms)


class Turns:
    """Commands of this node on one key (a restaurant's order) run one after another, each waiting for the one
    before it to commit; nothing is held for a key nobody waits on."""

    def __init__(self) -> None:
        self._held: dict[Any, tuple[asyncio.Lock, list[int]]] = {}  # key -> its lock, and how many hold or wait

    @contextlib.asynccontextmanager
    async def hold(self, key: Any) -> AsyncIterator[None]:
        held = self._held.get(key)
        if held is None:  # the first for this key: a lock made only then, not on every call
            held = self._held[key] = (asyncio.Lock(), [0])
        lock, count = held
        count[0] += 1
        try:
            async with lock:
                yield
        finally:
            count[0] -= 1
            if not count[0]:
                del self._held[key]

    def __len__(self) -> int:
        return len(self._held)


class CommandBus:
    def __init__(
        self,
        store: Store,
        clock: Callable[[], float] = time.time,
        settler: Settler | None = None,
        pins: Pins | None = None,
        devices: Devices | None = None,
        customers: Customers | None = None,
        *,
        groups: Groups | None = None,
        audit: AuditTrail | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.settler = settler
        self.pins = pins
        self.devices = devices
        self.customers = customers
        self.groups = groups
        self.audit = audit  # where refusals worth keeping go (tenant violations)
        self.metrics = metrics
        self.money = BooksOnly(settler, pins, devices) if settler is not None else None
        self.turns = Turns()
        self.links: InvoiceLinks | None = None  # the customers' invoice links, printed on receipts (the hub's)

    async def execute(self, actor: Actor, command_id: str, command_type: str, data: dict[str, Any]) -> StoredResult:
        """Run one command a client sent; raises DomainError with the code to answer.

        Every line logged while it runs names its restaurant, device, id and type; it is counted
        by type and outcome, and timed.
        """
        with (
            log_context(
                restaurant=actor.restaurant_id, device=actor.device_id, command_id=command_id, command=command_type[:64]
            ),
            acting_as(actor.device_id),
        ):
            try:
                return await self._counted(command_type, self._execute(actor, command_id, command_type, data))
            except DomainError as exc:
                if exc.code is ErrorCode.WRONG_TENANT:
                    tenant_violation(self.audit, logger, actor, "command", command_type, _targets(command_id, data))
                raise

    async def _counted(self, command_type: str, running: Awaitable[StoredResult]) -> StoredResult:
        metrics = self.metrics
        if metrics is None:
            return await running
        found = spec(command_type)
        settles = found is not None and found.flow is Flow.SETTLE
        started = time.perf_counter()
        try:
            stored = await running
        except BaseException as exc:
            outcome = outcome_of(exc)
            metrics.command(command_type, outcome, time.perf_counter() - started)
            if settles:
                metrics.settlements.labels(outcome).inc()
            raise
        metrics.command(command_type, "ok", time.perf_counter() - started)
        if settles:  # PAID or PARTIALLY_PAID
            metrics.settlements.labels(str(stored.result.get("status", "ok")).lower()).inc()
        return stored

    async def _execute(self, actor: Actor, command_id: str, command_type: str, data: dict[str, Any]) -> StoredResult:
        found = spec(command_type)
        if found is None or found.internal:
            raise DomainError(ErrorCode.UNKNOWN_COMMAND, f"unknown command {command_type!r}")
        check_role(actor, found.roles, command_type)
        _require_json_values(command_type, data)
        try:
            # Strict: JSON's 1e2 or 2.0 is not the integer 2, and "3" is not a number.
            command = found.payload.model_validate_json(orjson.dumps(data), strict=True)
        except ValidationError as exc:
            raise DomainError(ErrorCode.INVALID_COMMAND, f"invalid {command_type}", validation_details(exc)) from None
        return await self._run(actor, command_id, found, command)

    async def execute_internal(
        self, rid: str, command_id: str, command_type: str, command: payloads.Command
    ) -> StoredResult:
        """Run one of the hub's own commands (timers): same commit path, idempotent across nodes by id."""
        found = spec(command_type)
        assert found is not None and found.internal, command_type
        actor = Actor(rid, Role.MANAGER, "hub")
        with (
            log_context(restaurant=rid, device=actor.device_id, command_id=command_id, command=command_type),
            acting_as(actor.device_id),
        ):
            return await self._counted(command_type, self._run(actor, command_id, found, command))

    async def outcome(self, actor: Actor, command_id: str) -> StoredResult:
        """What a command id got, asked by id alone (a till that lost the answer); NOT_FOUND if it never took effect."""
        prior = await self.store.stored_result(actor.restaurant_id, command_id)
        if prior is None:
            raise DomainError(
                ErrorCode.NOT_FOUND,
                "no outcome for this id: it did not take effect (or is still running); resend it with the same id",
            )
        return prior

    async def _run(self, actor: Actor, command_id: str, found: Spec, command: payloads.Command) -> StoredResult:
        fp = fingerprint(found.name, command.model_dump(mode="json"))
        rid = actor.restaurant_id
        if runs_one_copy_at_a_time(found, command):
            return await one_copy_at_a_time(
                self.store, rid, command_id, fp, lambda: self._decide_and_commit(actor, command_id, fp, found, command)
            )
        # No look for an earlier answer first: that was a Redis round trip on every command for the rare
        # retry. A retry decides again, and the commit (commit.lua) finds the id answered and returns that
        # answer; a retry the state has moved past is refused by its handler, which then looks (below).
        return await self._decide_and_commit(actor, command_id, fp, found, command)

    async def _decide_and_commit(
        self, actor: Actor, command_id: str, fp: str, found: Spec, command: payloads.Command
    ) -> StoredResult:
        command_type = found.name
        rid = actor.restaurant_id
        # Money is recorded in Postgres before live state changes: its own path (hub/commands/settle.py).
        if found.flow is Flow.BOOKS:
            if self.money is None:
                raise DomainError(ErrorCode.UNAVAILABLE, "this needs the books (Postgres); none is configured")
            return await self.money.run(actor, command_id, fp, command_type, command)
        if found.flow is Flow.SETTLE:
            if self.settler is None:
                raise DomainError(ErrorCode.UNAVAILABLE, "payments need the books (Postgres); none is configured")
            assert isinstance(command, payloads.PayOrder)
            return await self.settler.pay(actor, command_id, fp, command)
        if found.flow is Flow.DELIVER:
            if self.settler is None:
                raise DomainError(ErrorCode.UNAVAILABLE, "deliveries need the books (Postgres); none is configured")
            assert isinstance(command, payloads.DeliveryDeliver)
            return await self.settler.deliver(actor, command_id, fp, command)
        handler = found.handler
        assert handler is not None, command_type
        conflict = "?"

        async def attempt() -> StoredResult | None:
            nonlocal conflict
            now = int(self.clock() * 1000)
            try:
                decision = await handler(
                    Context(
                        self.store,
                        actor,
                        command,
                        command_type,
                        now,
                        self.pins,
                        self.devices,
                        self.customers,
                        command_id,
                        self.groups,
                        self.money,
                        self.links,
                    )
                )
            except DomainError:
                # A concurrent copy of this command may have committed since we looked.
                prior = await self.store.stored_result(rid, command_id)
                if prior is not None:
                    return _same(prior, fp)
                raise
            outcome = await self.store.commit(rid, command_id, fp, decision, now)
            if outcome.stored is None:
                conflict = outcome.conflict or conflict
                return None  # lost a race (another terminal, or the day's counters): look again
            return _same(outcome.stored, fp) if outcome.duplicate else outcome.stored

        def busy() -> str:
            return f"too much contention on {conflict}; retry with the same id"

        order_id = getattr(command, "order_id", None) if found.order_turns else None
        if order_id is None:
            return await until_committed(attempt, busy=busy)
        async with self.turns.hold((rid, order_id)):
            return await until_committed(attempt, busy=busy)
