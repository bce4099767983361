"""bill_groups: saved group bills (title, customer, references, orders), and the invoice that pays one

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("invoices", sa.Column("group_id", sa.String(96), nullable=True))
    op.create_index("ix_invoices_group_id", "invoices", ["group_id"])
    op.create_table(
        "bill_groups",
        sa.Column("id", sa.String(96), nullable=False),
        sa.Column("restaurant_id", sa.String(64), nullable=False),
        sa.Column("title", sa.String(120), nullable=False),
        sa.Column("customer_name", sa.String(120), nullable=True),
        sa.Column("reference1", sa.String(64), server_default="", nullable=False),
        sa.Column("reference2", sa.String(64), server_default="", nullable=False),
        sa.Column("order_ids", postgresql.ARRAY(sa.String(64)), nullable=False),
        sa.Column("invoice_id", sa.String(96), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"], name="fk_bill_groups_invoice_id"),
        sa.PrimaryKeyConstraint("id", name="pk_bill_groups"),
    )
    op.create_index("ix_bill_groups_restaurant_id", "bill_groups", ["restaurant_id"])


def downgrade() -> None:
    op.drop_index("ix_bill_groups_restaurant_id", table_name="bill_groups")
    op.drop_table("bill_groups")
    op.drop_index("ix_invoices_group_id", table_name="invoices")
    op.drop_column("invoices", "group_id")
