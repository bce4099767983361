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
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections.abc import Callable
from datetime import UTC, date, datetime

from sqlalchemy.exc import SQLAlchemyError

from hub.books import AlreadySettled, AuditNote, Books, Found, InvoiceDraft, PaymentDraft, Settlement
from hub.domain import settlement as s
from hub.domain.actors import Actor
from hub.domain.decision import Decision, Event
from hub.domain.errors import DomainError
from hub.domain.orders import business_day, check_tenant
from hub.store import Store, StoredResult
from schema import commands as c
from schema import events as e
from schema.billing import Payment
from schema.protocol import ErrorCode
from schema.records import Order, Restaurant

__all__ = ["Settler"]

logger = logging.getLogger(__name__)

ATTEMPTS = 8


def _unavailable(what: str) -> DomainError:
    return DomainError(ErrorCode.UNAVAILABLE, f"{what} is unavailable; retry with the same id")


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

    async def preview(self, actor: Actor, cmd: c.PreviewBill) -> Decision:
        restaurant = await self._restaurant(actor.restaurant_id)
        orders = await self._orders(actor, cmd.order_ids)
        return s.preview(orders, restaurant.billing, restaurant.currency)

    # -- paying ---------------------------------------------------------------------------------

    async def pay(self, actor: Actor, key: str, fingerprint: str, cmd: c.PayOrder) -> StoredResult:
        rid = actor.restaurant_id
        if self.books is None:
            raise _unavailable("the books (Postgres)")
        restaurant = await self._restaurant(rid)
        prep = {(p.station, p.menu_item_id): p.mean_ms for p in await self.store.prep_stats(rid)}
        plan: s.PaymentPlan | None = None
        for attempt in range(ATTEMPTS):
            now = int(self.clock() * 1000)
            orders = await self._orders(actor, cmd.order_ids)
            for order in orders:
                s.check_bill_lock(order, actor, now)
            plan = s.plan_payment(
                orders, restaurant.billing, restaurant.currency, cmd, actor, now, key=key, prep_mean_ms=prep
            )
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
        except AlreadySettled as exc:
            await self._release(rid, key, cmd.order_ids)
            raise DomainError(ErrorCode.ALREADY_SETTLED, str(exc), {"invoice_id": exc.invoice_id}) from None
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
            outcome = await self.store.commit(rid, key, fingerprint, decision, now)
            if outcome.stored is not None:
                return outcome.stored
            await asyncio.sleep(random.uniform(0, 0.002 * 2**attempt))
        raise DomainError(ErrorCode.BUSY, "recorded, but the live state kept changing; retry with the same id")

    async def _release(self, rid: str, key: str, order_ids: list[str]) -> None:
        for _ in range(ATTEMPTS):
            orders = [o for o in [await self.store.order(rid, i) for i in order_ids] if o is not None]
            now = int(self.clock() * 1000)
            outcome = await self.store.commit(
                rid, f"{key}:release:{secrets.token_hex(4)}", "", s.release(orders, key), now
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
            average_bill=figures.revenue // figures.invoices if figures.invoices else 0,
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
        return "finished"

    def _now(self) -> int:
        return int(self.clock() * 1000)
