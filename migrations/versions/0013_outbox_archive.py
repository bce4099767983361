"""outbox: each sale's invoice also goes to the invoice archive (JSON and PDF, issue 14)

The outbox is one for everything that leaves the hub: the trigger of 0012 now adds, for each SALE, a
second row with target ``archive`` beside ERPNext's, in the posting's own transaction. Sales posted before
this migration are queued for the archive too, so a restaurant's archive holds every invoice it ever made.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

ADD = r"""
CREATE OR REPLACE FUNCTION outbox_add() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO outbox (restaurant_id, target, kind, subject, reference)
    VALUES (NEW.restaurant_id, 'erpnext', NEW.kind, NEW.id, NEW.reference)
    ON CONFLICT (target, subject) DO NOTHING;
    IF NEW.kind = 'SALE' THEN
        INSERT INTO outbox (restaurant_id, target, kind, subject, reference)
        VALUES (NEW.restaurant_id, 'archive', NEW.kind, NEW.id, NEW.reference)
        ON CONFLICT (target, subject) DO NOTHING;
    END IF;
    RETURN NULL;
END
$fn$;
"""

BACKFILL = """
INSERT INTO outbox (restaurant_id, target, kind, subject, reference, created_at)
SELECT restaurant_id, 'archive', kind, id, reference, created_at FROM ledger_transactions WHERE kind = 'SALE'
ON CONFLICT (target, subject) DO NOTHING
"""

PREVIOUS = r"""
CREATE OR REPLACE FUNCTION outbox_add() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO outbox (restaurant_id, target, kind, subject, reference)
    VALUES (NEW.restaurant_id, 'erpnext', NEW.kind, NEW.id, NEW.reference)
    ON CONFLICT (target, subject) DO NOTHING;
    RETURN NULL;
END
$fn$;
"""


def upgrade() -> None:
    op.execute(ADD)
    op.execute(BACKFILL)


def downgrade() -> None:
    op.execute(PREVIOUS)
    op.execute("DELETE FROM outbox_attempts WHERE outbox_id IN (SELECT id FROM outbox WHERE target = 'archive')")
    op.execute("DELETE FROM outbox WHERE target = 'archive'")
