"""webhooks: integrators' URLs subscribed to a restaurant's events, and the log of every delivery attempt

Issue 14 asks for signed webhooks that a receiver gets every event of, once, after its own outage. The events
are in ``events`` already (the durable writer's, exactly once); a subscription is a cursor into them, moved on
by ``hub/workers/webhooks.py`` after each event the receiver took, and ``webhook_deliveries`` keeps each try.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("restaurant_id", sa.String(64), nullable=False),
        sa.Column("command_id", sa.String(128), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("events", postgresql.ARRAY(sa.String(64)), nullable=False),
        sa.Column("secret", sa.String(80), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("cursor_epoch", sa.String(32), nullable=False),
        sa.Column("cursor_offset", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("last_error", sa.String(1000), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_webhooks"),
        sa.UniqueConstraint("restaurant_id", "command_id", name="uq_webhooks_command"),
    )
    op.create_index("ix_webhooks_due", "webhooks", ["active", "next_at"])
    op.create_index("ix_webhooks_restaurant", "webhooks", ["restaurant_id", "id"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("webhook_id", sa.BigInteger(), sa.ForeignKey("webhooks.id"), nullable=False),
        sa.Column("restaurant_id", sa.String(64), nullable=False),
        sa.Column("delivery_id", sa.String(96), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("epoch", sa.String(32), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(1000), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
    )
    op.create_index("ix_webhook_deliveries_webhook", "webhook_deliveries", ["webhook_id", "id"])


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("webhooks")
