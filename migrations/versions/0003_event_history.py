"""event history: who caused each event, and which orders it is about

An order's history is every event about it with the device that caused it.
``device`` comes from the stream entry (the commit records the acting device);
``order_ids`` is taken from the event's data by the durable writer, with a GIN
index so one order's events are found without scanning the restaurant's.
Events written before this revision keep ``device`` empty and ``order_ids`` {}.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("events", sa.Column("device", sa.String(64), server_default="", nullable=False))
    op.add_column(
        "events", sa.Column("order_ids", postgresql.ARRAY(sa.String(96)), server_default="{}", nullable=False)
    )
    op.create_index("ix_events_order_ids", "events", ["order_ids"], postgresql_using="gin")


def downgrade() -> None:
    op.drop_index("ix_events_order_ids", table_name="events")
    op.drop_column("events", "order_ids")
    op.drop_column("events", "device")
