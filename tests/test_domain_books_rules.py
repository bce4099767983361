"""Refunds, voids, the drawer and the day's close without servers: what is allowed, posted, audited and told live."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fireflow.hub.domain import billing as b
from fireflow.hub.domain import books_rules as rules
from fireflow.hub.domain.errors import DomainError
from fireflow.schema import commands as c
from fireflow.schema.billing import (
    BillingSettings,
    LedgerKind,
    LedgerTransaction,
    TaxMode,
    TaxRate,
    Tender,
    TenderMethod,
)
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.records import Order, OrderStatus, PaymentStatus
from tests.domain_support import DAY, NOW, with_items

SETTINGS = BillingSettings(tax_mode=TaxMode.EXCLUSIVE, taxes=(TaxRate(code="GST5", rate_bp=500),))
CASH, CARD = TenderMethod.CASH, TenderMethod.CARD
KEY = "cmd-1"


def _sold(*menu_ids: str) -> tuple[rules.Invoice, LedgerTransaction, Order]:
    """An order of ``menu_ids`` settled by card as invoice 7, its SALE posting, and the order."""
    order = with_items(*menu_ids)
    bill = b.compute_bill([order], SETTINGS, "INR")
    taken = b.take_payments(bill.total, 0, [Tender(method=CARD, amount=bill.total)], NOW, "till-1", ["p1"])
    sale = b.payment_entries(bill, taken.payments, deposited=0, reference="demo.inv7", now=NOW, by="till-1", txn_id="s")
    invoice = rules.Invoice("demo.inv7", 7, rules.InvoiceStatus.ISSUED, bill.total, (order.id,))
    return invoice, sale, order


def _refund(amount: int, method: TenderMethod = CASH) -> c.RefundInvoice:
    return c.RefundInvoice(invoice_id="demo.inv7", amount=amount, method=method, reason="cold", pin="1234")


def _refunded(invoice: rules.Invoice, txns: list[LedgerTransaction], amount: int, key: str = KEY) -> rules.BooksMove:
    return rules.refund(invoice, txns, _refund(amount), key=key, by="till-1", approved_by="manager-1", now=NOW)


def test_an_invoice_must_exist_and_not_be_void_unless_finishing() -> None:
    """No invoice is NOT_FOUND; a void one is INVALID_STATE, except when finishing a command written before."""
    invoice, _, _ = _sold("burger")
    with pytest.raises(DomainError) as err:
        rules.require_invoice(None, "demo.inv9")
    assert err.value.code is ErrorCode.NOT_FOUND
    voided = rules.Invoice(invoice.id, invoice.number, rules.InvoiceStatus.VOIDED, invoice.total, invoice.order_ids)
    with pytest.raises(DomainError) as err:
        rules.require_invoice(voided, voided.id)
    assert err.value.code is ErrorCode.INVALID_STATE
    assert rules.require_invoice(voided, voided.id, finishing=True) is voided
    assert rules.require_invoice(invoice, invoice.id) is invoice


def test_refunds_and_voids_need_a_pin() -> None:
    """Without a PIN a refund or void is PIN_REQUIRED; with one, that PIN is what the shell checks."""
    with pytest.raises(DomainError) as err:
        rules.approval(None)
    assert err.value.code is ErrorCode.PIN_REQUIRED
    assert rules.approval("1234") == "1234"


def test_a_part_refund_posts_audits_and_tells_the_money_channels() -> None:
    """A part refund: one REFUND posting under the command's id, the audit note, the event; the order stays as it is."""
    invoice, sale, order = _sold("burger", "fries")
    move = _refunded(invoice, [sale], 1000)
    (posting,) = move.postings
    assert (posting.kind, posting.id, posting.reference, posting.note) == (LedgerKind.REFUND, "cmd-1:refund",
                                                                          "demo.inv7", "cold")  # fmt: skip
    assert move.audit.action == "REFUNDED" and move.audit.entity_id == "demo.inv7"
    assert move.audit.details == {"amount": 1000, "method": "CASH", "reason": "cold", "approved_by": "manager-1"}
    assert move.result == {"invoice_id": "demo.inv7", "refunded": 1000, "fully": False, "approved_by": "manager-1"}
    assert move.invoice_status is None and move.tells_revenue
    live = move.live([order])
    assert live.orders == () and [ev.type for ev in live.events] == ["PAYMENT_REFUNDED"]
    assert set(live.events[0].channels) == {"cashier", "manager", f"order:{order.id}"}


def test_a_full_refund_marks_the_invoice_and_the_orders_refunded() -> None:
    """Refunding the rest: the invoice becomes REFUNDED and its orders' payment REFUNDED (a new version)."""
    invoice, sale, order = _sold("burger")
    first = _refunded(invoice, [sale], 1000, key="r1")
    rest = _refunded(invoice, [sale, *first.postings], invoice.total - 1000, key="r2")
    assert rest.result["refunded"] == invoice.total and rest.result["fully"] is True
    assert rest.invoice_status == ("demo.inv7", rules.InvoiceStatus.REFUNDED)
    (changed,) = rest.live([order]).orders
    assert (changed.payment_status, changed.version) == (PaymentStatus.REFUNDED, order.version + 1)


def test_a_refund_written_before_a_crash_is_finished_not_refused() -> None:
    """Its own posting found in the books is reused as written, and not counted as an earlier refund."""
    invoice, sale, _ = _sold("burger")
    first = _refunded(invoice, [sale], invoice.total)
    (written,) = first.postings
    again = rules.refund(invoice, [sale, written], _refund(invoice.total), key=KEY, by="till-1",
                         approved_by="manager-1", now=NOW + 5, done=written)  # fmt: skip
    assert again.postings == (written,) and again.result == first.result
    with pytest.raises(DomainError) as err:  # without it, the same refund under another id is too much
        _refunded(invoice, [sale, written], invoice.total, key="other")
    assert err.value.code is ErrorCode.AMOUNT_MISMATCH


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 60_000), min_size=1, max_size=8))
def test_refunds_never_give_back_more_than_the_invoice(amounts: list[int]) -> None:
    """Any run of refund requests: those accepted never add up past the total, and 'fully' means exactly all."""
    invoice, sale, _ = _sold("burger", "mojito")
    txns = [sale]
    given_back = 0
    for n, amount in enumerate(amounts):
        try:
            move = _refunded(invoice, txns, amount, key=f"r{n}")
        except DomainError as err:
            assert err.code is ErrorCode.AMOUNT_MISMATCH
            assert given_back + amount > invoice.total
            continue
        given_back += amount
        txns.extend(move.postings)
        assert move.result["refunded"] == given_back <= invoice.total
        assert move.result["fully"] is (given_back == invoice.total)
        b.check_balanced(move.postings[0])


def test_a_void_reverses_the_invoice_and_voids_its_orders() -> None:
    """A void posts the sale's reverse, marks the invoice VOIDED and its orders VOIDED / REFUNDED."""
    invoice, sale, order = _sold("burger")
    cmd = c.VoidInvoice(invoice_id=invoice.id, reason="wrong table", pin="1234")
    move = rules.void(invoice, [sale], cmd, key=KEY, by="till-1", approved_by="manager-1", now=NOW)
    (posting,) = move.postings
    assert posting.kind is LedgerKind.VOID and posting.id == "cmd-1:void"
    assert b.account_balances([sale, posting]) == {account: 0 for account in b.account_balances([sale])}
    assert move.invoice_status == (invoice.id, rules.InvoiceStatus.VOIDED)
    assert move.result == {"invoice_id": invoice.id, "voided": invoice.total, "approved_by": "manager-1"}
    (changed,) = move.live([order]).orders
    assert (changed.status, changed.payment_status) == (OrderStatus.VOIDED, PaymentStatus.REFUNDED)
    with pytest.raises(DomainError) as err:  # already void
        rules.void(invoice, [sale, posting], cmd, key="again", by="till-1", approved_by="manager-1", now=NOW)
    assert err.value.code is ErrorCode.INVALID_STATE
    refund = _refunded(invoice, [sale], 100).postings[0]
    with pytest.raises(DomainError) as err:  # refunds on it: refund the rest instead
        rules.void(invoice, [sale, refund], cmd, key="again", by="till-1", approved_by="manager-1", now=NOW)
    assert err.value.code is ErrorCode.INVALID_STATE


def test_drawer_moves_post_float_and_payouts() -> None:
    """A float puts cash in the drawer, a payout takes it out for a category; both audited and told live."""
    put = rules.drawer(c.DrawerFloat(amount=5000), key="f1", by="till-1", now=NOW)
    out = rules.drawer(c.DrawerPayout(amount=1200, category="supplies", note="ice"), key="p1", by="till-1", now=NOW)
    assert [m.postings[0].kind for m in (put, out)] == [LedgerKind.FLOAT, LedgerKind.PAYOUT]
    assert [m.postings[0].id for m in (put, out)] == ["f1:float", "p1:payout"]
    assert b.account_balances([*put.postings, *out.postings])[b.CASH_DRAWER] == 3800
    assert (out.audit.action, out.audit.entity, out.audit.details["category"]) == ("PAYOUT", "drawer", "supplies")
    assert out.result == {"kind": "PAYOUT", "amount": 1200} and not out.tells_revenue
    assert [ev.type for ev in out.live([]).events] == ["DRAWER_MOVED"]


def test_closing_the_day_posts_nothing_and_counts_the_drawer() -> None:
    """The close: no posting, the Z-report with counted against expected cash, audited as DAY_CLOSED."""
    invoice, sale, _ = _sold("burger")
    put = rules.drawer(c.DrawerFloat(amount=5000), key="f1", by="till-1", now=NOW).postings
    move = rules.close_day(DAY, [*put, sale], currency="INR", counted_cash=4900)
    report = move.result["report"]
    assert move.postings == () and (report["expected_cash"], report["cash_difference"]) == (5000, -100)
    assert move.audit.action == "DAY_CLOSED" and move.audit.details["counted_cash"] == 4900
    assert [ev.type for ev in move.live([]).events] == ["DAY_CLOSED"] and invoice.total == report["bills_total"]
