"""The command bus: validate, load, decide, commit; the same for every transport.

A command id makes a command idempotent: its first result is stored with the
commit, atomically, and every retry gets that result back without effect. A
version conflict from a concurrent writer is retried here with fresh state
(the client's own ``version`` expectation is checked by the domain). What a
command is, who may run it and how it runs come from ``hub.commands.registry``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
from pydantic import ValidationError

from hub.commands.context import Context
from hub.commands.pins import Pins
from hub.commands.registry import Flow, Spec, spec
from hub.commands.settle import BooksOnly, Settler
from hub.domain.actors import Actor, Role, check_role
from hub.domain.errors import DomainError
from hub.live.store import Store, StoredResult
from hub.retry import until_committed
from schema import commands as payloads
from schema.protocol import ErrorCode

__all__ = ["CommandBus", "validation_details"]

logger = logging.getLogger(__name__)


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


def fingerprint(command_type: str, data: dict[str, Any]) -> str:
    return hashlib.sha1(command_type.encode() + orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


class CommandBus:
    def __init__(
        self,
        store: Store,
        clock: Callable[[], float] = time.time,
        settler: Settler | None = None,
        pins: Pins | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.settler = settler
        self.pins = pins
        self.money = BooksOnly(settler, pins) if settler is not None else None

    async def execute(self, actor: Actor, command_id: str, command_type: str, data: dict[str, Any]) -> StoredResult:
        """Run one command a client sent; raises DomainError with the code to answer."""
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
        return await self._run(Actor(rid, Role.MANAGER, "hub"), command_id, found, command)

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
        command_type = found.name
        fp = fingerprint(command_type, command.model_dump(mode="json"))
        rid = actor.restaurant_id
        prior = await self.store.stored_result(rid, command_id)
        if prior is not None:
            return self._same(prior, fp)
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
        handler = found.handler
        assert handler is not None, command_type
        conflict = "?"

        async def attempt() -> StoredResult | None:
            nonlocal conflict
            now = int(self.clock() * 1000)
            try:
                decision = await handler(Context(self.store, actor, command, command_type, now, self.pins))
            except DomainError as exc:
                if exc.code is ErrorCode.WRONG_TENANT:
                    logger.warning(
                        "tenant violation: restaurant=%s device=%s role=%s command=%s",
                        rid, actor.device_id, actor.role, command_type,
                    )  # fmt: skip
                # A concurrent copy of this command may have committed since we looked.
                prior = await self.store.stored_result(rid, command_id)
                if prior is not None:
                    return self._same(prior, fp)
                raise
            outcome = await self.store.commit(rid, command_id, fp, decision, now)
            if outcome.stored is None:
                conflict = outcome.conflict or conflict
                return None  # lost a race (another terminal, or the day's counters): look again
            return self._same(outcome.stored, fp) if outcome.duplicate else outcome.stored

        return await until_committed(attempt, busy=lambda: f"too much contention on {conflict}; retry with the same id")

    @staticmethod
    def _same(prior: StoredResult, fp: str) -> StoredResult:
        if prior.fingerprint != fp:
            raise DomainError(ErrorCode.IDEMPOTENCY_KEY_REUSED, "this command id was used for another command")
        return prior
