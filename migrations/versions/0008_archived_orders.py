"""closed orders out of Redis: the archived_orders table

The archiver (in the durable writer) moves an order that has been closed for
``FIREFLOW_CLOSED_KEEP`` seconds from Redis into this table, so Redis holds the day's work and
not every order ever taken; reads of an order fall back to it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "archived_orders",
        sa.Column("restaurant_id", sa.String(64), nullable=False),
        sa.Column("order_id", sa.String(96), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("data", postgresql.JSONB(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("restaurant_id", "order_id", name="pk_archived_orders"),
    )


def downgrade() -> None:
    op.drop_table("archived_orders")
