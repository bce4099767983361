"""riders' cash in the ledger: account names long enough for a rider's device id, and an index to sum them

A rider's cash is an account of its own, ``asset:rider_cash:<device id>`` (up to 81 characters), whose
balance is summed when a rider hands cash in and for the Z-report's carried-over figures.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("ledger_entries", "account", type_=sa.String(96), existing_type=sa.String(64))
    op.create_index("ix_ledger_entries_account", "ledger_entries", ["account"])


def downgrade() -> None:
    op.drop_index("ix_ledger_entries_account", table_name="ledger_entries")
    op.alter_column("ledger_entries", "account", type_=sa.String(64), existing_type=sa.String(96))
