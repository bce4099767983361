"""recommendations: advice the hub gave staff and whether they followed it

Seed 004 asks that each recommendation be logged with whether staff followed it. The settle-now
guidance a cashier gets on a bill with items not ready, and a sweep's finding that needs a person,
are written here when given; what was done is written when it is known (a settlement with force, a
fault put right), and a bill paid after waiting is read from the invoices.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recommendations",
        sa.Column("restaurant_id", sa.String(64), nullable=False),
        sa.Column("id", sa.String(160), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("subject", sa.String(160), nullable=False),
        sa.Column("order_ids", sa.ARRAY(sa.String(96)), server_default="{}", nullable=False),
        sa.Column("recommended", sa.String(120), nullable=False),
        sa.Column("options", sa.ARRAY(sa.String(120)), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("given_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("given_to", sa.String(64), nullable=False),
        sa.Column("chosen", sa.String(120), nullable=True),
        sa.Column("followed", sa.Boolean(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("restaurant_id", "id", name="pk_recommendations"),
    )
    op.create_index("ix_recommendations_given_at", "recommendations", ["restaurant_id", "given_at"])


def downgrade() -> None:
    op.drop_table("recommendations")
