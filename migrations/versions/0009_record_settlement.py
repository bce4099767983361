"""a settlement recorded in one round trip: fireflow_record_settlement and fireflow_day_figures; closed days indexed

A settlement wrote some fifteen statements, each a round trip and each built and compiled by
SQLAlchemy in the hub: most of the hub's CPU per payment (`fireflow bench settle`, py-spy). The same
transaction is now one call of this function with the settlement as JSON
(``fireflow.hub.books.books.Books.record`` builds it): it finds a retry's earlier record, takes the
restaurant's day lock, moves money posted to a closed day to the next, checks a close and the
accounts that may not go below zero, numbers the invoice and writes invoice, orders, lines, payments,
ledger postings and audit notes, and (asked) returns the day's figures for the tills, so telling them
costs no second query (fireflow_day_figures, also behind ``Books.day_figures``). What it refuses it raises with the hint ``fireflow-books`` and the
reason as JSON in the detail, and the whole call rolls back (an invoice number included).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

LAST_CLOSED = r"""
CREATE FUNCTION fireflow_last_closed(p_rid text) RETURNS date
LANGUAGE sql STABLE AS $fn$
    SELECT max(a.entity_id)::date FROM audit_log a WHERE a.restaurant_id = p_rid AND a.action = 'DAY_CLOSED'
$fn$;
"""

OPEN_DAY = r"""
CREATE FUNCTION fireflow_open_day(p_rid text, p_day date) RETURNS date
LANGUAGE sql STABLE AS $fn$
    -- The day money taken on p_day goes to: p_day, or the day after the last closed one when p_day is closed.
    SELECT CASE WHEN last IS NULL OR p_day > last THEN p_day ELSE last + 1 END
      FROM (SELECT fireflow_last_closed(p_rid) AS last) closed
$fn$;
"""

DAY_FIGURES = r"""
CREATE FUNCTION fireflow_day_figures(p_rid text, p_day date) RETURNS jsonb
LANGUAGE sql STABLE AS $fn$
    -- A business day's takings as the ledger has them: each account's balance over the day's sales postings
    -- (the drawer's float and payouts are not takings), and how many postings of each kind.
    SELECT jsonb_build_object(
        'day', p_day,
        'accounts', coalesce((
            SELECT jsonb_object_agg(a.account, a.balance) FROM (
                SELECT e.account, sum(e.debit) - sum(e.credit) AS balance
                  FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id
                 WHERE t.restaurant_id = p_rid AND t.business_day = p_day
                   AND t.kind IN ('SALE', 'DEPOSIT', 'REFUND', 'VOID')
                 GROUP BY e.account) a), '{}'::jsonb),
        'kinds', coalesce((
            SELECT jsonb_object_agg(k.kind, k.n) FROM (
                SELECT t.kind, count(*) AS n FROM ledger_transactions t
                 WHERE t.restaurant_id = p_rid AND t.business_day = p_day GROUP BY t.kind) k), '{}'::jsonb))
$fn$;
"""

RECORD = r"""
CREATE FUNCTION fireflow_record_settlement(s jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    rid text := s->>'restaurant_id';
    inv jsonb := nullif(s->'invoice', 'null'::jsonb);
    closing jsonb := nullif(s->'closing', 'null'::jsonb);
    new_status jsonb := nullif(s->'invoice_status', 'null'::jsonb);
    placeholder text := s->>'invoice_ref';
    post_day date := (s->>'business_day')::date;
    posted_at timestamptz := (s->>'at')::timestamptz;
    last_closed date;
    counted bigint;
    held record;
    guarded record;
    posting jsonb;
    txn_id text;
    new_invoice_id text;
    inv_number bigint;
    ref text;
BEGIN
    -- The day lock: postings and closes of one restaurant take turns, so a close sees every posting
    -- of its day and none lands in a day once it is closed.
    PERFORM pg_advisory_xact_lock(hashtext('fireflow-day:' || rid));
    -- Written before under the same key (a retry, maybe racing its original on another node, which
    -- held the lock until it committed): that record is the answer.
    IF inv IS NOT NULL THEN
        SELECT i.id, i.number INTO held FROM invoices i
         WHERE i.restaurant_id = rid AND i.settlement_key = s->>'key';
        IF FOUND THEN
            RETURN jsonb_build_object('invoice_id', held.id, 'number', held.number, 'duplicate', true);
        END IF;
    ELSIF jsonb_array_length(s->'payments') > 0 THEN
        PERFORM 1 FROM payments p WHERE p.restaurant_id = rid
           AND p.payment_key IN (SELECT jsonb_array_elements(s->'payments')->>'payment_key') LIMIT 1;
        IF FOUND THEN
            RETURN jsonb_build_object('invoice_id', NULL, 'number', NULL, 'duplicate', true);
        END IF;
    ELSE
        PERFORM 1 FROM ledger_transactions t
         WHERE t.id IN (SELECT rid || '/' || replace(p->>'id', placeholder, '')
                          FROM jsonb_array_elements(s->'postings') p) LIMIT 1;
        IF FOUND THEN
            RETURN jsonb_build_object('invoice_id', NULL, 'number', NULL, 'duplicate', true);
        END IF;
    END IF;

    last_closed := fireflow_last_closed(rid);
    IF closing IS NOT NULL THEN
        IF last_closed IS NOT NULL AND last_closed >= (closing->>'day')::date THEN
            RAISE EXCEPTION 'fireflow books: day closed' USING HINT = 'fireflow-books',
                DETAIL = jsonb_build_object('refused', 'DAY_CLOSED', 'day', closing->>'day',
                                            'last', last_closed)::text;
        END IF;
        SELECT count(*) INTO counted FROM ledger_transactions t
         WHERE t.restaurant_id = rid AND t.business_day = (closing->>'day')::date;
        IF counted <> (closing->>'seen')::bigint THEN
            RAISE EXCEPTION 'fireflow books: day moved' USING HINT = 'fireflow-books',
                DETAIL = jsonb_build_object('refused', 'DAY_MOVED', 'day', closing->>'day')::text;
        END IF;
    ELSE
        post_day := fireflow_open_day(rid, post_day);
    END IF;

    -- Accounts the postings may not take below zero (a rider's cash), with the day lock held.
    FOR guarded IN SELECT g.key AS account, g.value::bigint AS moved FROM jsonb_each_text(s->'no_overdraw') g LOOP
        SELECT coalesce(sum(e.debit - e.credit), 0) INTO counted FROM ledger_entries e
          JOIN ledger_transactions t ON t.id = e.transaction_id
         WHERE t.restaurant_id = rid AND e.account = guarded.account;
        IF counted + guarded.moved < 0 THEN
            RAISE EXCEPTION 'fireflow books: overdrawn' USING HINT = 'fireflow-books',
                DETAIL = jsonb_build_object('refused', 'OVERDRAWN', 'account', guarded.account,
                                            'balance', counted)::text;
        END IF;
    END LOOP;

    IF inv IS NOT NULL THEN
        SELECT o.order_id, o.invoice_id INTO held FROM invoice_orders o
         WHERE o.restaurant_id = rid AND o.order_id IN (SELECT jsonb_array_elements_text(inv->'order_ids')) LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'fireflow books: already settled' USING HINT = 'fireflow-books',
                DETAIL = jsonb_build_object('refused', 'ALREADY_SETTLED', 'order_id', held.order_id,
                                            'invoice_id', held.invoice_id)::text;
        END IF;
        -- The counter row stays locked until commit: concurrent settlements number one after another,
        -- and one rolled back gives its number back.
        INSERT INTO invoice_counters AS c (restaurant_id, last_number) VALUES (rid, 1)
            ON CONFLICT (restaurant_id) DO UPDATE SET last_number = c.last_number + 1
            RETURNING c.last_number INTO inv_number;
        new_invoice_id := rid || '.inv' || inv_number;
        INSERT INTO invoices (id, restaurant_id, number, settlement_key, business_day, status, currency, gross,
                              discount, service_charge, tax, total, customer_name, group_id, created_by,
                              created_at, bill)
        VALUES (new_invoice_id, rid, inv_number, s->>'key', post_day, 'ISSUED', inv->>'currency', (inv->>'gross')::bigint,
                (inv->>'discount')::bigint, (inv->>'service_charge')::bigint, (inv->>'tax')::bigint,
                (inv->>'total')::bigint, inv->>'customer_name', inv->'group'->>'id', s->>'by', posted_at,
                inv->'bill' || jsonb_build_object('invoice_id', new_invoice_id, 'number', inv_number)
                    || CASE WHEN jsonb_typeof(inv->'group') = 'object'
                            THEN jsonb_build_object('group', inv->'group') ELSE '{}'::jsonb END);
        IF jsonb_typeof(inv->'group') = 'object' THEN  -- a group is invoiced once
            UPDATE bill_groups g SET invoice_id = new_invoice_id
             WHERE g.restaurant_id = rid AND g.id = inv->'group'->>'id' AND g.invoice_id IS NULL;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'fireflow books: group invoiced' USING HINT = 'fireflow-books',
                    DETAIL = jsonb_build_object('refused', 'ALREADY_SETTLED',
                                                'order_id', 'of group ' || (inv->'group'->>'id'),
                                                'invoice_id', 'another invoice')::text;
            END IF;
        END IF;
        INSERT INTO invoice_orders (restaurant_id, order_id, invoice_id)
        SELECT rid, o, new_invoice_id FROM jsonb_array_elements_text(inv->'order_ids') o;
        INSERT INTO invoice_lines
        SELECT r.* FROM jsonb_array_elements(inv->'lines') WITH ORDINALITY AS x(line, n),
               jsonb_populate_record(NULL::invoice_lines,
                                     x.line || jsonb_build_object('invoice_id', new_invoice_id, 'line_no', x.n)) r;
        -- Part payments taken before the bill was settled now belong to this invoice.
        UPDATE payments p SET invoice_id = new_invoice_id
         WHERE p.restaurant_id = rid AND p.invoice_id IS NULL
           AND p.order_id IN (SELECT jsonb_array_elements_text(inv->'order_ids'));
    END IF;

    INSERT INTO payments
    SELECT r.* FROM jsonb_array_elements(s->'payments') AS x(payment),
           jsonb_populate_record(NULL::payments, x.payment || jsonb_build_object(
               'restaurant_id', rid, 'invoice_id', new_invoice_id, 'business_day', post_day,
               'created_by', s->>'by', 'created_at', s->>'at')) r;

    ref := coalesce(new_invoice_id, '');
    FOR posting IN SELECT * FROM jsonb_array_elements(s->'postings') LOOP
        txn_id := rid || '/' || replace(posting->>'id', placeholder, ref);
        INSERT INTO ledger_transactions (id, restaurant_id, kind, reference, business_day, created_by, created_at,
                                         category, note)
        VALUES (txn_id, rid, posting->>'kind', replace(posting->>'reference', placeholder, ref), post_day, s->>'by',
                posted_at,
                posting->>'category', left(posting->>'note', 500));
        INSERT INTO ledger_entries (transaction_id, account, debit, credit)
        SELECT txn_id, e->>'account', (e->>'debit')::bigint, (e->>'credit')::bigint
          FROM jsonb_array_elements(posting->'entries') e;
    END LOOP;

    IF new_status IS NOT NULL THEN
        UPDATE invoices i SET status = new_status->>1 WHERE i.restaurant_id = rid AND i.id = new_status->>0;
    END IF;

    INSERT INTO audit_log (restaurant_id, at, actor, role, action, entity, entity_id, details)
    SELECT rid, posted_at, s->>'by', s->>'role', a->>'action', a->>'entity', replace(a->>'entity_id', placeholder, ref),
           a->'details'
      FROM jsonb_array_elements(s->'audit') a;

    -- Asked for (a sale, to tell the tills the day's revenue): the figures of the day it went to, which
    -- hold it and every posting committed before it.
    RETURN jsonb_build_object('invoice_id', new_invoice_id, 'number', inv_number, 'duplicate', false,
                              'figures', CASE WHEN (s->>'figures')::boolean
                                              THEN fireflow_day_figures(rid, post_day) END);
END
$fn$;
"""


def upgrade() -> None:
    # The last closed day, which every settlement and every revenue figure reads, found without
    # walking the restaurant's whole audit log.
    op.create_index(
        "ix_audit_log_day_closed",
        "audit_log",
        ["restaurant_id", "entity_id"],
        postgresql_where=sa.text("action = 'DAY_CLOSED'"),
    )
    op.execute(LAST_CLOSED)
    op.execute(OPEN_DAY)
    op.execute(DAY_FIGURES)
    op.execute(RECORD)


def downgrade() -> None:
    op.execute("DROP FUNCTION fireflow_record_settlement(jsonb)")
    op.execute("DROP FUNCTION fireflow_day_figures(text, date)")
    op.execute("DROP FUNCTION fireflow_open_day(text, date)")
    op.execute("DROP FUNCTION fireflow_last_closed(text)")
    op.drop_index("ix_audit_log_day_closed", table_name="audit_log")
