"""outbox: everything that leaves the hub, written in the transaction that made it, and its sync log

Seed 002 pushes each settled invoice to ERPNext and keeps a sync log per invoice; issue 14 asks that a
crash at any point neither lose nor duplicate a push. So what is to be pushed is written by the database
itself, in the same transaction as the ledger posting it is about: a trigger on ``ledger_transactions``
adds an outbox row for every SALE, REFUND and VOID (no writer can forget it, and a posting rolled back
leaves none). A worker drains the rows (``hub/workers/outbox.py``) and keeps every attempt in
``outbox_attempts``: what was sent, what came back, or why it failed.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

ADD = r"""
CREATE FUNCTION outbox_add() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO outbox (restaurant_id, target, kind, subject, reference)
    VALUES (NEW.restaurant_id, 'erpnext', NEW.kind, NEW.id, NEW.reference)
    ON CONFLICT (target, subject) DO NOTHING;
    RETURN NULL;
END
$fn$;
"""

TRIGGER = (
    "CREATE TRIGGER outbox_add AFTER INSERT ON ledger_transactions FOR EACH ROW"
    " WHEN (NEW.kind IN ('SALE', 'REFUND', 'VOID')) EXECUTE FUNCTION outbox_add()"
)


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("restaurant_id", sa.String(64), nullable=False),
        sa.Column("target", sa.String(24), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(96), nullable=False),
        sa.Column("reference", sa.String(96), nullable=False),
        sa.Column("status", sa.String(12), server_default="PENDING", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("last_error", sa.String(1000), nullable=True),
        sa.Column("remote_id", sa.String(140), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("target", "subject", name="uq_outbox_subject"),
    )
    op.create_index("ix_outbox_due", "outbox", ["status", "next_at"])
    op.create_index("ix_outbox_restaurant", "outbox", ["restaurant_id", "created_at"])
    op.create_table(
        "outbox_attempts",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("outbox_id", sa.BigInteger(), sa.ForeignKey("outbox.id"), nullable=False),
        sa.Column("restaurant_id", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("outcome", sa.String(12), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("payload", sa.dialects.postgresql.JSONB(), nullable=True),
        sa.Column("response", sa.dialects.postgresql.JSONB(), nullable=True),
        sa.Column("error", sa.String(1000), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox_attempts"),
    )
    op.create_index("ix_outbox_attempts_outbox", "outbox_attempts", ["outbox_id", "at"])
    op.execute(ADD)
    op.execute(TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER outbox_add ON ledger_transactions")
    op.execute("DROP FUNCTION outbox_add()")
    op.drop_table("outbox_attempts")
    op.drop_table("outbox")
