"""customers: the customer book (names, phones as digits, delivery addresses, notes)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.String(96), nullable=False),
        sa.Column("restaurant_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("phones", postgresql.ARRAY(sa.String(32)), nullable=False),
        sa.Column("addresses", postgresql.JSONB(), nullable=False),
        sa.Column("notes", sa.String(500), server_default="", nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_customers"),
    )
    op.create_index("ix_customers_restaurant_id", "customers", ["restaurant_id"])
    op.create_index("ix_customers_phones", "customers", ["phones"], postgresql_using="gin")


def downgrade() -> None:
    op.drop_index("ix_customers_phones", table_name="customers")
    op.drop_index("ix_customers_restaurant_id", table_name="customers")
    op.drop_table("customers")
