"""a business day's ledger totals kept by the database: ledger_day_kinds and ledger_day_balances

Every sale's answer carries the day's figures (fireflow_day_figures, migration 0009) so the tills show the
day's revenue. Those were summed over every posting of the day, so each sale cost Postgres more than the one
before it: at the 400th sale of a day the sum was 45 % of the settlement's time in the database (`fireflow
bench settle`, pg_stat_user_functions). Two tables now hold each day's running totals: how many
transactions of each kind, and each account's debits less credits by kind. Triggers on the two
ledger tables add every inserted row to them, so no writer can forget them (the ledger is append-only: there are
no updates or deletes to follow), and the day's figures read a handful of rows. Rows already in the ledger
are summed into them here.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import importlib

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# Row triggers, not statement triggers over the inserted rows: a query over a trigger's transition table is
# planned again on every call (0.25 ms a settlement, pg_stat_statements), these simple statements once per
# connection. Every writer of one restaurant's ledger takes its day lock first (fireflow_record_settlement),
# so two transactions never add to the same rows at once.
ADD_KINDS = r"""
CREATE FUNCTION ledger_day_kinds_add() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO ledger_day_kinds AS k (restaurant_id, business_day, kind, postings)
    VALUES (NEW.restaurant_id, NEW.business_day, NEW.kind, 1)
    ON CONFLICT (restaurant_id, business_day, kind) DO UPDATE SET postings = k.postings + 1;
    RETURN NULL;
END
$fn$;
"""

ADD_BALANCES = r"""
CREATE FUNCTION ledger_day_balances_add() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO ledger_day_balances AS b (restaurant_id, business_day, kind, account, balance)
    SELECT t.restaurant_id, t.business_day, t.kind, NEW.account, NEW.debit - NEW.credit
      FROM ledger_transactions t WHERE t.id = NEW.transaction_id
    ON CONFLICT (restaurant_id, business_day, kind, account) DO UPDATE SET balance = b.balance + excluded.balance;
    RETURN NULL;
END
$fn$;
"""

TRIGGERS = (
    "CREATE TRIGGER ledger_day_kinds_add AFTER INSERT ON ledger_transactions"
    " FOR EACH ROW EXECUTE FUNCTION ledger_day_kinds_add()",
    "CREATE TRIGGER ledger_day_balances_add AFTER INSERT ON ledger_entries"
    " FOR EACH ROW EXECUTE FUNCTION ledger_day_balances_add()",
)

BACKFILL = (
    """
INSERT INTO ledger_day_kinds (restaurant_id, business_day, kind, postings)
SELECT restaurant_id, business_day, kind, count(*) FROM ledger_transactions GROUP BY 1, 2, 3
""",
    """
INSERT INTO ledger_day_balances (restaurant_id, business_day, kind, account, balance)
SELECT t.restaurant_id, t.business_day, t.kind, e.account, sum(e.debit - e.credit)
  FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id GROUP BY 1, 2, 3, 4
""",
)

# The same answer as 0009's, from the totals: the sales, deposits, refunds and voids by account (the drawer's
# float and payouts are not takings), and how many postings of each kind.
DAY_FIGURES = r"""
CREATE OR REPLACE FUNCTION fireflow_day_figures(p_rid text, p_day date) RETURNS jsonb
LANGUAGE sql STABLE AS $fn$
    SELECT jsonb_build_object(
        'day', p_day,
        'accounts', coalesce((
            SELECT jsonb_object_agg(a.account, a.balance) FROM (
                SELECT b.account, sum(b.balance) AS balance FROM ledger_day_balances b
                 WHERE b.restaurant_id = p_rid AND b.business_day = p_day
                   AND b.kind IN ('SALE', 'DEPOSIT', 'REFUND', 'VOID')
                 GROUP BY b.account) a), '{}'::jsonb),
        'kinds', coalesce((
            SELECT jsonb_object_agg(k.kind, k.postings) FROM ledger_day_kinds k
             WHERE k.restaurant_id = p_rid AND k.business_day = p_day), '{}'::jsonb))
$fn$;
"""


def upgrade() -> None:
    op.create_table(
        "ledger_day_kinds",
        sa.Column("restaurant_id", sa.String(64), nullable=False),
        sa.Column("business_day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("postings", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("restaurant_id", "business_day", "kind", name="pk_ledger_day_kinds"),
    )
    op.create_table(
        "ledger_day_balances",
        sa.Column("restaurant_id", sa.String(64), nullable=False),
        sa.Column("business_day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("account", sa.String(96), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("restaurant_id", "business_day", "kind", "account", name="pk_ledger_day_balances"),
    )
    # No posting may land between the sums and the triggers: the ledger is held still while both are made.
    op.execute("LOCK TABLE ledger_transactions, ledger_entries IN SHARE MODE")
    for statement in (ADD_KINDS, ADD_BALANCES, *TRIGGERS, *BACKFILL, DAY_FIGURES):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER ledger_day_balances_add ON ledger_entries")
    op.execute("DROP TRIGGER ledger_day_kinds_add ON ledger_transactions")
    op.execute("DROP FUNCTION ledger_day_balances_add()")
    op.execute("DROP FUNCTION ledger_day_kinds_add()")
    earlier = importlib.import_module("fireflow.migrations.versions.0009_record_settlement")
    op.execute(earlier.DAY_FIGURES.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    op.drop_table("ledger_day_balances")
    op.drop_table("ledger_day_kinds")
