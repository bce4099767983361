"""events by month: the durable event log partitioned by committed_at, so old months are dropped whole

The table is made again as a partitioned one (its key gains ``committed_at``, the partition key; a
stream entry always carries the same time, so a retried insert still meets its first copy), with
a partition for everything before this month, one per month from this month on for the next
three (``hub/books/partitions.py`` keeps making them ahead), and a DEFAULT one. The rows move
over in the same transaction.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

COLUMNS = 'restaurant_id, epoch, "offset", type, channels, data, committed_at, stored_at, device, order_ids'


def _months(count: int) -> list[tuple[int, int]]:
    now = datetime.now(UTC)
    year, month = now.year, now.month
    found = []
    for _ in range(count):
        found.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def _bound(year: int, month: int) -> str:
    return f"'{year:04d}-{month:02d}-01T00:00:00+00:00'"


def _set_aside(suffix: str) -> None:
    """Rename the events table and its indexes out of the way while the new one is made and filled."""
    for name in ("events", "pk_events", "ix_events_type", "ix_events_order_ids"):
        kind = "TABLE" if name == "events" else "INDEX"
        op.execute(f"ALTER {kind} {name} RENAME TO {name}_{suffix}")


def _create_events(*, partitioned: bool) -> None:
    """The events table with its indexes: keyed and partitioned by commit time, or as it was before 0007."""
    key = '"offset", committed_at' if partitioned else '"offset"'
    by = " PARTITION BY RANGE (committed_at)" if partitioned else ""
    op.execute(
        f"""
        CREATE TABLE events (
            restaurant_id varchar(64) NOT NULL,
            epoch varchar(32) NOT NULL,
            "offset" bigint NOT NULL,
            type varchar(64) NOT NULL,
            channels varchar(80)[] NOT NULL,
            data jsonb NOT NULL,
            committed_at timestamptz NOT NULL,
            stored_at timestamptz NOT NULL DEFAULT now(),
            device varchar(64) NOT NULL DEFAULT '',
            order_ids varchar(96)[] NOT NULL DEFAULT '{{}}',
            CONSTRAINT pk_events PRIMARY KEY (restaurant_id, epoch, {key})
        ){by}
        """
    )
    op.execute("CREATE INDEX ix_events_type ON events (type)")
    op.execute("CREATE INDEX ix_events_order_ids ON events USING gin (order_ids)")


def upgrade() -> None:
    _set_aside("unpartitioned")
    _create_events(partitioned=True)
    months = _months(4)
    first = months[0]
    op.execute(
        f"CREATE TABLE events_before_{first[0]:04d}_{first[1]:02d} PARTITION OF events "
        f"FOR VALUES FROM (MINVALUE) TO ({_bound(*first)})"
    )
    for (year, month), (next_year, next_month) in zip(months, [*months[1:], _months(5)[-1]], strict=True):
        op.execute(
            f"CREATE TABLE events_{year:04d}_{month:02d} PARTITION OF events "
            f"FOR VALUES FROM ({_bound(year, month)}) TO ({_bound(next_year, next_month)})"
        )
    op.execute("CREATE TABLE events_default PARTITION OF events DEFAULT")
    op.execute(f"INSERT INTO events ({COLUMNS}) SELECT {COLUMNS} FROM events_unpartitioned")
    op.execute("DROP TABLE events_unpartitioned")


def downgrade() -> None:
    _set_aside("partitioned")
    _create_events(partitioned=False)
    op.execute(f"INSERT INTO events ({COLUMNS}) SELECT {COLUMNS} FROM events_partitioned ON CONFLICT DO NOTHING")
    op.execute("DROP TABLE events_partitioned")
