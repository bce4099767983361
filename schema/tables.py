"""The Postgres tables, as SQLAlchemy models; Alembic migrations in ``migrations/`` follow them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "ArchivedOrderRow",
    "AuditRow",
    "Base",
    "BillGroupRow",
    "EventRow",
    "InvoiceCounter",
    "InvoiceLineRow",
    "InvoiceOrderRow",
    "InvoiceRow",
    "LedgerDayBalanceRow",
    "LedgerDayKindRow",
    "LedgerEntryRow",
    "LedgerTransactionRow",
    "PaymentRow",
    "RecommendationRow",
]


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "pk": "pk_%(table_name)s",
            "ix": "ix_%(table_name)s_%(column_0_name)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s",
        }
    )


class EventRow(Base):
    """Every event ever committed, written by the durable writer exactly once.

    The key is the stream position: restaurant, the stream's epoch (it changes
    if the live history is ever reset) and the offset, with the commit time, which
    partitions the table by month (migration 0007; a stream entry's time never changes).
    """

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_order_ids", "order_ids", postgresql_using="gin"),
        {"postgresql_partition_by": "RANGE (committed_at)"},  # by month: hub/books/partitions.py
    )

    restaurant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    epoch: Mapped[str] = mapped_column(String(32), primary_key=True)
    offset: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    type: Mapped[str] = mapped_column(String(64), index=True)
    channels: Mapped[list[str]] = mapped_column(ARRAY(String(80)))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    committed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    stored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    device: Mapped[str] = mapped_column(String(64), server_default="", doc="the device whose command caused it")
    order_ids: Mapped[list[str]] = mapped_column(
        ARRAY(String(96)), server_default="{}", doc="the orders the event is about (an order's history)"
    )


# -- money: invoices, payments, the double-entry ledger, audit ------------------------------------
#
# Written only by settlement (hub/books/books.py), in one transaction per settlement, before the hub
# acknowledges it. The ledger is append-only and every transaction balances: both are enforced by
# triggers in the database (migration 0002), not only by the code that writes it.


class InvoiceCounter(Base):
    """The last invoice number per restaurant; incremented inside the settling transaction, so no gaps."""

    __tablename__ = "invoice_counters"

    restaurant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_number: Mapped[int] = mapped_column(BigInteger)


class InvoiceRow(Base):
    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("restaurant_id", "number", name="uq_invoices_number"),
        UniqueConstraint("restaurant_id", "settlement_key", name="uq_invoices_settlement_key"),
    )

    id: Mapped[str] = mapped_column(String(96), primary_key=True)
    restaurant_id: Mapped[str] = mapped_column(String(64))
    number: Mapped[int] = mapped_column(BigInteger)
    settlement_key: Mapped[str] = mapped_column(String(96), doc="the settle command's id: a retry finds this row")
    business_day: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    gross: Mapped[int] = mapped_column(BigInteger)
    discount: Mapped[int] = mapped_column(BigInteger)
    service_charge: Mapped[int] = mapped_column(BigInteger)
    tax: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    customer_name: Mapped[str | None] = mapped_column(String(120), nullable=True)
    group_id: Mapped[str | None] = mapped_column(
        String(96), nullable=True, index=True, doc="the saved group bill it invoices (its title and references)"
    )
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    bill: Mapped[dict[str, Any]] = mapped_column(JSONB, doc="the whole bill as computed, for reprints")


class InvoiceOrderRow(Base):
    """Which invoice settled an order: one per order, so two settlements of one order cannot both commit."""

    __tablename__ = "invoice_orders"

    restaurant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(96), primary_key=True)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"), index=True)


class InvoiceLineRow(Base):
    __tablename__ = "invoice_lines"

    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"), primary_key=True)
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[str] = mapped_column(String(96), doc="the order the line came from (group bills)")
    line_id: Mapped[str] = mapped_column(String(32))
    menu_item_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[int] = mapped_column(BigInteger)
    gross: Mapped[int] = mapped_column(BigInteger)
    discount: Mapped[int] = mapped_column(BigInteger)
    net: Mapped[int] = mapped_column(BigInteger)
    tax_code: Mapped[str] = mapped_column(String(32))
    tax_rate_bp: Mapped[int] = mapped_column(Integer)
    tax: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)


class PaymentRow(Base):
    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("restaurant_id", "payment_key", name="uq_payments_payment_key"),
        # Part payments not yet invoiced, which the settling invoice takes on (migration 0015): few rows, so the
        # lookup's plan does not hang on the table's statistics.
        Index("ix_payments_unbilled", "restaurant_id", "order_id", postgresql_where=text("invoice_id IS NULL")),
    )

    id: Mapped[str] = mapped_column(String(96), primary_key=True)
    restaurant_id: Mapped[str] = mapped_column(String(64))
    payment_key: Mapped[str] = mapped_column(String(120), doc="command id and tender index: a retry finds it")
    order_id: Mapped[str] = mapped_column(String(96), index=True)
    invoice_id: Mapped[str | None] = mapped_column(ForeignKey("invoices.id"), nullable=True, index=True)
    method: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    received: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    change: Mapped[int] = mapped_column(BigInteger)
    reference: Mapped[str] = mapped_column(String(120))
    business_day: Mapped[date] = mapped_column(Date, index=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LedgerTransactionRow(Base):
    __tablename__ = "ledger_transactions"

    id: Mapped[str] = mapped_column(String(96), primary_key=True)
    restaurant_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str] = mapped_column(String(96), index=True)
    business_day: Mapped[date] = mapped_column(Date, index=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    category: Mapped[str] = mapped_column(String(48), server_default="", doc="payouts: what the cash was for")
    note: Mapped[str] = mapped_column(String(500), server_default="")


class LedgerEntryRow(Base):
    """One side of a ledger transaction: a debit or a credit, never both, never negative."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("debit >= 0 AND credit >= 0 AND (debit > 0) <> (credit > 0)", name="ck_ledger_entries_side"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    transaction_id: Mapped[str] = mapped_column(ForeignKey("ledger_transactions.id"), index=True)
    account: Mapped[str] = mapped_column(String(96), index=True, doc="a rider's cash: asset:rider_cash:<device id>")
    debit: Mapped[int] = mapped_column(BigInteger)
    credit: Mapped[int] = mapped_column(BigInteger)


class LedgerDayKindRow(Base):
    """How many transactions of a kind a restaurant's business day holds, kept by the database itself (a
    trigger on ledger_transactions, migration 0010): a sale's answer tells the tills the day's figures, and
    counting the day's postings for it grew with every sale of the day."""

    __tablename__ = "ledger_day_kinds"

    restaurant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    business_day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    postings: Mapped[int] = mapped_column(BigInteger)


class LedgerDayBalanceRow(Base):
    """An account's debits less credits over a business day's transactions of one kind, kept by the database
    (a trigger on ledger_entries, migration 0010): the day's figures read these rows, not the day's ledger."""

    __tablename__ = "ledger_day_balances"

    restaurant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    business_day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    account: Mapped[str] = mapped_column(String(96), primary_key=True)
    balance: Mapped[int] = mapped_column(BigInteger)


class AuditRow(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        # The last closed day, read by every settlement and revenue figure: not a walk of the whole log.
        Index(
            "ix_audit_log_day_closed",
            "restaurant_id",
            "entity_id",
            postgresql_where=text("action = 'DAY_CLOSED'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    restaurant_id: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(48))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(96))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB)


# -- the customer book ----------------------------------------------------------------------------


class CustomerRow(Base):
    """A customer a restaurant knows: looked up by phone when a takeaway or delivery order is opened."""

    __tablename__ = "customers"
    __table_args__ = (Index("ix_customers_phones", "phones", postgresql_using="gin"),)

    id: Mapped[str] = mapped_column(String(96), primary_key=True)
    restaurant_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(120))
    phones: Mapped[list[str]] = mapped_column(ARRAY(String(32)), doc="digits only")
    addresses: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, doc="[{label, line, notes}]")
    notes: Mapped[str] = mapped_column(String(500), server_default="")
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(64))


# -- saved group bills ----------------------------------------------------------------------------


class BillGroupRow(Base):
    """Orders saved under a title to be invoiced together (``fireflow.schema.groups``)."""

    __tablename__ = "bill_groups"

    id: Mapped[str] = mapped_column(String(96), primary_key=True)
    restaurant_id: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(120))
    customer_name: Mapped[str | None] = mapped_column(String(120), nullable=True)
    reference1: Mapped[str] = mapped_column(String(64), server_default="")
    reference2: Mapped[str] = mapped_column(String(64), server_default="")
    order_ids: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    invoice_id: Mapped[str | None] = mapped_column(
        ForeignKey("invoices.id"), nullable=True, doc="set, once, by the payment that invoices the group"
    )
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(64))


# -- closed orders, out of Redis ------------------------------------------------------------------


class ArchivedOrderRow(Base):
    """A closed order as it last stood, once it left Redis (hub/books/archive.py): what reads of it
    (the API, receipts, refunds) find from then on. A command on it brings it back to Redis."""

    __tablename__ = "archived_orders"

    restaurant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(96), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, doc="the order's revision: a later copy replaces an earlier one")
    status: Mapped[str] = mapped_column(String(16))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, doc="the order record, as the API answers it")
    closed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), doc="when it last went to the closed orders")
    archived_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


# -- recommendations and whether staff followed them ----------------------------------------------


class RecommendationRow(Base):
    """Advice the hub gave staff (settle-now guidance, a sweep's "needs you"), and what they did about it
    (``hub/books/recommendations.py``): the acceptance rate says whether the advice is worth giving."""

    __tablename__ = "recommendations"
    __table_args__ = (Index("ix_recommendations_given_at", "restaurant_id", "given_at"),)

    restaurant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(160), primary_key=True, doc="made from what it is about: given once")
    kind: Mapped[str] = mapped_column(String(24), doc="SETTLEMENT or SWEEP")
    subject: Mapped[str] = mapped_column(String(160))
    order_ids: Mapped[list[str]] = mapped_column(ARRAY(String(96)), server_default="{}")
    recommended: Mapped[str] = mapped_column(String(120), doc="the option the hub recommended")
    options: Mapped[list[str]] = mapped_column(ARRAY(String(120)), doc="every option staff were offered")
    reason: Mapped[str] = mapped_column(String(500))
    given_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    given_to: Mapped[str] = mapped_column(String(64), doc="the device it was shown on (or the manager's channel)")
    chosen: Mapped[str | None] = mapped_column(String(120), nullable=True)
    followed: Mapped[bool | None] = mapped_column(nullable=True, doc="chosen is what was recommended")
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


# -- the outbox: what leaves the hub, and its sync log ---------------------------------------------------------


class OutboxRow(Base):
    """Something to push to a system outside the hub (ERPNext: a sale, a refund, a void), written by a trigger
    in the same transaction as the ledger posting it is about (migration 0012), drained by
    ``hub/workers/outbox.py``: at least once, and the remote side drops a second copy by ``subject``."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("target", "subject", name="uq_outbox_subject"),
        Index("ix_outbox_due", "status", "next_at"),
        Index("ix_outbox_restaurant", "restaurant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    restaurant_id: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(24), doc="where it goes: erpnext")
    kind: Mapped[str] = mapped_column(String(16), doc="the ledger transaction's kind: SALE, REFUND or VOID")
    subject: Mapped[str] = mapped_column(String(96), doc="the ledger transaction's id: the idempotency key")
    reference: Mapped[str] = mapped_column(String(96), doc="the invoice it is about")
    status: Mapped[str] = mapped_column(String(12), server_default="PENDING", doc="PENDING, DONE or FAILED")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_error: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    remote_id: Mapped[str | None] = mapped_column(String(140), nullable=True, doc="its name there (a Sales Invoice)")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class OutboxAttemptRow(Base):
    """One try at pushing an outbox row (seed 002's sync log): what was sent, what came back or why not."""

    __tablename__ = "outbox_attempts"
    __table_args__ = (Index("ix_outbox_attempts_outbox", "outbox_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"))
    restaurant_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    outcome: Mapped[str] = mapped_column(String(12), doc="SENT, ALREADY (it was there), FAILED, LOGGED (no ERPNext)")
    http_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
    error: Mapped[str | None] = mapped_column(String(1000), nullable=True)


# -- webhooks: integrators' subscriptions to a restaurant's events, and each delivery attempt -----------------


class WebhookRow(Base):
    """A URL subscribed to a restaurant's events (all, or some types), delivered in order by
    ``hub/workers/webhooks.py`` from the events table: the cursor is the stream position of the last event it
    took (or skipped, not being of its types); ``webhook.replay`` moves it back."""

    __tablename__ = "webhooks"
    __table_args__ = (
        UniqueConstraint("restaurant_id", "command_id", name="uq_webhooks_command"),
        Index("ix_webhooks_due", "active", "next_at"),
        Index("ix_webhooks_restaurant", "restaurant_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    restaurant_id: Mapped[str] = mapped_column(String(64))
    command_id: Mapped[str] = mapped_column(String(128), doc="the webhook.subscribe that made it: a copy finds it")
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(ARRAY(String(64)), doc="the event types it takes; empty: all")
    secret: Mapped[str] = mapped_column(String(80), doc="the HMAC-SHA256 key of its signatures, made by the hub")
    active: Mapped[bool] = mapped_column(server_default=text("true"), doc="false once unsubscribed (kept for its log)")
    cursor_epoch: Mapped[str] = mapped_column(String(32), doc="the stream epoch of the cursor")
    cursor_offset: Mapped[int] = mapped_column(BigInteger, doc="the last offset delivered or passed over")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0", doc="failed tries at the event after the cursor")
    next_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_error: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class WebhookDeliveryRow(Base):
    """One try at delivering one event to one webhook: its delivery id (the same on every try and replay of that
    event), what the receiver answered or why nothing was."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_webhook", "webhook_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id"))
    restaurant_id: Mapped[str] = mapped_column(String(64))
    delivery_id: Mapped[str] = mapped_column(String(96))
    event_type: Mapped[str] = mapped_column(String(64))
    epoch: Mapped[str] = mapped_column(String(32))
    offset: Mapped[int] = mapped_column(BigInteger)
    http_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
