"""Money, durable first: load, let the domain decide, record in Postgres, then apply live under the command id.

Why this order: a terminal is told "paid" (or "refunded", "voided") only once
Postgres has committed it, so no crash of Redis or of the hub after the answer
can lose it. What is allowed and what is recorded is decided in the domain
(``fireflow.hub.domain.settlement`` for payments, ``fireflow.hub.domain.books_rules`` for
refunds, voids, the drawer and the day's close); this module only runs the
sequence: load → decide → record → apply → tell revenue.

Payments first lock the bill in Redis (a field on each order, set atomically
with a version check), so the bill cannot change while Postgres writes it.
Applying is an idempotent commit under the paying command's own id, so a retry
returns the first answer, and a hub that died in between is finished by the
lock's due check or by the client's retry. A lock whose payment never reached
Postgres is released by that due check. Postgres down: the answer is
UNAVAILABLE (retryable, same id), the lock waits for the check, and nothing in
the kitchen path touches Postgres.

Copies of one command id (a till resending after a timeout, to any node) are
run one after another by the bus (``fireflow.hub.commands.bus.one_copy_at_a_time``):
no copy checks a PIN, posts, or lets go of a lock its twin holds.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from fireflow.hub.books.books import (
    AlreadySettled,
    Books,
    Closing,
    DayClosed,
    DayFigures,
    DayMoved,
    Found,
    InvoiceDraft,
    Overdrawn,
    PaymentDraft,
    Recorded,
    Settlement,
)
from fireflow.hub.books.groups import Groups
from fireflow.hub.books.recommendations import Recommendations
from fireflow.hub.commands.pins import Pins
from fireflow.hub.domain import billing, delivery, groups, recommendations, settlement
from fireflow.hub.domain import books_rules as rules
from fireflow.hub.domain.actors import Actor, Role
from fireflow.hub.domain.decision import Decision, Event
from fireflow.hub.domain.errors import DomainError
from fireflow.hub.domain.money import major
from fireflow.hub.domain.orders import business_day, check_tenant
from fireflow.hub.live.devices import Devices
from fireflow.hub.live.store import Store, StoredResult
from fireflow.hub.retry import until_committed
from fireflow.schema import commands as c
from fireflow.schema import events as e
from fireflow.schema.billing import LedgerKind, LedgerTransaction, Payment, TenderMethod, ZReport
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.records import DeliveryStatus, Order, OrderStatus, Restaurant, SettleLock

__all__ = ["BooksOnly", "Settler"]

logger = logging.getLogger(__name__)

APPLY_BUSY = "recorded, but the live state kept changing; retry with the same id"
CLOSE_ATTEMPTS = 5
GROUP_ON_INVOICE = (
    "id",
    "title",
    "customer_name",
    "reference1",
    "reference2",
)  # a saved group, as its invoice keeps it


def _unavailable(what: str) -> DomainError:
    return DomainError(ErrorCode.UNAVAILABLE, f"{what} is unavailable; retry with the same id")


def _rider_moves(postings: Sequence[LedgerTransaction]) -> dict[str, tuple[str, int]]:
    """Which riders' cash these postings move: rider -> (how: COD or the posting's kind, amount)."""
    return {
        rider: ("COD" if posting.kind is LedgerKind.SALE else posting.kind.value, amount)
        for posting in postings
        for rider, amount in billing.rider_balances([posting]).items()
    }


REVENUE = "told:revenue"  # where commit.lua keeps the rank of the figures last told (Decision.latest)


def _revenue_event(figures: DayFigures, restaurant: Restaurant) -> Event:
    """REVENUE_UPDATED to cashiers and managers: the day's figures as the books have them."""
    data = e.RevenueUpdated(
        day=figures.day.isoformat(),
        currency=restaurant.currency,
        revenue=figures.revenue,
        invoices=figures.invoices,
        average_bill=figures.average_bill,
        by_method=figures.by_method,
        discounts=figures.discounts,
        tax=figures.tax,
        service_charge=figures.service_charge,
    )
    return Event("REVENUE_UPDATED", settlement.MONEY_CHANNELS, data)


def _day_and_time(now: int, restaurant: Restaurant) -> tuple[date, datetime]:
    return date.fromisoformat(business_day(now, restaurant.timezone)), datetime.fromtimestamp(now / 1000, UTC)


class Settler:
    def __init__(
        self,
        store: Store,
        books: Books | None,
        *,
        lock_check_ms: int = 30_000,
        clock: Callable[[], float] = time.time,
        recommendations: Recommendations | None = None,
    ) -> None:
        self.store = store
        self.books = books
        self.recommendations = recommendations  # the guidance given, and what the cashier did
        self.lock_check_ms = lock_check_ms
        self.clock = clock
        # Per restaurant, the latest figures read on this node (and the command they came with), and whose
        # figures are being told now (_revenue).
        self._revenue_latest: dict[str, tuple[DayFigures, str]] = {}
        self._revenue_telling: set[str] = set()

    def _now(self) -> int:
        return int(self.clock() * 1000)

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

    async def _live_orders(self, rid: str, order_ids: list[str] | tuple[str, ...]) -> list[Order]:
        """Those of the orders still in the live state (Redis may have lost some; the books have not)."""
        return [o for o in [await self.store.order(rid, i) for i in order_ids] if o is not None]

    async def _restaurant(self, rid: str) -> Restaurant:
        return await self.store.restaurant(rid) or Restaurant(id=rid, name=rid)

    # -- paying ---------------------------------------------------------------------------------

    async def pay(self, actor: Actor, key: str, fingerprint: str, cmd: c.PayOrder) -> StoredResult:
        """Lock the bill, record the payment, apply it; the bus runs one copy of ``key`` at a time."""
        if self.books is None:
            raise _unavailable("the books (Postgres)")
        rid = actor.restaurant_id
        restaurant = await self._restaurant(rid)
        group = await self._group(actor, cmd, key) if cmd.group_id is not None else None
        if group is not None and cmd.customer_name is None:
            cmd = cmd.model_copy(update={"customer_name": group["customer_name"]})
        try:
            plan, held, locked = await self._lock(actor, key, fingerprint, cmd, restaurant)
        except DomainError as exc:
            if exc.code is ErrorCode.ITEMS_NOT_READY and exc.details and self.recommendations is not None:
                advice = recommendations.settlement_recommendation(cmd.order_ids, exc.details["guidance"])
                await self.recommendations.given(rid, advice, actor.device_id, self._now())
            raise
        now = self._now()
        recorded = await self._record(
            rid, key, cmd.order_ids, held, self._settlement(plan, restaurant, actor, now, group)
        )
        found = Found(recorded.invoice_id, recorded.invoice_number, plan.bill.total, ())
        payments = list(plan.payments)
        stored = await self._finish(
            rid, key, fingerprint, cmd.order_ids, found, payments, plan.bill.total, plan.change,
            pickup_estimate_ms=plan.pickup_estimate_ms, locked=locked, revenue=self._told(recorded, restaurant),
        )  # fmt: skip
        if recorded.invoice_id is not None and recorded.figures is None:  # a retry the books had: read them
            await self._revenue(rid, key, restaurant, now)
        if plan.forced_by is not None and self.recommendations is not None:  # settled after guidance
            chosen = recommendations.settlement_choice(plan.orders, forced=True)
            advised = recommendations.settlement_id(cmd.order_ids)
            await self.recommendations.decided(rid, [advised], chosen, actor.device_id, now)
        return stored

    async def _record(self, rid: str, key: str, order_ids: list[str], held: SettleLock, s: Settlement) -> Recorded:
        """Write a locked payment to the books; refused for good (settled by another command): the lock goes."""
        assert self.books is not None
        try:
            return await self.books.record(s)
        except AlreadySettled as exc:  # by another command id: this one can never be recorded
            await self._release(rid, key, order_ids, held)
            invoice_id = await self.repair(rid, order_ids)
            raise DomainError(ErrorCode.ALREADY_SETTLED, str(exc), {"invoice_id": invoice_id}) from None
        except (SQLAlchemyError, OSError) as exc:
            logger.warning("payment %s of %s not recorded: %s", key, rid, exc)
            raise _unavailable("the books (Postgres)") from None

    # -- delivering: cash on delivery is a payment, to the rider's cash ---------------------------

    async def deliver(self, actor: Actor, key: str, fingerprint: str, cmd: c.DeliveryDeliver) -> StoredResult:
        """The customer has the order. Prepaid, it closes. Cash on delivery: the cash is a payment (COD, to the
        rider's cash account) recorded in the books first, then the order is paid, DELIVERED and closed in one
        commit, and the rider's cash is told. The bus runs one copy of ``key`` at a time."""
        rid = actor.restaurant_id
        restaurant = await self._restaurant(rid)
        (order,) = await self._orders(actor, [cmd.order_id])
        if key in order.payment_keys and order.delivery and order.delivery.status is DeliveryStatus.DELIVERED:
            # Paid and delivered by this very command, finished by the payment lock's due check after a
            # crash: the rider's retry is answered with where the order is, nothing done again.
            done = Decision(result={"order": order, "closed": order.status is OrderStatus.CLOSED})
            outcome = await self.store.commit(rid, key, fingerprint, done, self._now())
            if outcome.stored is not None:
                return outcome.stored
        if key not in order.payment_keys:  # else its payment is applied already (a due check finished it)
            due = delivery.check_delivery(order, cmd, actor, settings=restaurant.billing, currency=restaurant.currency)
            if due:
                if self.books is None:
                    raise _unavailable("the books (Postgres)")
                plan, held, locked = await self._lock(
                    actor, key, fingerprint, delivery.cod_tender(order, due), restaurant, on_delivery=True
                )
                now = self._now()
                recorded = await self._record(
                    rid, key, [order.id], held, self._settlement(plan, restaurant, actor, now)
                )
                found = Found(recorded.invoice_id, recorded.invoice_number, plan.bill.total, ())
                stored = await self._finish(
                    rid, key, fingerprint, [order.id], found, list(plan.payments), plan.bill.total, 0,
                    delivered=actor, locked=locked, revenue=self._told(recorded, restaurant),
                )  # fmt: skip
                if recorded.figures is None:  # a retry the books had: read them
                    await self._revenue(rid, key, restaurant, now)
                moved = _rider_moves((plan.posting,))
                await self._rider_cash(rid, key, moved, actor.device_id, self._now(), order_id=order.id)
                return stored

        async def attempt() -> StoredResult | None:
            now = self._now()
            (live,) = await self._orders(actor, [cmd.order_id])
            decision = delivery.delivered(live, actor, now, collected=cmd.collected)
            return (await self.store.commit(rid, key, fingerprint, decision, now)).stored

        return await until_committed(attempt, busy=lambda: APPLY_BUSY)

    async def _rider_cash(
        self,
        rid: str,
        key: str,
        moved: Mapping[str, tuple[str, int]],
        by: str,
        now: int,
        order_id: str | None = None,
    ) -> None:
        """RIDER_CASH to dispatch, cashiers, managers and the rider: each moved rider's cash as the books now hold
        it; ``moved``: rider -> (how, amount) (``_rider_moves``)."""
        assert self.books is not None
        if not moved:
            return
        try:
            held = await self.books.balances(rid, accounts=[billing.rider_account(r) for r in moved])
        except (SQLAlchemyError, OSError) as exc:
            logger.warning("riders' cash of %s not read: %s", rid, exc)
            return
        events = tuple(
            Event(
                "RIDER_CASH",
                ("dispatch", *settlement.MONEY_CHANNELS, f"rider:{rider}"),
                e.RiderCashChanged(
                    rider=rider,
                    kind=kind,
                    amount=amount,
                    holds=held.get(billing.rider_account(rider), 0),
                    order_id=order_id,
                    by=by,
                ),
            )
            for rider, (kind, amount) in moved.items()
        )
        await self.store.commit(rid, f"{key}:rider_cash", "", Decision(result={}, events=events), now)

    async def _lock(
        self,
        actor: Actor,
        key: str,
        fingerprint: str,
        cmd: c.PayOrder,
        restaurant: Restaurant,
        on_delivery: bool = False,
    ) -> tuple[settlement.PaymentPlan, SettleLock, list[Order]]:
        """Plan the payment on the orders as they are and lock them, again while they keep changing.

        Also the orders as the lock left them: the payment's finish starts from those instead of reading
        them again (a command that changed one since makes its commit conflict, and it reads them then).
        """
        rid = actor.restaurant_id

        async def attempt() -> tuple[settlement.PaymentPlan, SettleLock, list[Order]] | None:
            now = self._now()
            orders = await self._orders(actor, cmd.order_ids)
            for order in orders:
                settlement.check_bill_lock(order, actor, now)
            prep: dict[tuple[str, str], int] = {}
            if settlement.unfinished(orders):  # only guidance and the pickup estimate need the prep times
                prep = {(p.station, p.menu_item_id): p.mean_ms for p in await self.store.prep_stats(rid)}
            plan = settlement.plan_payment(
                orders, restaurant.billing, restaurant.currency, cmd, actor, now,
                key=key, prep_mean_ms=prep, on_delivery=on_delivery,
            )  # fmt: skip
            held = settlement.settle_lock(plan, actor, now)  # what this copy sets: the only lock it may let go
            decision = settlement.lock(plan, actor, now, self.lock_check_ms)
            outcome = await self.store.commit(rid, f"{key}:lock:{secrets.token_hex(4)}", fingerprint, decision, now)
            if outcome.stored is None:
                return None
            changed = {o.id: o for o in decision.orders}
            return plan, held, [changed.get(o.id, o) for o in orders]

        return await until_committed(attempt, busy=lambda: "the orders kept changing; retry with the same id")

    async def _group(self, actor: Actor, cmd: c.PayOrder, key: str) -> dict[str, Any]:
        """The saved group the payment names: this restaurant's, not yet invoiced, holding these orders.

        Invoiced by this very command (recorded, then the answer lost) is not "already invoiced": the
        retry goes on to find its own invoice and finish.
        """
        assert self.books is not None and cmd.group_id is not None
        if not cmd.group_id.startswith(actor.restaurant_id + "."):
            raise DomainError(ErrorCode.WRONG_TENANT, "that group belongs to another restaurant")
        try:
            found = await Groups(self.books.engine).get(actor.restaurant_id, cmd.group_id)
        except (SQLAlchemyError, OSError) as exc:
            raise _unavailable("the books (Postgres)") from exc
        if found is None:
            raise DomainError(ErrorCode.NOT_FOUND, f"no group {cmd.group_id!r}")
        if found["invoice_id"] is None or await self.books.settlement_key(found["invoice_id"]) != key:
            rid = actor.restaurant_id
            orders = {order_id: await self.store.order(rid, order_id) for order_id in found["order_ids"]}
            included = [o.id for o in groups.sort_out(found["order_ids"], orders).included]
            groups.check_payment(found, cmd.order_ids, included)
        return found

    def _settlement(
        self,
        plan: settlement.PaymentPlan,
        restaurant: Restaurant,
        actor: Actor,
        now: int,
        group: Mapping[str, Any] | None = None,
    ) -> Settlement:
        """What the books record of a payment: the plan, in their rows' shapes."""
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
                group=None if group is None else {k: group[k] for k in GROUP_ON_INVOICE},
            )
        day, at = _day_and_time(now, restaurant)
        return Settlement(
            key=plan.key,
            restaurant_id=restaurant.id,
            business_day=day,
            at=at,
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
            audit=[plan.audit],
            figures=plan.settles,  # a sale: the tills are told the day's revenue
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
        pickup_estimate_ms: int | None = None,
        delivered: Actor | None = None,
        locked: list[Order] | None = None,
        revenue: tuple[Event, int] | None = None,
    ) -> StoredResult:
        """Apply what the books recorded, under the paying command's own id (so retries get this answer).

        ``delivered``: the payment was cash on delivery, and the order is delivered by that actor in the same commit.
        ``locked``: the orders as this command's lock committed them, for the first try (no read).
        ``revenue``: REVENUE_UPDATED with the figures the books answered the payment with, told in the same
        commit unless a later reading was told first (``_told``).
        """
        known = locked

        async def attempt() -> StoredResult | None:
            nonlocal known
            now = self._now()
            live = known if known is not None else await self._live_orders(rid, order_ids)
            known = None  # a conflict: the next try reads them
            decision = settlement.finish(
                live,
                await self.store.tables(rid) if any(o.table_id for o in live) else [],  # only a table's order has one
                key,
                payments,
                total=total,
                change=change,
                invoice_id=found.invoice_id,
                invoice_number=found.invoice_number,
                now=now,
                pickup_estimate_ms=pickup_estimate_ms,
            )
            if delivered is not None:
                collected = sum(p.amount for p in payments)
                decision = delivery.paid_and_delivered(decision, delivered, now, collected=collected)
            if revenue is not None:
                told, rank = revenue
                decision = dataclasses.replace(decision, events=(*decision.events, told), latest=(REVENUE, rank))
            return (await self.store.commit(rid, command_id or key, fingerprint, decision, now)).stored

        return await until_committed(attempt, busy=lambda: APPLY_BUSY)

    async def repair(self, rid: str, order_ids: list[str]) -> str | None:
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
        if invoice is None or invoice.status is not rules.InvoiceStatus.ISSUED:
            return invoice_id
        key = invoice.settlement_key
        found = await self.books.find(rid, key)
        if found is not None:
            change = sum(p.change for p in found.payments)
            await self._finish(
                rid, key, "", list(invoice.order_ids), found, list(found.payments), invoice.total, change,
                command_id=f"{key}:repair:{secrets.token_hex(4)}",  # the first answer stays stored under the key
            )  # fmt: skip
        return invoice_id

    async def _release(self, rid: str, key: str, order_ids: list[str], held: SettleLock | None = None) -> bool:
        """Let go of the lock of ``key`` (only ``held``, the one this copy took, when given).

        Giving up is logged as an error: the lock then stays until its due check releases it.
        """

        async def attempt() -> StoredResult | None:
            now = self._now()
            decision = settlement.release(await self._live_orders(rid, order_ids), key, held)
            return (await self.store.commit(rid, f"{key}:release:{secrets.token_hex(4)}", "", decision, now)).stored

        try:
            await until_committed(attempt, busy=lambda: "the orders kept changing")
        except DomainError as exc:
            logger.error(
                "payment lock %s of %s (orders %s) not released: %s; its due check will try again",
                key, rid, ", ".join(order_ids), exc.message,
            )  # fmt: skip
            return False
        return True

    async def _revenue(self, rid: str, key: str, restaurant: Restaurant, now: int) -> None:
        """REVENUE_UPDATED to cashiers and managers: the day's figures as the books now have them.

        (A sale tells the figures its own record answered with, in its finishing commit: ``_told``.)
        Told in order on this node: one telling per restaurant at a time, always of the latest reading
        (readings compare by day and postings, the ledger being append only), and the commit drops a
        reading a later one overtook, on any node (``Decision.latest``), so a till never sees the
        figures go back.
        """
        assert self.books is not None
        today = date.fromisoformat(business_day(now, restaurant.timezone))
        try:
            figures = await self.books.open_day_figures(rid, today)  # after a close: the next day's figures
        except (SQLAlchemyError, OSError) as exc:
            logger.warning("revenue figures of %s not read: %s", rid, exc)
            return
        latest = self._revenue_latest.get(rid)
        if latest is not None and latest[0].order >= figures.order:
            return  # a later reading is told, or is about to be
        self._revenue_latest[rid] = (figures, key)
        if rid in self._revenue_telling:
            return  # the telling under way tells this one next
        self._revenue_telling.add(rid)
        try:
            told = None
            while (latest := self._revenue_latest[rid]) is not told:
                told = latest
                await self._tell_revenue(rid, *latest, restaurant)
        finally:
            self._revenue_telling.discard(rid)

    def _told(self, recorded: Recorded, restaurant: Restaurant) -> tuple[Event, int] | None:
        """A sale's REVENUE_UPDATED and its rank, for ``_finish``; None when the books gave no figures."""
        if recorded.invoice_id is None or recorded.figures is None:
            return None
        return _revenue_event(recorded.figures, restaurant), recorded.figures.rank

    async def _tell_revenue(self, rid: str, figures: DayFigures, key: str, restaurant: Restaurant) -> None:
        decision = Decision(result={}, events=(_revenue_event(figures, restaurant),), latest=(REVENUE, figures.rank))
        await self.store.commit(rid, f"{key}:revenue", "", decision, self._now())

    # -- the lock's due check -------------------------------------------------------------------

    async def check(self, rid: str, key: str) -> str:
        """A payment lock fell due: finish the payment if the books have it, else release the lock."""
        order_ids = [o.id for o in await self.store.open_orders(rid) if o.settling and o.settling.key == key]
        if not order_ids:
            decision = settlement.release([], key)  # only clears the due check
            await self.store.commit(rid, f"{key}:checked:{secrets.token_hex(4)}", "", decision, self._now())
            return "nothing locked"
        if self.books is None:
            raise _unavailable("the books (Postgres)")
        found = await self.books.find(rid, key)
        if found is None:
            return "released" if await self._release(rid, key, order_ids) else "not released yet"
        payments = list(found.payments)
        total = found.total if found.total is not None else sum(p.amount for p in payments)
        change = sum(p.change for p in payments)
        cod = [p for p in payments if p.method is TenderMethod.COD]
        # Cash on delivery is in the books only once the rider delivered: the order is delivered as it is paid,
        # under an id of its own, so the rider's retry of the delivery (its own id) is still answered.
        rider = Actor(rid, Role.RIDER, cod[0].reference) if cod else None
        await self._finish(
            rid, key, "", order_ids, found, payments, total, change,
            delivered=rider, command_id=f"{key}:checked" if cod else None,
        )  # fmt: skip
        if found.invoice_id is not None:
            await self._revenue(rid, key, await self._restaurant(rid), self._now())
        if rider is not None:
            moved = {rider.device_id: ("COD", sum(p.amount for p in cod))}
            await self._rider_cash(rid, key, moved, rider.device_id, self._now(), order_id=order_ids[0])
        return "finished"


class BooksOnly:
    """Refunds, voids, the drawer and the day's close: written to the books first, then told live.

    Like payments, each is recorded in Postgres before anything is answered or
    published, under the command's id (its ledger transaction id), so a retry
    finds it instead of posting it twice.
    """

    def __init__(self, settler: Settler, pins: Pins | None, devices: Devices | None = None) -> None:
        self.settler = settler
        self.store = settler.store
        self.pins = pins
        self.devices = devices

    @property
    def books(self) -> Books:
        if self.settler.books is None:
            raise _unavailable("the books (Postgres)")
        return self.settler.books

    async def run(self, actor: Actor, key: str, fingerprint: str, command_type: str, cmd: c.Command) -> StoredResult:
        """Load, decide, record, apply, tell revenue; the bus runs one copy of ``key`` at a time."""
        rid = actor.restaurant_id
        restaurant = await self.settler._restaurant(rid)
        now = self.settler._now()
        try:
            for _ in range(CLOSE_ATTEMPTS):  # a close whose day took money meanwhile makes its report again
                move = await self._decide(actor, key, command_type, cmd, restaurant, now)
                day, at = _day_and_time(now, restaurant)
                closing = Closing(date.fromisoformat(move.closes[0]), move.closes[1]) if move.closes else None
                settled = Settlement(
                    key=key,
                    restaurant_id=rid,
                    business_day=day,
                    at=at,
                    by=actor.device_id,
                    role=actor.role.value,
                    postings=move.postings,
                    audit=[move.audit],
                    invoice_status=move.invoice_status,
                    closing=closing,
                    no_overdraw=move.no_overdraw,
                )
                try:
                    await self.books.record(settled)
                    break
                except DayMoved:
                    continue
                except Overdrawn as exc:  # a concurrent handover got there first
                    rider = billing.rider_of(exc.account) or exc.account
                    held = major(exc.balance, restaurant.currency, restaurant.minor_digits)
                    raise DomainError(
                        ErrorCode.INVALID_STATE,
                        f"rider {rider} holds {held} {restaurant.currency} now: cannot hand in more than that",
                        {"rider": rider, "holds": exc.balance},
                    ) from None
            else:
                raise DomainError(
                    ErrorCode.BUSY, "money kept arriving while the day was closing; retry with the same id"
                )
        except DayClosed as exc:
            raise DomainError(
                ErrorCode.INVALID_STATE,
                f"{exc}; money taken now goes to the next day",
                {"day": exc.day.isoformat(), "last_closed": exc.last.isoformat()},
            ) from None
        except (SQLAlchemyError, OSError) as exc:
            logger.warning("%s %s of %s not recorded: %s", command_type, key, rid, exc)
            raise _unavailable("the books (Postgres)") from None

        async def apply() -> StoredResult | None:
            decision = move.live(await self.settler._live_orders(rid, move.order_ids))
            return (await self.store.commit(rid, key, fingerprint, decision, self.settler._now())).stored

        stored = await until_committed(apply, busy=lambda: APPLY_BUSY)
        if move.tells_revenue:
            await self.settler._revenue(rid, key, restaurant, now)
        moved = _rider_moves(move.postings)
        await self.settler._rider_cash(rid, key, moved, actor.device_id, self.settler._now())
        return stored

    async def _decide(
        self, actor: Actor, key: str, command_type: str, cmd: c.Command, restaurant: Restaurant, now: int
    ) -> rules.BooksMove:
        """Load what the rules need from the books, check the PIN they ask for, and let them decide."""
        by = actor.device_id
        if isinstance(cmd, c.RiderCashMove):
            device = await self.devices.get(actor.restaurant_id, cmd.rider) if self.devices is not None else None
            if device is not None and (command_type == "rider.float" or device.role != Role.RIDER.value):
                delivery.check_rider(cmd.rider, device)  # not a rider; or revoked, which may still hand cash in
            done = await self.books.posted(actor.restaurant_id, f"{key}:handover")
            if done is not None:  # written before (the answer was lost): finish that one, the balance has moved since
                return rules.rider_cash(cmd, handover=True, holds=cmd.amount, key=key, by=by, now=now)
            account = billing.rider_account(cmd.rider)
            holds = (await self.books.balances(actor.restaurant_id, accounts=[account])).get(account, 0)
            handover = command_type == "rider.handover"
            return rules.rider_cash(
                cmd, handover=handover, holds=holds, key=key, by=by, now=now,
                currency=restaurant.currency, digits=restaurant.minor_digits,
            )  # fmt: skip
        if isinstance(cmd, c.RefundInvoice):
            # Written before (the answer was lost in a crash)? Then finish that one; checking again would refuse it.
            invoice, done = await self._invoice(actor, cmd.invoice_id, rules.refund_id(key))
            approver = await self._approver(actor, cmd.pin)
            txns = await self.books.transactions(actor.restaurant_id, references=[cmd.invoice_id])
            return rules.refund(invoice, txns, cmd, key=key, by=by, approved_by=approver, now=now, done=done)
        if isinstance(cmd, c.VoidInvoice):
            invoice, done = await self._invoice(actor, cmd.invoice_id, rules.void_id(key))
            approver = await self._approver(actor, cmd.pin)
            txns = await self.books.transactions(actor.restaurant_id, references=[cmd.invoice_id, *invoice.order_ids])
            return rules.void(invoice, txns, cmd, key=key, by=by, approved_by=approver, now=now, done=done)
        if isinstance(cmd, c.CloseDay):
            today = date.fromisoformat(business_day(now, restaurant.timezone))
            day = cmd.day or today.isoformat()
            open_day = await self.books.open_day(actor.restaurant_id, today)
            if date.fromisoformat(day) > open_day:  # closed, no money could ever go to the days before it
                raise DomainError(
                    ErrorCode.INVALID_STATE,
                    f"{day} cannot be closed: it has not begun (money goes to {open_day.isoformat()} now)",
                    {"day": day, "open_day": open_day.isoformat()},
                )
            txns = await self.books.transactions(actor.restaurant_id, day=date.fromisoformat(day))
            carried = await self.riders_carried_in(actor.restaurant_id, day)
            return rules.close_day(
                day, txns, currency=restaurant.currency, counted_cash=cmd.counted_cash, riders_carried_in=carried
            )
        assert isinstance(cmd, c.DrawerFloat | c.DrawerPayout), type(cmd)
        return rules.drawer(cmd, key=key, by=by, now=now)

    async def _invoice(
        self, actor: Actor, invoice_id: str, posting_id: str
    ) -> tuple[rules.Invoice, LedgerTransaction | None]:
        """The invoice a refund or void is about, and this command's posting if a crash left it written."""
        check_tenant(actor, invoice_id)  # invoice ids start with their restaurant's id, like order ids
        rid = actor.restaurant_id
        done = await self.books.posted(rid, posting_id)
        invoice = rules.require_invoice(
            await self.books.invoice(rid, invoice_id), invoice_id, finishing=done is not None
        )
        return invoice, done

    async def _approver(self, actor: Actor, pin: str | None) -> str:
        typed = rules.approval(pin)
        if self.pins is None:
            raise _unavailable("PIN checks")
        return await self.pins.approver(actor.restaurant_id, actor.device_id, typed)

    async def z_report(self, rid: str, day: str, counted_cash: int | None = None) -> ZReport:
        """The day's Z-report from the books; the drawer as counted at its close, if it was closed."""
        restaurant = await self.settler._restaurant(rid)
        txns = await self.books.transactions(rid, day=date.fromisoformat(day))
        if counted_cash is None:
            closed = await self.books.latest_audit(rid, "DAY_CLOSED", day)
            counted_cash = closed.details["counted_cash"] if closed else None
        carried = await self.riders_carried_in(rid, day)
        return billing.z_report(
            day, txns, currency=restaurant.currency, counted_cash=counted_cash, riders_carried_in=carried
        )

    async def riders_carried_in(self, rid: str, day: str) -> dict[str, int]:
        """What each rider held before ``day``: their cash accounts over the earlier days."""
        before = await self.books.balances(rid, prefix=billing.RIDER_CASH_PREFIX, before=date.fromisoformat(day))
        return {billing.rider_of(account) or account: held for account, held in before.items()}

    async def riders(self, rid: str) -> dict[str, int]:
        """What each rider holds now, as the books have it."""
        held = await self.books.balances(rid, prefix=billing.RIDER_CASH_PREFIX)
        return {billing.rider_of(account) or account: value for account, value in held.items()}
