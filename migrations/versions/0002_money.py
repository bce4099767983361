"""money: invoices, payments, the double-entry ledger and the audit log

The ledger is enforced here, not only by the code that writes it: entries are
append-only, and a deferred constraint trigger refuses any transaction whose
debits and credits differ when it commits.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BALANCED = (
    """
CREATE FUNCTION ledger_transaction_balances() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  txn varchar := COALESCE(NEW.transaction_id, OLD.transaction_id);
  debits bigint;
  credits bigint;
BEGIN
  SELECT COALESCE(SUM(debit), 0), COALESCE(SUM(credit), 0) INTO debits, credits
    FROM ledger_entries WHERE transaction_id = txn;
  IF debits <> credits THEN
    RAISE EXCEPTION 'ledger transaction % does not balance: debits %, credits %', txn, debits, credits
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END $$
""",
    """
CREATE CONSTRAINT TRIGGER ledger_transaction_balances
  AFTER INSERT ON ledger_entries DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION ledger_transaction_balances()
""",
)

APPEND_ONLY = (
    """
CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the ledger is append-only: post a reversing transaction instead'
    USING ERRCODE = 'restrict_violation';
END $$
""",
    "CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries"
    " FOR EACH ROW EXECUTE FUNCTION ledger_append_only()",
    "CREATE TRIGGER ledger_transactions_append_only BEFORE UPDATE OR DELETE ON ledger_transactions"
    " FOR EACH ROW EXECUTE FUNCTION ledger_append_only()",
)


def _money(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "invoice_counters",
        sa.Column("restaurant_id", sa.String(64), nullable=False),
        sa.Column("last_number", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("restaurant_id", name="pk_invoice_counters"),
    )
    op.create_table(
        "invoices",
        sa.Column("id", sa.String(96), nullable=False),
        sa.Column("restaurant_id", sa.String(64), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("settlement_key", sa.String(96), nullable=False),
        sa.Column("business_day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        _money("gross"),
        _money("discount"),
        _money("service_charge"),
        _money("tax"),
        _money("total"),
        sa.Column("customer_name", sa.String(120), nullable=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("bill", postgresql.JSONB(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_invoices"),
        sa.UniqueConstraint("restaurant_id", "number", name="uq_invoices_number"),
        sa.UniqueConstraint("restaurant_id", "settlement_key", name="uq_invoices_settlement_key"),
    )
    op.create_index("ix_invoices_business_day", "invoices", ["business_day"])
    op.create_table(
        "invoice_orders",
        sa.Column("restaurant_id", sa.String(64), nullable=False),
        sa.Column("order_id", sa.String(96), nullable=False),
        sa.Column("invoice_id", sa.String(96), nullable=False),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"], name="fk_invoice_orders_invoice_id"),
        sa.PrimaryKeyConstraint("restaurant_id", "order_id", name="pk_invoice_orders"),
    )
    op.create_index("ix_invoice_orders_invoice_id", "invoice_orders", ["invoice_id"])
    op.create_table(
        "invoice_lines",
        sa.Column("invoice_id", sa.String(96), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.String(96), nullable=False),
        sa.Column("line_id", sa.String(32), nullable=False),
        sa.Column("menu_item_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        _money("unit_price"),
        _money("gross"),
        _money("discount"),
        _money("net"),
        sa.Column("tax_code", sa.String(32), nullable=False),
        sa.Column("tax_rate_bp", sa.Integer(), nullable=False),
        _money("tax"),
        _money("total"),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"], name="fk_invoice_lines_invoice_id"),
        sa.PrimaryKeyConstraint("invoice_id", "line_no", name="pk_invoice_lines"),
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.String(96), nullable=False),
        sa.Column("restaurant_id", sa.String(64), nullable=False),
        sa.Column("payment_key", sa.String(120), nullable=False),
        sa.Column("order_id", sa.String(96), nullable=False),
        sa.Column("invoice_id", sa.String(96), nullable=True),
        sa.Column("method", sa.String(16), nullable=False),
        _money("amount"),
        sa.Column("received", sa.BigInteger(), nullable=True),
        _money("change"),
        sa.Column("reference", sa.String(120), nullable=False),
        sa.Column("business_day", sa.Date(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"], name="fk_payments_invoice_id"),
        sa.PrimaryKeyConstraint("id", name="pk_payments"),
        sa.UniqueConstraint("restaurant_id", "payment_key", name="uq_payments_payment_key"),
    )
    op.create_index("ix_payments_order_id", "payments", ["order_id"])
    op.create_index("ix_payments_invoice_id", "payments", ["invoice_id"])
    op.create_index("ix_payments_business_day", "payments", ["business_day"])
    op.create_table(
        "ledger_transactions",
        sa.Column("id", sa.String(96), nullable=False),
        sa.Column("restaurant_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reference", sa.String(96), nullable=False),
        sa.Column("business_day", sa.Date(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("category", sa.String(48), server_default="", nullable=False),
        sa.Column("note", sa.String(500), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_transactions"),
    )
    op.create_index("ix_ledger_transactions_restaurant_id", "ledger_transactions", ["restaurant_id"])
    op.create_index("ix_ledger_transactions_reference", "ledger_transactions", ["reference"])
    op.create_index("ix_ledger_transactions_business_day", "ledger_transactions", ["business_day"])
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("transaction_id", sa.String(96), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        _money("debit"),
        _money("credit"),
        sa.CheckConstraint("debit >= 0 AND credit >= 0 AND (debit > 0) <> (credit > 0)", name="ck_ledger_entries_side"),
        sa.ForeignKeyConstraint(
            ["transaction_id"], ["ledger_transactions.id"], name="fk_ledger_entries_transaction_id"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_entries"),
    )
    op.create_index("ix_ledger_entries_transaction_id", "ledger_entries", ["transaction_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("restaurant_id", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("action", sa.String(48), nullable=False),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("entity_id", sa.String(96), nullable=False),
        sa.Column("details", postgresql.JSONB(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_restaurant_id", "audit_log", ["restaurant_id"])
    for statement in (*BALANCED, *APPEND_ONLY):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER ledger_transactions_append_only ON ledger_transactions")
    op.execute("DROP TRIGGER ledger_entries_append_only ON ledger_entries")
    op.execute("DROP TRIGGER ledger_transaction_balances ON ledger_entries")
    op.execute("DROP FUNCTION ledger_append_only()")
    op.execute("DROP FUNCTION ledger_transaction_balances()")
    for table in (
        "audit_log",
        "ledger_entries",
        "ledger_transactions",
        "payments",
        "invoice_lines",
        "invoice_orders",
        "invoices",
        "invoice_counters",
    ):
        op.drop_table(table)
