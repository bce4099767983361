"""fireflow_record_settlement's lookups by key: plans that stay right whatever the tables' statistics

Seen with auto_explain during ``fireflow bench settle``: PL/pgSQL keeps each statement's generic plan for the
connection's life, made at its sixth call, while the tables are a few pages long and not yet analyzed. Three
lookups were then planned on ``restaurant_id`` alone and filtered the restaurant's rows one by one:

- the retry lookup ``invoices WHERE restaurant_id AND settlement_key`` went through ``uq_invoices_number``
  (narrower, so cheaper while one row is expected either way): 0.16 ms a settlement against 0.01;
- ``invoice_orders WHERE restaurant_id AND order_id IN (SELECT …)``: a hash semi-join over the restaurant's rows
  of ``pk_invoice_orders``, 0.12 ms;
- attaching part payments, ``UPDATE payments … invoice_id IS NULL AND order_id IN (SELECT …)``, through
  ``uq_payments_payment_key``: 0.18 ms against 0.02.

Autovacuum's first ANALYZE replans them, so a new restaurant's first minutes and the bench paid for it. Now:

- each ``IN (SELECT …)`` is ``= ANY (ARRAY(SELECT …))``: an index condition on every column of the key, which
  no other index of the table matches as well;
- the retry is found through ``invoice_orders``, which the same lookup reads for ALREADY_SETTLED anyway. Every
  invoice holds its orders there from the transaction that wrote it (an invoice has at least one order, and no
  row of ``invoice_orders`` is ever changed or removed), so an invoice under this settlement's key holds these
  very orders; its key is read by the invoice's id only when one is found. A found order under another key is
  refused as before, after the day's checks;
- part payments not yet invoiced have an index of their own (``ix_payments_unbilled``), which holds only them.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

import importlib

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_0009 = importlib.import_module("fireflow.migrations.versions.0009_record_settlement")

# (0009's text, this revision's): each found exactly once, or the migration stops before changing anything.
EDITS = (
    (
        "    held record;\n",
        "    settled_order text;\n    settled_invoice text;\n    duplicate_number bigint;\n",  # 0009's record, unused now
    ),
    (
        """        SELECT i.id, i.number INTO held FROM invoices i
         WHERE i.restaurant_id = rid AND i.settlement_key = s->>'key';
        IF FOUND THEN
            RETURN jsonb_build_object('invoice_id', held.id, 'number', held.number, 'duplicate', true);
        END IF;
""",
        """        SELECT o.order_id, o.invoice_id INTO settled_order, settled_invoice FROM invoice_orders o
         WHERE o.restaurant_id = rid
           AND o.order_id = ANY (ARRAY(SELECT jsonb_array_elements_text(inv->'order_ids'))) LIMIT 1;
        IF FOUND THEN
            SELECT i.number INTO duplicate_number FROM invoices i
             WHERE i.id = settled_invoice AND i.settlement_key = s->>'key';
            IF FOUND THEN
                RETURN jsonb_build_object('invoice_id', settled_invoice, 'number', duplicate_number,
                                          'duplicate', true);
            END IF;
        END IF;
""",
    ),
    (
        "           AND p.payment_key IN (SELECT jsonb_array_elements(s->'payments')->>'payment_key') LIMIT 1;\n",
        "           AND p.payment_key = ANY (ARRAY(SELECT jsonb_array_elements(s->'payments')->>'payment_key'))"
        " LIMIT 1;\n",
    ),
    (
        """         WHERE t.id IN (SELECT rid || '/' || replace(p->>'id', placeholder, '')
                          FROM jsonb_array_elements(s->'postings') p) LIMIT 1;
""",
        """         WHERE t.id = ANY (ARRAY(SELECT rid || '/' || replace(p->>'id', placeholder, '')
                                   FROM jsonb_array_elements(s->'postings') p)) LIMIT 1;
""",
    ),
    (
        """        SELECT o.order_id, o.invoice_id INTO held FROM invoice_orders o
         WHERE o.restaurant_id = rid AND o.order_id IN (SELECT jsonb_array_elements_text(inv->'order_ids')) LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'fireflow books: already settled' USING HINT = 'fireflow-books',
                DETAIL = jsonb_build_object('refused', 'ALREADY_SETTLED', 'order_id', held.order_id,
                                            'invoice_id', held.invoice_id)::text;
""",
        """        IF settled_order IS NOT NULL THEN  -- found above, under another key
            RAISE EXCEPTION 'fireflow books: already settled' USING HINT = 'fireflow-books',
                DETAIL = jsonb_build_object('refused', 'ALREADY_SETTLED', 'order_id', settled_order,
                                            'invoice_id', settled_invoice)::text;
""",
    ),
    (
        "           AND p.order_id IN (SELECT jsonb_array_elements_text(inv->'order_ids'));\n",
        "           AND p.order_id = ANY (ARRAY(SELECT jsonb_array_elements_text(inv->'order_ids')));\n",
    ),
)


def _edited(text: str) -> str:
    for old, new in EDITS:
        if text.count(old) != 1:
            raise RuntimeError(f"0015: expected 0009's text once: {old.strip().splitlines()[0]!r}")
        text = text.replace(old, new)
    return text


def _replacing(text: str) -> str:
    return text.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def upgrade() -> None:
    op.create_index(
        "ix_payments_unbilled",
        "payments",
        ["restaurant_id", "order_id"],
        postgresql_where=sa.text("invoice_id IS NULL"),
    )
    op.execute(_replacing(_edited(_0009.RECORD)))


def downgrade() -> None:
    op.execute(_replacing(_0009.RECORD))
    op.drop_index("ix_payments_unbilled", table_name="payments")
