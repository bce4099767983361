"""Paying orders, durable first: lock the bill in Redis, write the books in Postgres, then apply.

Why this order: a terminal is told "paid" only once Postgres has committed the
payment, so no crash of Redis or of the hub after the answer can lose it. The
lock (a field on each order, set atomically with a version check) keeps the
bill from changing while Postgres writes it. Applying it is an idempotent
commit under the paying command's own id, so a retry returns the first answer,
and a hub that died in between is finished by the lock's due check or by the
client's retry. A lock whose payment never reached Postgres is released by
that due check. Postgres down: the answer is UNAVAILABLE (retryable, same id),
the lock waits for the check, and nothing in the kitchen path touches Postgres.

Copies of one command id (a till resending after a timeout, to any node) run
one after another (``one_copy_at_a_time``): the copy that claims the id runs,
the others wait for its stored answer, so every copy gets the same answer and
no copy checks a PIN, posts, or lets go of a lock its twin holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from hub.books.books import AlreadySettled, AuditNote, Books, Found, InvoiceDraft, PaymentDraft, Settlement
from hub.commands.pins import Pins
from hub.domain import billing
from hub.domain import settlement as s
from hub.domain.actors import Actor
from hub.domain.decision import Decision, Event
from hub.domain.errors import DomainError
from hub.domain.orders import bump, business_day, check_tenant
from hub.live.store import Store, StoredResult
from schema import commands as c
from schema import events as e
from schema.billing import LedgerKind, LedgerTransaction, Payment, ZReport
from schema.protocol import ErrorCode
from schema.records import Order, OrderStatus, PaymentStatus, Restaurant, SettleLock

__all__ = ["BooksOnly", "Settler", "one_copy_at_a_time"]

logger = logging.getLogger(__name__)

ATTEMPTS = 8
CLAIM_MS = 30_000  # a copy whose node died lets its twins run after this
TWIN_WAIT_S = 10.0  # how long a copy waits for its running twin before answering BUSY (retryable)


def _unavailable(what: str) -> DomainError:
    return DomainError(ErrorCode.UNAVAILABLE, f"{what} is unavailable; retry with the same id")


def _same(prior: StoredResult, fingerprint: str) -> StoredResult:
    if prior.fingerprint != fingerprint:
        raise DomainError(ErrorCode.IDEMPOTENCY_KEY_REUSED, "this command id was used for another command")
    return prior


async def one_copy_at_a_time(
    store: Store, rid: str, key: str, fingerprint: str, run: Callable[[], Awaitable[StoredResult]]
) -> StoredResult:
    """Run the copies of one command id one after another, on any node; a copy that waited gets the first's answer.

    The copy that claims the id runs; the others look for its stored result until
    they find it, or claim the id themselves (the first ended without an answer to
    store: an error, which the next copy meets again or not), or give up with BUSY.
    """
    token = secrets.token_hex(8)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TWIN_WAIT_S
    delay = 0.002
    while not await store.claim(rid, key, token, CLAIM_MS):
        if loop.time() > deadline:
            raise DomainError(ErrorCode.BUSY, "a copy of this command is still running; retry with the same id")
        await asyncio.sleep(random.uniform(delay / 2, delay))
        delay = min(2 * delay, 0.1)
        prior = await store.stored_result(rid, key)
        if prior is not None:
            return _same(prior, fingerprint)
    try:
        prior = await store.stored_result(rid, key)
        if prior is not None:
            return _same(prior, fingerprint)
        try:
            return await run()
        except DomainError:
            prior = await store.stored_result(rid, key)  # a twin whose claim ran out finished it meanwhile
            if prior is not None:
                return _same(prior, fingerprint)
            raise
    finally:
        with contextlib.suppress(RedisError, OSError):  # it runs out by itself
            await store.unclaim(rid, key, token)


class Settler:
    def __init__(
        self,
        store: Store,
        books: Books | None,
        *,
        lock_check_ms: int = 30_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.books = books
        self.lock_check_ms = lock_check_ms
        self.clock = clock

    # -- reading --------------------------------------------------------------------------------

    async def _orders(self, actor: Actor, order_ids: list[str]) -> list[Order]:
        orders = []
        for order_id in order_ids:
            check_tenant(actor, order_id)
            order = await self.store.order(actor.restaurant_id, order_id)
            if order is None:
                raise DomainError(ErrorCode.NOT_FOUND, f"no order {order_id!r}")
            orders.append(order)
        return orders

    async def _restaurant(self, rid: str) -> Restaurant:
        return await self.store.restaurant(rid) or Restaurant(id=rid, name=rid)

    # -- paying ---------------------------------------------------------------------------------

    async def pay(self, actor: Actor, key: str, fingerprint: str, cmd: c.PayOrder) -> StoredResult:
        if self.books is None:
            raise _unavailable("the books (Postgres)")
        return await one_copy_at_a_time(
            self.store, actor.restaurant_id, key, fingerprint, lambda: self._pay(actor, key, fingerprint, cmd)
        )

    async def _pay(self, actor: Actor, key: str, fingerprint: str, cmd: c.PayOrder) -> StoredResult:
        rid = actor.restaurant_id
        assert self.books is not None
        restaurant = await self._restaurant(rid)
        plan: s.PaymentPlan | None = None
        held: SettleLock | None = None
        for attempt in range(ATTEMPTS):
            now = int(self.clock() * 1000)
            orders = await self._orders(actor, cmd.order_ids)
            for order in orders:
                s.check_bill_lock(order, actor, now)
            prep: dict[tuple[str, str], int] = {}
            if not cmd.force and s.unfinished(orders):  # only guidance needs the prep times
                prep = {(p.station, p.menu_item_id): p.mean_ms for p in await self.store.prep_stats(rid)}
            plan = s.plan_payment(
                orders, restaurant.billing, restaurant.currency, cmd, actor, now, key=key, prep_mean_ms=prep
            )
            held = s.settle_lock(plan, actor, now)  # what this copy sets: the only lock it may let go
            decision = s.lock(plan, actor, now, self.lock_check_ms)
            outcome = await self.store.commit(rid, f"{key}:lock:{secrets.token_hex(4)}", fingerprint, decision, now)
            if outcome.stored is not None:
                break
            await asyncio.sleep(random.uniform(0, 0.002 * 2**attempt))
        else:
            raise DomainError(ErrorCode.BUSY, "the orders kept changing; retry with the same id")
        assert plan is not None
        now = int(self.clock() * 1000)
        try:
            recorded = await self.books.record(self._settlement(plan, restaurant, actor, now))
        except AlreadySettled as exc:  # by another command id: this one can never be recorded
            await self._release(rid, key, cmd.order_ids, held)
            invoice_id = await self._repair(rid, cmd.order_ids)
            raise DomainError(ErrorCode.ALREADY_SETTLED, str(exc), {"invoice_id": invoice_id}) from None
        except (SQLAlchemyError, OSError) as exc:
            logger.warning("payment %s of %s not recorded: %s", key, rid, exc)
            raise _unavailable("the books (Postgres)") from None
        found = Found(recorded.invoice_id, recorded.invoice_number, plan.bill.total, [])
        payments = list(plan.payments)
        stored = await self._finish(rid, key, fingerprint, cmd.order_ids, found, payments, plan.bill.total, plan.change)
        if recorded.invoice_id is not None:
            await self._revenue(rid, key, restaurant, now)
        return stored

    def _settlement(self, plan: s.PaymentPlan, restaurant: Restaurant, actor: Actor, now: int) -> Settlement:
        bill = plan.bill
        order_id = plan.orders[0].id
        invoice = None
        if plan.settles:
            invoice = InvoiceDraft(
                order_ids=[o.id for o in plan.orders],
                currency=bill.currency,
                gross=bill.gross,
                discount=bill.discount,
                service_charge=bill.service_charge,
                tax=bill.tax,
                total=bill.total,
                bill=bill.model_dump(mode="json"),
                lines=[
                    line.model_dump(mode="json", exclude={"order_id"}) | {"order_id": line.order_id}
                    for line in bill.lines
                ],
                customer_name=plan.customer_name,
            )
        return Settlement(
            key=plan.key,
            restaurant_id=restaurant.id,
            business_day=date.fromisoformat(business_day(now, restaurant.timezone)),
            at=datetime.fromtimestamp(now / 1000, UTC),
            by=actor.device_id,
            role=actor.role.value,
            invoice=invoice,
            payments=[
                PaymentDraft(
                    key=p.id,
                    order_id=order_id,
                    method=p.method.value,
                    amount=p.amount,
                    change=p.change,
                    received=p.received,
                    reference=p.reference,
                )
                for p in plan.payments
            ],
            postings=[plan.posting],
            audit=[
                AuditNote(
                    "SETTLED" if plan.settles else "PAID_PART",
                    "invoice" if plan.settles else "order",
                    "{invoice}" if plan.settles else order_id,
                    {
                        "orders": [o.id for o in plan.orders],
                        "total": bill.total,
                        "paid": plan.amount,
                        "remaining": plan.remaining,
                        "methods": sorted({p.method.value for p in plan.payments}),
                    },
                )
            ],
        )

    async def _finish(
        self,
        rid: str,
        key: str,
        fingerprint: str,
        order_ids: list[str],
        found: Found,
        payments: list[Payment],
        total: int,
        change: int,
        *,
        command_id: str | None = None,
    ) -> StoredResult:
        """Apply what the books recorded, under the paying command's own id (so retries get this answer)."""
        for attempt in range(ATTEMPTS):
            now = int(self.clock() * 1000)
            orders = [o for o in [await self.store.order(rid, i) for i in order_ids] if o is not None]
            tables = await self.store.tables(rid)
            decision = s.finish(
                orders,
                tables,
                key,
                payments,
                total=total,
                change=change,
                invoice_id=found.invoice_id,
                invoice_number=found.invoice_number,
                now=now,
            )
            outcome = await self.store.commit(rid, command_id or key, fingerprint, decision, now)
            if outcome.stored is not None:
                return outcome.stored
            await asyncio.sleep(random.uniform(0, 0.002 * 2**attempt))
        raise DomainError(ErrorCode.BUSY, "recorded, but the live state kept changing; retry with the same id")

    async def _repair(self, rid: str, order_ids: list[str]) -> str | None:
        """The books say these orders were settled: make the live state say so too (it may have lost it).

        Redis can lose its last second of writes in a crash; the books cannot.
        Applying is idempotent, so repairing what was never lost changes nothing.
        """
        assert self.books is not None
        invoice_id = None
        for order_id in order_ids:
            invoice_id = await self.books.invoice_of(rid, order_id)
            if invoice_id is not None:
                break
        if invoice_id is None:
            return None
        invoice = await self.books.invoice(rid, invoice_id)
        if invoice is None or invoice["status"] != "ISSUED":
            return invoice_id
        key = str(invoice["settlement_key"])
        found = await self.books.find(rid, key)
        if found is not None:
            payments = [Payment.model_validate(p) for p in found.payments]
            change = sum(p.change for p in payments)
            await self._finish(
                rid, key, "", list(invoice["order_ids"]), found, payments, invoice["total"], change,
                command_id=f"{key}:repair:{secrets.token_hex(4)}",  # the first answer stays stored under the key
            )  # fmt: skip
        return invoice_id

    async def _release(self, rid: str, key: str, order_ids: list[str], held: SettleLock | None = None) -> None:
        """Let go of the lock of ``key`` (only ``held``, the one this copy took, when given)."""
        for _ in range(ATTEMPTS):
            orders = [o for o in [await self.store.order(rid, i) for i in order_ids] if o is not None]
            now = int(self.clock() * 1000)
            outcome = await self.store.commit(
                rid, f"{key}:release:{secrets.token_hex(4)}", "", s.release(orders, key, held), now
            )
            if outcome.stored is not None:
                return

    async def _revenue(self, rid: str, key: str, restaurant: Restaurant, now: int) -> None:
        """REVENUE_UPDATED to cashiers and managers: the day's figures as the books now have them."""
        assert self.books is not None
        day = business_day(now, restaurant.timezone)
        try:
            figures = await self.books.day_figures(rid, date.fromisoformat(day))
        except (SQLAlchemyError, OSError) as exc:
            logger.warning("revenue figures of %s not read: %s", rid, exc)
            return
        data = e.RevenueUpdated(
            day=day,
            currency=restaurant.currency,
            revenue=figures.revenue,
            invoices=figures.invoices,
            average_bill=figures.average_bill,
            by_method=figures.by_method,
            discounts=figures.discounts,
            tax=figures.tax,
            service_charge=figures.service_charge,
        )
        decision = Decision(result={}, events=(Event("REVENUE_UPDATED", s.MONEY_CHANNELS, data),))
        await self.store.commit(rid, f"{key}:revenue", "", decision, now)

    # -- the lock's due check -------------------------------------------------------------------

    async def check(self, rid: str, key: str) -> str:
        """A payment lock fell due: finish the payment if the books have it, else release the lock."""
        order_ids = [o.id for o in await self.store.open_orders(rid) if o.settling and o.settling.key == key]
        if not order_ids:
            decision = s.release([], key)  # only clears the due check
            await self.store.commit(rid, f"{key}:checked:{secrets.token_hex(4)}", "", decision, self._now())
            return "nothing locked"
        if self.books is None:
            raise _unavailable("the books (Postgres)")
        found = await self.books.find(rid, key)
        if found is None:
            await self._release(rid, key, order_ids)
            return "released"
        payments = [Payment.model_validate(p) for p in found.payments]
        total = found.total if found.total is not None else sum(p.amount for p in payments)
        change = sum(p.change for p in payments)
        await self._finish(rid, key, "", order_ids, found, payments, total, change)
        if found.invoice_id is not None:
            await self._revenue(rid, key, await self._restaurant(rid), self._now())
        return "finished"

    def _now(self) -> int:
        return int(self.clock() * 1000)


def _paid_out(txn: LedgerTransaction) -> int:
    """What a refund gave back: its credits to the tender (asset) accounts."""
    return sum(x.credit for x in txn.entries if x.account.startswith("asset:"))


class BooksOnly:
    """Refunds, voids, the drawer and the day's close: written to the books first, then told live.

    Like payments, each is recorded in Postgres before anything is answered or
    published, under the command's id (its ledger transaction id), so a retry
    finds it instead of posting it twice.
    """

    def __init__(self, settler: Settler, pins: Pins | None) -> None:
        self.settler = settler
        self.store = settler.store
        self.pins = pins

    @property
    def books(self) -> Books:
        if self.settler.books is None:
            raise _unavailable("the books (Postgres)")
        return self.settler.books

    async def _approver(self, actor: Actor, pin: str | None) -> str:
        if pin is None:
            raise DomainError(ErrorCode.PIN_REQUIRED, "a manager's PIN must approve this")
        if self.pins is None:
            raise _unavailable("PIN checks")
        return await self.pins.approver(actor.restaurant_id, actor.device_id, pin)

    async def _invoice(self, actor: Actor, invoice_id: str, *, voided_ok: bool = False) -> dict[str, Any]:
        check_tenant(actor, invoice_id)  # invoice ids start with their restaurant's id, like order ids
        rid = actor.restaurant_id
        invoice = await self.books.invoice(rid, invoice_id)
        if invoice is None:
            raise DomainError(ErrorCode.NOT_FOUND, f"no invoice {invoice_id!r}")
        if invoice["status"] == "VOIDED" and not voided_ok:
            raise DomainError(ErrorCode.INVALID_STATE, f"invoice {invoice['number']} is void")
        return invoice

    async def run(self, actor: Actor, key: str, fingerprint: str, command_type: str, cmd: c.Command) -> StoredResult:
        return await one_copy_at_a_time(
            self.store, actor.restaurant_id, key, fingerprint,
            lambda: self._run(actor, key, fingerprint, command_type, cmd),
        )  # fmt: skip

    async def _run(self, actor: Actor, key: str, fingerprint: str, command_type: str, cmd: c.Command) -> StoredResult:
        rid = actor.restaurant_id
        restaurant = await self.settler._restaurant(rid)
        now = self.settler._now()
        try:
            if isinstance(cmd, c.RefundInvoice):
                settlement, live = await self._refund(actor, key, cmd, now)
            elif isinstance(cmd, c.VoidInvoice):
                settlement, live = await self._void(actor, key, cmd, now)
            elif isinstance(cmd, c.CloseDay):
                settlement, live = await self._close(actor, key, cmd, restaurant, now)
            else:
                assert isinstance(cmd, c.DrawerFloat | c.DrawerPayout)
                settlement, live = self._drawer(actor, key, cmd, now)
            settlement = dataclasses.replace(
                settlement,
                business_day=date.fromisoformat(business_day(now, restaurant.timezone)),
                at=datetime.fromtimestamp(now / 1000, UTC),
            )
            await self.books.record(settlement)
        except (SQLAlchemyError, OSError) as exc:
            logger.warning("%s %s of %s not recorded: %s", command_type, key, rid, exc)
            raise _unavailable("the books (Postgres)") from None
        for _ in range(ATTEMPTS):
            decision = await live()
            outcome = await self.store.commit(rid, key, fingerprint, decision, self.settler._now())
            if outcome.stored is not None:
                if command_type.startswith("invoice."):
                    await self.settler._revenue(rid, key, restaurant, now)
                return outcome.stored
        raise DomainError(ErrorCode.BUSY, "recorded, but the live state kept changing; retry with the same id")

    def _settlement(self, actor: Actor, key: str, postings: list[Any], note: AuditNote, **kw: Any) -> Settlement:
        return Settlement(
            key=key,
            restaurant_id=actor.restaurant_id,
            business_day=date.today(),
            at=datetime.now(UTC),
            by=actor.device_id,
            role=actor.role.value,
            postings=postings,
            audit=[note],
            **kw,
        )

    async def _orders_of(self, rid: str, invoice: dict[str, Any]) -> list[Order]:
        return [o for o in [await self.store.order(rid, i) for i in invoice["order_ids"]] if o is not None]

    async def _refund(self, actor: Actor, key: str, cmd: c.RefundInvoice, now: int) -> tuple[Settlement, Any]:
        rid = actor.restaurant_id
        # Written before (the answer was lost in a crash)? Then finish that one; checking again would refuse it.
        done = await self.books.posted(rid, f"{key}:refund")
        invoice = await self._invoice(actor, cmd.invoice_id, voided_ok=done is not None)
        approver = await self._approver(actor, cmd.pin)
        txns = await self.books.transactions(rid, references=[cmd.invoice_id])
        sale = next((t for t in txns if t.kind is LedgerKind.SALE), None)
        if sale is None:
            raise DomainError(ErrorCode.NOT_FOUND, f"invoice {invoice['number']} has no sale to refund")
        earlier = [
            t for t in txns if t.kind in (LedgerKind.REFUND, LedgerKind.VOID) and (done is None or t.id != done.id)
        ]
        posting = done or billing.refund_entries(
            sale, cmd.amount, cmd.method, earlier=earlier, now=now, by=actor.device_id, txn_id=f"{key}:refund",
            note=cmd.reason,
        )  # fmt: skip
        refunded = cmd.amount + sum(_paid_out(t) for t in earlier if t.kind is LedgerKind.REFUND)
        fully = refunded >= invoice["total"]
        note = AuditNote("REFUNDED", "invoice", cmd.invoice_id,
                         {"amount": cmd.amount, "method": cmd.method.value, "reason": cmd.reason, "approved_by": approver})  # fmt: skip
        settlement = self._settlement(
            actor, key, [posting], note, invoice_status=(cmd.invoice_id, "REFUNDED") if fully else None
        )

        async def live() -> Decision:
            orders = await self._orders_of(rid, invoice)
            changed = tuple(bump(o, payment_status=PaymentStatus.REFUNDED) for o in orders) if fully else ()
            data = e.PaymentRefunded(
                invoice_id=cmd.invoice_id, invoice_number=invoice["number"], order_ids=tuple(invoice["order_ids"]),
                amount=cmd.amount, method=cmd.method, refunded=refunded, approved_by=approver,
            )  # fmt: skip
            channels = (*s.MONEY_CHANNELS, *(f"order:{o}" for o in invoice["order_ids"]))
            result = {"invoice_id": cmd.invoice_id, "refunded": refunded, "fully": fully, "approved_by": approver}
            return Decision(result=result, orders=changed, events=(Event("PAYMENT_REFUNDED", channels, data),))

        return settlement, live

    async def _void(self, actor: Actor, key: str, cmd: c.VoidInvoice, now: int) -> tuple[Settlement, Any]:
        rid = actor.restaurant_id
        done = await self.books.posted(rid, f"{key}:void")  # written before a crash: finish it, do not refuse it
        invoice = await self._invoice(actor, cmd.invoice_id, voided_ok=done is not None)
        approver = await self._approver(actor, cmd.pin)
        txns = await self.books.transactions(rid, references=[cmd.invoice_id, *invoice["order_ids"]])
        posting = done or billing.void_entries(
            txns, reference=cmd.invoice_id, now=now, by=actor.device_id, txn_id=f"{key}:void", note=cmd.reason
        )
        note = AuditNote("VOIDED", "invoice", cmd.invoice_id, {"reason": cmd.reason, "approved_by": approver})
        settlement = self._settlement(actor, key, [posting], note, invoice_status=(cmd.invoice_id, "VOIDED"))

        async def live() -> Decision:
            orders = await self._orders_of(rid, invoice)
            changed = tuple(bump(o, status=OrderStatus.VOIDED, payment_status=PaymentStatus.REFUNDED) for o in orders)
            data = e.OrderVoided(
                invoice_id=cmd.invoice_id, invoice_number=invoice["number"], order_ids=tuple(invoice["order_ids"]),
                total=invoice["total"], approved_by=approver,
            )  # fmt: skip
            channels = (*s.MONEY_CHANNELS, *(f"order:{o}" for o in invoice["order_ids"]))
            result = {"invoice_id": cmd.invoice_id, "voided": invoice["total"], "approved_by": approver}
            return Decision(result=result, orders=changed, events=(Event("ORDER_VOIDED", channels, data),))

        return settlement, live

    def _drawer(self, actor: Actor, key: str, cmd: c.DrawerFloat | c.DrawerPayout, now: int) -> tuple[Settlement, Any]:
        if isinstance(cmd, c.DrawerFloat):
            posting = billing.float_entries(
                cmd.amount, reference=key, now=now, by=actor.device_id, txn_id=f"{key}:float"
            )
            data = e.DrawerMoved(kind=LedgerKind.FLOAT, amount=cmd.amount, by=actor.device_id)
        else:
            posting = billing.payout_entries(
                cmd.amount, cmd.category, note=cmd.note, reference=key, now=now, by=actor.device_id,
                txn_id=f"{key}:payout",
            )  # fmt: skip
            data = e.DrawerMoved(
                kind=LedgerKind.PAYOUT, amount=cmd.amount, category=cmd.category, note=cmd.note, by=actor.device_id
            )
        note = AuditNote(posting.kind.value, "drawer", key, data.model_dump(mode="json"))

        async def live() -> Decision:
            return Decision(
                result={"kind": posting.kind.value, "amount": cmd.amount},
                events=(Event("DRAWER_MOVED", s.MONEY_CHANNELS, data),),
            )

        return self._settlement(actor, key, [posting], note), live

    async def z_report(self, rid: str, day: str, counted_cash: int | None = None) -> ZReport:
        restaurant = await self.settler._restaurant(rid)
        txns = await self.books.transactions(rid, day=date.fromisoformat(day))
        if counted_cash is None:
            closed = await self.books.latest_audit(rid, "DAY_CLOSED", day)
            counted_cash = closed["counted_cash"] if closed else None
        return billing.z_report(day, txns, currency=restaurant.currency, counted_cash=counted_cash)

    async def _close(
        self, actor: Actor, key: str, cmd: c.CloseDay, restaurant: Restaurant, now: int
    ) -> tuple[Settlement, Any]:
        day = cmd.day or business_day(now, restaurant.timezone)
        report = await self.z_report(actor.restaurant_id, day, cmd.counted_cash)
        note = AuditNote(
            "DAY_CLOSED", "day", day, {"counted_cash": cmd.counted_cash, "report": report.model_dump(mode="json")}
        )
        settlement = self._settlement(actor, key, [], note)

        async def live() -> Decision:
            event = Event("DAY_CLOSED", s.MONEY_CHANNELS, e.DayClosed(report=report))
            return Decision(result={"report": report.model_dump(mode="json")}, events=(event,))

        return settlement, live
