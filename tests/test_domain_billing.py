"""Money to the minor unit without servers: bills, tax, discounts, tenders, the double-entry ledger and the Z-report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from fireflow.hub.domain import billing as b
from fireflow.hub.domain.errors import DomainError
from fireflow.hub.domain.money import BP, allocate, divide, percent_of
from fireflow.hub.run.demo import demo_menu
from fireflow.schema.billing import (
    Bill,
    BillingSettings,
    Discount,
    DiscountKind,
    LedgerEntry,
    LedgerKind,
    LedgerTransaction,
    Payment,
    TaxMode,
    TaxRate,
    Tender,
    TenderMethod,
)
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.records import MenuItem, Order, OrderItem, OrderStatus, OrderType, PaymentStatus

MENU = demo_menu()
NOW = 1_700_000_000_000
DAY = "2023-11-14"
RIDERS = ["rider-1", "rider-2"]
GST = (TaxRate(code="GST5", name="GST 5%", rate_bp=500), TaxRate(code="GST18", name="GST 18%", rate_bp=1800))
EXCLUSIVE = BillingSettings(tax_mode=TaxMode.EXCLUSIVE, taxes=GST)
INCLUSIVE = BillingSettings(tax_mode=TaxMode.INCLUSIVE, taxes=GST)
NO_TAX = BillingSettings()
CASH, UPI, CARD, WALLET = TenderMethod.CASH, TenderMethod.UPI, TenderMethod.CARD, TenderMethod.WALLET


def _item(menu_item: MenuItem, line_id: str, quantity: int) -> OrderItem:
    return OrderItem(
        id=line_id,
        menu_item_id=menu_item.id,
        name=menu_item.name,
        unit_price=menu_item.price,
        quantity=quantity,
        station=menu_item.station,
        category=menu_item.category,
        tax_code=menu_item.tax_code,
        requires_prep=menu_item.requires_prep,
    )


def order_of(
    *lines: tuple[str, int],
    order_id: str = "demo.o1",
    kind: OrderType = OrderType.TAKEAWAY,
    discounts: Sequence[Discount] = (),
    **fields: Any,
) -> Order:
    items = []
    for n, (menu_id, quantity) in enumerate(lines, start=1):
        menu_item = MENU.item(menu_id)
        assert menu_item is not None
        items.append(_item(menu_item, f"L{n}", quantity))
    return Order(id=order_id, number=1, type=kind, items=tuple(items), discounts=tuple(discounts), **fields)


def priced(*prices: int, discounts: Sequence[Discount] = ()) -> Order:
    """An order of made-up items at the given prices, untaxed (tax code NONE)."""
    items = tuple(
        _item(MenuItem(id=f"m{n}", name=f"item {n}", price=price, station="bar", tax_code="NONE"), f"L{n}", 1)
        for n, price in enumerate(prices, start=1)
    )
    return Order(id="demo.o1", number=1, type=OrderType.TAKEAWAY, items=items, discounts=tuple(discounts))


def amount_off(value: int, line_id: str | None = None, *, approved_by: str | None = None, id: str = "D1") -> Discount:
    return Discount(
        id=id, kind=DiscountKind.AMOUNT, value=value, line_id=line_id, by="cashier-1", approved_by=approved_by
    )


def percent_off(bp: int, line_id: str | None = None, *, id: str = "D1") -> Discount:
    return Discount(id=id, kind=DiscountKind.PERCENT, value=bp, line_id=line_id, by="cashier-1")


def pay(total: int, paid: int, *tenders: Tender, first_id: int = 1) -> b.TakenPayments:
    ids = [f"p{first_id + n}" for n in range(len(tenders))]
    return b.take_payments(total, paid, tenders, NOW, "cashier-1", ids)


def settle(bill: Bill, *tenders: Tender, reference: str = "INV-1", txn_id: str = "t1") -> LedgerTransaction:
    taken = pay(bill.total, 0, *tenders)
    return b.payment_entries(
        bill, taken.payments, deposited=0, reference=reference, now=NOW, by="cashier-1", txn_id=txn_id
    )


def reason(err: pytest.ExceptionInfo[DomainError]) -> str | None:
    details = err.value.details or {}
    found = details.get("reason")
    return None if found is None else str(found)


# -- money ----------------------------------------------------------------------------------------


def test_divide_rounds_half_away_from_zero() -> None:
    """The one rounding rule: halves go away from zero, everything else to the nearest unit."""
    assert [divide(n, 2) for n in (5, -5, 4, 3, -3)] == [3, -3, 2, 2, -2]
    assert [divide(7, 3), divide(8, 3), divide(-8, 3), divide(5, -2)] == [2, 3, -3, -3]
    assert percent_of(999, 500) == 50  # 49.95
    assert percent_of(990, 500) == 50  # 49.5
    assert percent_of(989, 500) == 49  # 49.45
    with pytest.raises(ZeroDivisionError):
        divide(1, 0)


def test_allocate_by_largest_remainder() -> None:
    """100 over three equal weights is 34/33/33; ties go to the earlier part; zero weights share equally."""
    assert allocate(100, [1, 1, 1]) == [34, 33, 33]
    assert allocate(101, [1, 1, 1]) == [34, 34, 33]
    assert allocate(10, [1, 2, 7]) == [1, 2, 7]
    assert allocate(5, [1, 3]) == [1, 4]  # 1.25 / 3.75: the larger remainder wins
    assert allocate(-100, [1, 1, 1]) == [-34, -33, -33]
    assert allocate(2, [0, 0, 0]) == [1, 1, 0]
    assert allocate(0, []) == []
    with pytest.raises(ValueError, match="over nothing"):
        allocate(1, [])
    with pytest.raises(ValueError, match="negative"):
        allocate(1, [1, -1])


@settings(max_examples=500, deadline=None)
@given(st.integers(-(10**9), 10**9), st.lists(st.integers(0, 10**7), min_size=1, max_size=12))
def test_allocation_never_loses_or_creates_a_unit(total: int, weights: list[int]) -> None:
    """The parts sum exactly to the total, each within one unit of its exact share, none over its weight."""
    parts = allocate(total, weights)
    assert sum(parts) == total
    shares = weights if sum(weights) else [1] * len(weights)
    whole = sum(shares)
    for part, weight in zip(parts, shares, strict=True):
        assert abs(part * whole - total * weight) < whole
        if 0 <= total <= whole:
            assert 0 <= part <= weight


# -- bills ----------------------------------------------------------------------------------------


def test_exclusive_tax_is_added_per_line_and_code() -> None:
    """EXCLUSIVE: 2 burgers at 349.00 with 5 % and a mojito at 179.00 with 18 % come to 944.12."""
    bill = b.compute_bill([order_of(("burger", 2), ("mojito", 1))], EXCLUSIVE, "INR")
    burger, mojito = bill.lines
    assert (burger.gross, burger.net, burger.tax, burger.total) == (69800, 69800, 3490, 73290)
    assert (mojito.gross, mojito.tax_rate_bp, mojito.tax, mojito.total) == (17900, 1800, 3222, 21122)
    assert [(t.code, t.rate_bp, t.taxable, t.tax) for t in bill.taxes] == [
        ("GST18", 1800, 17900, 3222),
        ("GST5", 500, 69800, 3490),
    ]
    assert (bill.gross, bill.discount, bill.service_charge, bill.tax, bill.total) == (87700, 0, 0, 6712, 94412)
    assert bill.currency == "INR" and bill.order_ids == ("demo.o1",)


def test_inclusive_tax_is_contained_in_the_price() -> None:
    """INCLUSIVE: 349.00 holds 16.62 of 5 % tax and 179.00 holds 27.31 of 18 %; the total is the prices."""
    bill = b.compute_bill([order_of(("burger", 1), ("mojito", 1))], INCLUSIVE, "INR")
    burger, mojito = bill.lines
    assert (burger.net, burger.tax, burger.total) == (34900, 1662, 34900)  # 34900 * 500 / 10500 = 1661.90
    assert (mojito.net, mojito.tax, mojito.total) == (17900, 2731, 17900)  # 17900 * 1800 / 11800 = 2730.51
    assert [(t.code, t.taxable, t.tax) for t in bill.taxes] == [("GST18", 15169, 2731), ("GST5", 33238, 1662)]
    assert (bill.tax, bill.total) == (4393, 52800)


def test_unknown_tax_code_is_zero_percent_and_keeps_its_code() -> None:
    """A tax code the restaurant has not configured is taxed at 0 % and still shows on the bill."""
    assert EXCLUSIVE.tax_rate("VAT") == TaxRate(code="VAT", name="VAT", rate_bp=0)
    bill = b.compute_bill([order_of(("burger", 1))], NO_TAX, "INR")
    assert [(t.code, t.rate_bp, t.tax) for t in bill.taxes] == [("GST5", 0, 0)]
    assert bill.total == 34900


def test_service_charge_on_dine_in_is_pre_tax_and_untaxed() -> None:
    """10 % service on a dine-in bill is on the amount excluding tax, is not taxed, and takeaway pays none."""
    service = EXCLUSIVE.model_copy(update={"service_charge_bp": 1000})
    dine_in = b.compute_bill([order_of(("burger", 1), kind=OrderType.DINE_IN)], service, "INR")
    assert (dine_in.service_charge, dine_in.tax, dine_in.total) == (3490, 1745, 34900 + 1745 + 3490)
    assert sum(line.total for line in dine_in.lines) + dine_in.service_charge == dine_in.total
    inclusive = INCLUSIVE.model_copy(update={"service_charge_bp": 1000})
    held = b.compute_bill([order_of(("burger", 1), kind=OrderType.DINE_IN)], inclusive, "INR")
    assert held.service_charge == percent_of(34900 - 1662, 1000) == 3324
    assert held.total == 34900 + 3324
    takeaway = b.compute_bill([order_of(("burger", 1))], service, "INR")
    assert takeaway.service_charge == 0


def test_order_discount_is_allocated_by_largest_remainder() -> None:
    """1.00 off an order of three equal lines comes off them as 0.34, 0.33 and 0.33."""
    bill = b.compute_bill([priced(1000, 1000, 1000, discounts=[amount_off(100)])], NO_TAX, "INR")
    assert [line.discount for line in bill.lines] == [34, 33, 33]
    assert [line.net for line in bill.lines] == [966, 967, 967]
    assert (bill.discount, bill.total) == (100, 2900)


def test_line_then_order_discounts_never_make_a_line_negative() -> None:
    """Line discounts come first and stop at the line's gross; a percent order discount is of what is left."""
    discounts = [amount_off(5000, "L1", id="D1"), percent_off(5000, "L2", id="D2"), percent_off(1000, id="D3")]
    bill = b.compute_bill([priced(1000, 3000, 2000, discounts=discounts)], NO_TAX, "INR")
    # line 1 capped at 1000 -> 0; line 2 1500 off -> 1500; order: 10 % of (0 + 1500 + 2000) = 350 over 0/1500/2000
    assert [line.net for line in bill.lines] == [0, 1350, 1800]
    assert [line.discount for line in bill.lines] == [1000, 1650, 200]
    assert bill.total == 3150
    everything = b.compute_bill([priced(1000, 3000, discounts=[amount_off(10**6)])], NO_TAX, "INR")
    assert everything.total == 0 and everything.discount == 4000


def test_line_discount_for_a_removed_line_applies_to_nothing() -> None:
    """A discount whose line is gone from the order no longer changes the bill."""
    bill = b.compute_bill([priced(1000, discounts=[amount_off(100, "L9")])], NO_TAX, "INR")
    assert (bill.discount, bill.total) == (0, 1000)


def test_group_bill_keeps_each_lines_order_and_refuses_mixed_customers() -> None:
    """A group bill covers several orders, lines keep their source order; different named customers are refused."""
    first = order_of(("burger", 1), order_id="demo.o1", customer_name="NASA")
    second = order_of(("fries", 2), order_id="demo.o2", customer_name=" nasa ")
    bill = b.compute_bill([first, second], EXCLUSIVE, "INR")
    assert bill.order_ids == ("demo.o1", "demo.o2")
    assert [(line.order_id, line.tax_code) for line in bill.lines] == [("demo.o1", "GST5"), ("demo.o2", "GST5")]
    other = order_of(("fries", 1), order_id="demo.o3", customer_name="ESA")
    with pytest.raises(DomainError) as err:
        b.compute_bill([first, other], EXCLUSIVE, "INR")
    assert err.value.code is ErrorCode.INVALID_STATE and reason(err) == "MIXED_CUSTOMERS"
    with pytest.raises(DomainError) as err:
        b.compute_bill([first, first], EXCLUSIVE, "INR")
    assert err.value.code is ErrorCode.INVALID_COMMAND
    with pytest.raises(DomainError) as err:
        b.compute_bill([], EXCLUSIVE, "INR")
    assert err.value.code is ErrorCode.INVALID_COMMAND
    with pytest.raises(DomainError) as err:
        b.compute_bill([first.model_copy(update={"status": OrderStatus.CANCELLED})], EXCLUSIVE, "INR")
    assert err.value.code is ErrorCode.INVALID_STATE


def test_settings_refuse_duplicate_tax_codes_and_percent_over_all() -> None:
    """Tax codes are unique in the settings, and a percent discount is at most 100 %."""
    with pytest.raises(ValidationError):
        BillingSettings(taxes=(GST[0], GST[0]))
    with pytest.raises(ValidationError):
        percent_off(10_001)


# -- discounts and the PIN ------------------------------------------------------------------------


def test_discount_over_ten_percent_needs_a_managers_pin() -> None:
    """Exactly 10 % needs no PIN; 10.01 % is refused without an approver and accepted with one."""
    order = priced(10_000)
    ten = b.add_discount(order, amount_off(1000), NO_TAX)
    ten_bill = b.compute_bill([ten], NO_TAX, "INR")
    assert (b.discount_share_bp(ten_bill), b.needs_pin(ten_bill, NO_TAX)) == (1000, False)
    assert ten.version == order.version + 1 and ten.discounts == (amount_off(1000),)
    with pytest.raises(DomainError) as err:
        b.add_discount(order, amount_off(1001), NO_TAX)
    assert err.value.code is ErrorCode.PIN_REQUIRED and reason(err) == b.PIN_REQUIRED
    assert err.value.details == {"reason": "PIN_REQUIRED", "share_bp": 1001, "limit_bp": 1000}
    assert err.value.message == "discounts over 10 % need a manager's PIN"
    approved = b.add_discount(order, amount_off(1001, approved_by="manager-1"), NO_TAX)
    assert b.needs_pin(b.compute_bill([approved], NO_TAX, "INR"), NO_TAX)
    # two small discounts that add up to over the limit need it too
    with pytest.raises(DomainError):
        b.add_discount(ten, amount_off(1, id="D2"), NO_TAX)


def test_add_discount_refusals() -> None:
    """Unknown lines, duplicate ids, more than the amount, below what was paid, and paid orders are refused."""
    order = priced(1000, 2000)
    with pytest.raises(DomainError) as err:
        b.add_discount(order, amount_off(10, "L9"), NO_TAX)
    assert err.value.code is ErrorCode.NOT_FOUND
    once = b.add_discount(order, amount_off(10, "L1"), NO_TAX)
    with pytest.raises(DomainError) as err:
        b.add_discount(once, amount_off(10, "L2"), NO_TAX)
    assert err.value.code is ErrorCode.INVALID_STATE
    with pytest.raises(DomainError) as err:
        b.add_discount(order, amount_off(1001, "L1", approved_by="m"), NO_TAX)
    assert reason(err) == "DISCOUNT_TOO_LARGE" and err.value.details == {
        "reason": "DISCOUNT_TOO_LARGE",
        "available": 1000,
    }
    with pytest.raises(DomainError) as err:
        b.add_discount(order, amount_off(3001, approved_by="m"), NO_TAX)
    assert reason(err) == "DISCOUNT_TOO_LARGE"
    with pytest.raises(DomainError) as err:
        b.add_discount(order, amount_off(300), NO_TAX, paid=2800)
    assert err.value.code is ErrorCode.AMOUNT_MISMATCH and reason(err) == b.AMOUNT_MISMATCH
    with pytest.raises(DomainError) as err:
        b.add_discount(order.model_copy(update={"payment_status": PaymentStatus.PAID}), amount_off(1), NO_TAX)
    assert err.value.code is ErrorCode.INVALID_STATE
    with pytest.raises(DomainError) as err:
        b.add_discount(order.model_copy(update={"status": OrderStatus.CLOSED}), amount_off(1), NO_TAX)
    assert err.value.code is ErrorCode.INVALID_STATE


def test_remove_discount() -> None:
    """Removing a discount bumps the version and brings the bill back; an unknown id is NOT_FOUND."""
    order = b.add_discount(priced(1000), amount_off(100), NO_TAX)
    removed = b.remove_discount(order, "D1")
    assert removed.discounts == () and removed.version == order.version + 1
    assert b.compute_bill([removed], NO_TAX, "INR").total == 1000
    with pytest.raises(DomainError) as err:
        b.remove_discount(removed, "D1")
    assert err.value.code is ErrorCode.NOT_FOUND


# -- tenders --------------------------------------------------------------------------------------


def test_cash_with_change() -> None:
    """944.12 paid with 1000.00 in cash: the payment is 944.12, the change 55.88, the bill PAID."""
    taken = pay(94412, 0, Tender(method=CASH, amount=94412, received=100000))
    (payment,) = taken.payments
    assert (payment.amount, payment.received, payment.change) == (94412, 100000, 5588)
    assert (payment.id, payment.at, payment.by) == ("p1", NOW, "cashier-1")
    assert (taken.change, taken.remaining, taken.status) == (5588, 0, PaymentStatus.PAID)


def test_split_over_cash_and_upi_with_change() -> None:
    """A split: 400.00 by UPI and the rest in cash from a 1000.00 note."""
    taken = pay(
        94412,
        0,
        Tender(method=UPI, amount=40000, reference="upi-1"),
        Tender(method=CASH, amount=54412, received=100000),
    )
    assert [(p.method, p.amount, p.change) for p in taken.payments] == [(UPI, 40000, 0), (CASH, 54412, 45588)]
    assert (taken.change, taken.remaining) == (45588, 0)


def test_tender_rules() -> None:
    """Amounts are positive, only cash is received in excess, never less than its amount, never overpaid."""
    with pytest.raises(ValidationError):
        Tender(method=CASH, amount=0)
    with pytest.raises(ValidationError):
        Tender(method=UPI, amount=100, received=200)
    with pytest.raises(ValidationError):
        Tender(method=CASH, amount=100, received=99)
    with pytest.raises(DomainError) as err:
        pay(1000, 0, Tender(method=CARD, amount=600), Tender(method=CASH, amount=500))
    assert err.value.code is ErrorCode.AMOUNT_MISMATCH and reason(err) == b.AMOUNT_MISMATCH
    with pytest.raises(DomainError) as err:
        pay(1000, 1000, Tender(method=CARD, amount=1))
    assert err.value.code is ErrorCode.INVALID_STATE
    with pytest.raises(DomainError):
        pay(1000, 0)
    with pytest.raises(DomainError):
        b.take_payments(1000, 0, [Tender(method=CARD, amount=1)], NOW, "c", [])
    assert [b.payment_status(1000, paid) for paid in (0, 1, 1000)] == [
        PaymentStatus.UNPAID,
        PaymentStatus.PARTIALLY_PAID,
        PaymentStatus.PAID,
    ]
    assert b.payment_status(0, 0) is PaymentStatus.PAID


# -- ledger ---------------------------------------------------------------------------------------


def entries(txn: LedgerTransaction) -> dict[str, int]:
    """Signed amounts per account: + debit, - credit."""
    return {entry.account: entry.debit - entry.credit for entry in txn.entries}


def test_sale_posts_tenders_discounts_sales_tax_and_service() -> None:
    """A settled bill: tenders and the discount debited; sales at gross, tax per code and service credited."""
    service = EXCLUSIVE.model_copy(update={"service_charge_bp": 1000})
    order = order_of(("burger", 1), ("mojito", 1), kind=OrderType.DINE_IN, discounts=[amount_off(900)])
    bill = b.compute_bill([order], service, "INR")
    assert [line.discount for line in bill.lines] == [595, 305]  # 900 over 34900/17900
    assert (bill.gross, bill.tax, bill.service_charge) == (52800, 1715 + 3167, 5190)
    sale = settle(
        bill, Tender(method=CARD, amount=20000), Tender(method=CASH, amount=bill.total - 20000, received=50000)
    )
    assert sale.kind is LedgerKind.SALE and sale.reference == "INV-1"
    assert entries(sale) == {
        b.TENDER_ACCOUNTS[CARD]: 20000,
        b.CASH_DRAWER: bill.total - 20000,
        b.DISCOUNTS: 900,
        b.SALES: -52800,
        b.tax_account("GST18"): -3167,
        b.tax_account("GST5"): -1715,
        b.SERVICE_CHARGE: -5190,
    }
    b.check_balanced(sale)


def test_inclusive_sale_credits_sales_without_the_tax() -> None:
    """INCLUSIVE: sales are credited at gross minus the tax contained in it."""
    bill = b.compute_bill([order_of(("burger", 1))], INCLUSIVE, "INR")
    sale = settle(bill, Tender(method=UPI, amount=bill.total))
    assert entries(sale) == {b.TENDER_ACCOUNTS[UPI]: 34900, b.SALES: -33238, b.tax_account("GST5"): -1662}


def test_part_payment_is_a_deposit_until_the_rest_settles() -> None:
    """400.00 by UPI leaves the bill PARTIALLY_PAID as a deposit; the cash rest posts the sale using it."""
    bill = b.compute_bill([priced(1000, 9000)], NO_TAX, "INR")
    first = pay(bill.total, 0, Tender(method=UPI, amount=4000))
    assert (first.remaining, first.status) == (6000, PaymentStatus.PARTIALLY_PAID)
    deposit = b.payment_entries(
        bill, first.payments, deposited=0, reference="demo.o1", now=NOW, by="waiter-1", txn_id="t1"
    )
    assert deposit.kind is LedgerKind.DEPOSIT
    assert entries(deposit) == {b.TENDER_ACCOUNTS[UPI]: 4000, b.CUSTOMER_DEPOSITS: -4000}
    rest = pay(bill.total, 4000, Tender(method=CASH, amount=6000, received=10000), first_id=2)
    assert (rest.remaining, rest.change, rest.status) == (0, 4000, PaymentStatus.PAID)
    sale = b.payment_entries(
        bill, rest.payments, deposited=4000, reference="INV-7", now=NOW, by="cashier-1", txn_id="t2"
    )
    assert sale.kind is LedgerKind.SALE
    assert entries(sale) == {b.CASH_DRAWER: 6000, b.CUSTOMER_DEPOSITS: 4000, b.SALES: -10000}
    assert b.account_balances([deposit, sale])[b.CUSTOMER_DEPOSITS] == 0
    report = b.z_report(DAY, [deposit, sale])
    assert report.takings_by_method == {"CASH": 6000, "UPI": 4000, "CARD": 0, "WALLET": 0, "COD": 0}
    assert (report.invoices, report.bills_total, report.deposits_taken, report.deposits_applied) == (
        1,
        10000,
        4000,
        4000,
    )
    with pytest.raises(DomainError) as err:
        b.sale_entries(bill, rest.payments, reference="INV-7", now=NOW, by="c", txn_id="t3")
    assert reason(err) == b.AMOUNT_MISMATCH
    with pytest.raises(DomainError):
        b.deposit_entries([], reference="demo.o1", now=NOW, by="c", txn_id="t4")


def test_refund_reverses_revenue_tax_and_service_in_proportion() -> None:
    """A part refund comes off revenue, tax and service by largest remainder; refunding the rest zeroes them all."""
    service = EXCLUSIVE.model_copy(update={"service_charge_bp": 1000})
    bill = b.compute_bill([order_of(("burger", 1), kind=OrderType.DINE_IN)], service, "INR")
    assert (bill.total, bill.tax, bill.service_charge) == (40135, 1745, 3490)
    sale = settle(bill, Tender(method=CARD, amount=bill.total))
    first = b.refund_entries(sale, 10000, CASH, now=NOW, by="manager-1", txn_id="r1", note="cold burger")
    assert first.kind is LedgerKind.REFUND and first.reference == "INV-1" and first.note == "cold burger"
    # 10000 over 34900 / 1745 / 3490 (of 40135): 8695.65 / 434.78 / 869.57 -> 8696 / 435 / 869
    assert entries(first) == {b.REFUNDS: 8696, b.tax_account("GST5"): 435, b.SERVICE_CHARGE: 869, b.CASH_DRAWER: -10000}
    with pytest.raises(DomainError) as err:
        b.refund_entries(sale, 30136, CASH, earlier=[first], now=NOW, by="m", txn_id="r2")
    assert reason(err) == b.AMOUNT_MISMATCH and err.value.details == {
        "reason": "AMOUNT_MISMATCH",
        "refundable": 30135,
        "amount": 30136,
    }
    rest = b.refund_entries(sale, 30135, CARD, earlier=[first], now=NOW, by="manager-1", txn_id="r2")
    balances = b.account_balances([sale, first, rest])
    assert {account: value for account, value in balances.items() if value} == {
        b.SALES: -34900,
        b.REFUNDS: 34900,
        b.CASH_DRAWER: -10000,
        b.TENDER_ACCOUNTS[CARD]: 10000,
    }
    with pytest.raises(DomainError):
        b.refund_entries(sale, 1, CARD, earlier=[first, rest], now=NOW, by="m", txn_id="r3")
    with pytest.raises(DomainError):
        b.refund_entries(sale, 0, CARD, now=NOW, by="m", txn_id="r3")
    with pytest.raises(DomainError):
        b.refund_entries(first, 1, CARD, now=NOW, by="m", txn_id="r3")
    other = first.model_copy(update={"reference": "INV-2"})
    with pytest.raises(DomainError):
        b.refund_entries(sale, 1, CARD, earlier=[other], now=NOW, by="m", txn_id="r3")


def test_void_reverses_a_settled_invoice_completely() -> None:
    """Voiding an invoice paid partly by deposit gives every account back its balance before the sale."""
    bill = b.compute_bill([order_of(("burger", 1), ("mojito", 2), discounts=[percent_off(500)])], EXCLUSIVE, "INR")
    first = pay(bill.total, 0, Tender(method=WALLET, amount=5000))
    deposit = b.deposit_entries(first.payments, reference="demo.o1", now=NOW, by="cashier-1", txn_id="t1")
    rest = pay(bill.total, 5000, Tender(method=CASH, amount=bill.total - 5000), first_id=2)
    sale = b.sale_entries(bill, rest.payments, deposits=5000, reference="INV-1", now=NOW, by="cashier-1", txn_id="t2")
    void = b.void_entries([deposit, sale], reference="INV-1", now=NOW, by="manager-1", txn_id="t3", note="wrong table")
    assert void.kind is LedgerKind.VOID
    assert entries(void)[b.CASH_DRAWER] == -(bill.total - 5000)
    assert entries(void)[b.TENDER_ACCOUNTS[WALLET]] == -5000
    assert b.CUSTOMER_DEPOSITS not in entries(void)
    assert all(value == 0 for value in b.account_balances([deposit, sale, void]).values())
    with pytest.raises(DomainError):
        b.void_entries([deposit, sale, void], reference="INV-1", now=NOW, by="m", txn_id="t4")
    with pytest.raises(DomainError):
        b.refund_entries(sale, 1, CASH, earlier=[void], now=NOW, by="m", txn_id="t4")
    refund = b.refund_entries(sale, 1, CASH, now=NOW, by="m", txn_id="t4")
    with pytest.raises(DomainError):
        b.void_entries([sale, refund], reference="INV-1", now=NOW, by="m", txn_id="t5")
    with pytest.raises(DomainError):
        b.void_entries([sale, sale], reference="INV-1", now=NOW, by="m", txn_id="t5")
    with pytest.raises(DomainError):
        b.void_entries([], reference="INV-1", now=NOW, by="m", txn_id="t5")


def test_check_balanced_refuses_an_unbalanced_transaction() -> None:
    """A transaction whose debits and credits differ is an INTERNAL error, never posted."""
    txn = LedgerTransaction(
        id="x",
        kind=LedgerKind.SALE,
        reference="INV-1",
        entries=(LedgerEntry(account=b.CASH_DRAWER, debit=100), LedgerEntry(account=b.SALES, credit=99)),
        at=NOW,
        by="c",
    )
    with pytest.raises(DomainError) as err:
        b.check_balanced(txn)
    assert err.value.code is ErrorCode.INTERNAL
    with pytest.raises(ValidationError):
        LedgerEntry(account=b.SALES, debit=1, credit=1)
    with pytest.raises(ValidationError):
        LedgerEntry(account=b.SALES)


def test_payouts_float_and_the_z_report() -> None:
    """Float, two sales, a refund, a void and a payout: the Z-report's cash, taxes and staff figures by hand."""
    opening = b.float_entries(200000, now=NOW, by="manager-1", txn_id="f1")
    first = b.compute_bill([order_of(("burger", 2), ("mojito", 1))], EXCLUSIVE, "INR")  # 94412
    sale1 = settle(first, Tender(method=CASH, amount=94412, received=100000), reference="INV-1", txn_id="s1")
    second = b.compute_bill([order_of(("water", 2))], EXCLUSIVE, "INR")  # 9800 + 1764 = 11564
    sale2 = settle(second, Tender(method=UPI, amount=11564), reference="INV-2", txn_id="s2")
    refund = b.refund_entries(sale1, 1000, CASH, now=NOW, by="manager-1", txn_id="r1")
    void = b.void_entries([sale2], reference="INV-2", now=NOW, by="manager-1", txn_id="v1")
    payout = b.payout_entries(5000, "supplies", note="ice", now=NOW, by="cashier-1", txn_id="o1")
    assert payout.category == "supplies" and entries(payout) == {b.PAYOUTS: 5000, b.CASH_DRAWER: -5000}
    txns = [opening, sale1, sale2, refund, void, payout]
    report = b.z_report(DAY, txns, currency="INR", counted_cash=288000)
    assert (report.invoices, report.bills_total, report.average_bill) == (2, 105976, 52988)
    assert (report.gross_sales, report.discounts, report.service_charge) == (97500, 0, 0)
    assert report.tax_by_code == {"GST18": 3222 + 1764, "GST5": 3490} and report.tax == 8476
    assert (report.refunds, report.refunded, report.voids, report.voided) == (1, 1000, 1, 11564)
    assert report.takings_by_method == {"CASH": 94412, "UPI": 11564, "CARD": 0, "WALLET": 0, "COD": 0}
    assert report.net_by_method == {"CASH": 93412, "UPI": 0, "CARD": 0, "WALLET": 0, "COD": 0}
    assert (report.opening_float, report.payouts, report.payouts_by_category) == (200000, 5000, {"supplies": 5000})
    assert report.expected_cash == 200000 + 94412 - 1000 - 5000 == 288412
    assert (report.counted_cash, report.cash_difference) == (288000, -412)
    assert report.expected_cash == b.account_balances(txns)[b.CASH_DRAWER]
    assert report.net_revenue + sum(report.net_tax_by_code.values()) == 94412 - 1000
    assert [(s.by, s.invoices, s.takings, s.refunded, s.voided, s.payouts) for s in report.staff] == [
        ("cashier-1", 2, 105976, 0, 0, 5000),
        ("manager-1", 0, 0, 1000, 11564, 0),
    ]
    empty = b.z_report(DAY, [])
    assert (empty.invoices, empty.average_bill, empty.expected_cash, empty.cash_difference) == (0, 0, 0, None)
    with pytest.raises(DomainError):
        b.payout_entries(0, "supplies", now=NOW, by="c", txn_id="o2")
    with pytest.raises(DomainError):
        b.float_entries(0, now=NOW, by="c", txn_id="f2")


# -- properties -----------------------------------------------------------------------------------

MENU_IDS = [item.id for item in MENU.items]
TYPES = list(OrderType)


@st.composite
def billing_settings(draw: st.DrawFn) -> BillingSettings:
    rates = [
        TaxRate(code=code, rate_bp=draw(st.integers(0, 3000)))
        for code in ("GST5", "GST18")
        if draw(st.booleans()) or code == "GST5"
    ]
    return BillingSettings(
        tax_mode=draw(st.sampled_from(list(TaxMode))),
        taxes=tuple(rates),
        service_charge_bp=draw(st.sampled_from([0, 0, 500, 1000, 1250, draw(st.integers(0, 10_000))])),
        service_charge_types=tuple(draw(st.sets(st.sampled_from(TYPES)))),
    )


@st.composite
def discounts(draw: st.DrawFn, line_ids: Sequence[str]) -> list[Discount]:
    found = []
    for n in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(list(DiscountKind)))
        value = draw(st.integers(0, 10_000) if kind is DiscountKind.PERCENT else st.integers(0, 150_000))
        line_id = draw(st.sampled_from([None, *line_ids, "L99"]))
        found.append(Discount(id=f"D{n}", kind=kind, value=value, line_id=line_id))
    return found


@st.composite
def orders(draw: st.DrawFn, order_id: str) -> Order:
    lines = draw(st.lists(st.tuples(st.sampled_from(MENU_IDS), st.integers(1, 6)), min_size=1, max_size=6))
    order = order_of(*lines, order_id=order_id, kind=draw(st.sampled_from(TYPES)))
    return order.model_copy(update={"discounts": tuple(draw(discounts([item.id for item in order.items])))})


def _expected_order_discount(order: Order) -> int:
    """The discounts on an order, computed independently of the module: line discounts capped, then the order's."""
    gross = {item.id: item.unit_price * item.quantity for item in order.items}
    asked = dict.fromkeys(gross, 0)
    for d in order.discounts:
        if d.line_id in gross:
            asked[d.line_id] += d.value if d.kind is DiscountKind.AMOUNT else percent_of(gross[d.line_id], d.value)
    line_total = sum(min(asked[i], gross[i]) for i in gross)
    base = sum(gross.values()) - line_total
    on_order = sum(
        d.value if d.kind is DiscountKind.AMOUNT else percent_of(base, d.value)
        for d in order.discounts
        if d.line_id is None
    )
    return line_total + min(on_order, base)


def check_bill(bill: Bill, group: Sequence[Order], config: BillingSettings) -> None:
    exclusive = config.tax_mode is TaxMode.EXCLUSIVE
    for line in bill.lines:
        rate = config.tax_rate(line.tax_code).rate_bp
        assert line.gross == line.unit_price * line.quantity
        assert 0 <= line.discount <= line.gross and line.net == line.gross - line.discount >= 0
        assert line.tax_rate_bp == rate
        if exclusive:
            assert line.tax == divide(line.net * rate, BP) and line.total == line.net + line.tax
        else:
            assert line.tax == divide(line.net * rate, BP + rate) and line.total == line.net
            assert 0 <= line.tax <= line.net
    for order in group:
        mine = [line for line in bill.lines if line.order_id == order.id]
        assert [line.line_id for line in mine] == [item.id for item in order.items]
        assert sum(line.discount for line in mine) == _expected_order_discount(order)
    nets = sum(line.net for line in bill.lines)
    assert bill.gross == sum(line.gross for line in bill.lines)
    assert bill.discount == sum(line.discount for line in bill.lines) == bill.gross - nets
    assert bill.tax == sum(t.tax for t in bill.taxes) == sum(line.tax for line in bill.lines)
    assert sum(t.taxable for t in bill.taxes) == nets - (0 if exclusive else bill.tax)
    charged = {order.id for order in group if order.type in config.service_charge_types}
    base = sum(line.total - line.tax for line in bill.lines if line.order_id in charged)
    assert bill.service_charge == percent_of(base, config.service_charge_bp)
    assert bill.total == nets + (bill.tax if exclusive else 0) + bill.service_charge
    assert bill.total == sum(line.total for line in bill.lines) + bill.service_charge
    assert b.needs_pin(bill, config) == (bill.discount * BP > config.discount_pin_above_bp * bill.gross)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_bills_reconcile_to_the_minor_unit(data: st.DataObject) -> None:
    """Random groups of orders, tax modes and discounts: every bill's sums reconcile and no line goes negative."""
    config = data.draw(billing_settings())
    group = [data.draw(orders(f"demo.o{n}")) for n in range(data.draw(st.integers(1, 3)))]
    check_bill(b.compute_bill(group, config, "INR"), group, config)


def _split(data: st.DataObject, total: int, most: int) -> list[int]:
    """``total`` (> 0) in 1..most positive parts."""
    cuts = data.draw(st.sets(st.integers(1, total - 1), max_size=most - 1)) if total > 1 else set()
    points = [0, *sorted(cuts), total]
    return [high - low for low, high in pairwise(points)]


class Day:
    """One day at the till, built by random draws: bills, payments, ledger, refunds, voids, payouts."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data
        self.txns: list[LedgerTransaction] = []
        self.payments: list[Payment] = []
        self.seq = 0

    def next_id(self, prefix: str) -> str:
        self.seq += 1
        return f"{prefix}{self.seq}"

    def staff(self) -> str:
        return self.data.draw(st.sampled_from(["cashier-1", "cashier-2", "manager-1"]))

    def post(self, txn: LedgerTransaction) -> LedgerTransaction:
        b.check_balanced(txn)
        self.txns.append(txn)
        return txn

    def tenders(self, amount: int) -> list[Tender]:
        tenders = []
        for part in _split(self.data, amount, 3):
            method = self.data.draw(st.sampled_from(list(TenderMethod)))
            extra = self.data.draw(st.none() | st.integers(0, 50_000)) if method is CASH else None
            rider = self.data.draw(st.sampled_from(RIDERS)) if method is TenderMethod.COD else ""
            received = None if extra is None else part + extra
            tenders.append(Tender(method=method, amount=part, received=received, reference=rider))
        return tenders

    def pay(self, bill: Bill, reference: str, settle_it: bool) -> list[LedgerTransaction]:
        """Part payments (deposits), then the settling one when asked; returns the bill's transactions."""
        rounds = _split(self.data, bill.total, 3) if bill.total else []
        if not settle_it and rounds:
            rounds = rounds[:-1]
        paid = 0
        posted = []
        for amount in rounds:
            tenders = self.tenders(amount)
            taken = b.take_payments(bill.total, paid, tenders, NOW, self.staff(), [self.next_id("p") for _ in tenders])
            assert taken.change == sum(t.change for t in tenders) >= 0
            assert taken.remaining == bill.total - paid - amount
            assert all(p.received is None or p.received - p.change == p.amount for p in taken.payments)
            self.payments.extend(taken.payments)
            txn = b.payment_entries(
                bill,
                taken.payments,
                deposited=paid,
                reference=reference,
                now=NOW,
                by=self.staff(),
                txn_id=self.next_id("t"),
            )
            paid += amount
            assert txn.kind is (LedgerKind.SALE if taken.remaining == 0 else LedgerKind.DEPOSIT)
            posted.append(self.post(txn))
        if settle_it and bill.total == 0:
            posted.append(
                self.post(
                    b.sale_entries(bill, [], reference=reference, now=NOW, by=self.staff(), txn_id=self.next_id("t"))
                )
            )
        return posted


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_ledger_payments_and_z_report_agree_to_the_minor_unit(data: st.DataObject) -> None:
    """A random day of orders, discounts, split tenders with change, part payments, refunds, voids and payouts:
    every transaction balances, and the Z-report, the payments and the ledger agree to the minor unit."""
    day = Day(data)
    config = data.draw(billing_settings())
    if data.draw(st.booleans()):
        day.post(b.float_entries(data.draw(st.integers(1, 500_000)), now=NOW, by=day.staff(), txn_id=day.next_id("f")))
    settled: list[Bill] = []
    voided_money = refunded_money = 0
    open_deposits = 0
    for n in range(data.draw(st.integers(1, 4))):
        group = [data.draw(orders(f"demo.b{n}o{k}")) for k in range(data.draw(st.integers(1, 2)))]
        bill = b.compute_bill(group, config, "INR")
        check_bill(bill, group, config)
        reference = f"INV-{n}"
        settle_it = data.draw(st.integers(0, 4)) > 0
        paid_before = len(day.payments)
        posted = day.pay(bill, reference, settle_it)
        paid = sum(p.amount for p in day.payments[paid_before:])
        held = -b.account_balances(posted).get(b.CUSTOMER_DEPOSITS, 0)
        assert paid == (bill.total if settle_it else held)
        if not settle_it:
            leaves = data.draw(st.booleans())
            if posted and leaves:  # the party leaves: its deposits are given back
                day.post(b.void_entries(posted, reference=reference, now=NOW, by=day.staff(), txn_id=day.next_id("v")))
                voided_money += paid
            else:
                open_deposits += paid
            continue
        settled.append(bill)
        sale = posted[-1]
        action = data.draw(st.sampled_from(["keep", "refund", "refund-all", "void"]))
        if action == "void":
            void = day.post(
                b.void_entries(posted, reference=reference, now=NOW, by=day.staff(), txn_id=day.next_id("v"))
            )
            after = b.account_balances([*posted, void])
            given_back = sum(v for a, v in after.items() if b.rider_of(a))  # COD: from the drawer, riders still owe it
            assert after.get(b.CASH_DRAWER, 0) == -given_back
            assert all(v == 0 for a, v in after.items() if not b.rider_of(a) and a != b.CASH_DRAWER)
            voided_money += bill.total
        elif action.startswith("refund") and bill.total:
            earlier: list[LedgerTransaction] = []
            left = bill.total
            if action == "refund-all":  # in up to three parts
                amounts = _split(data, bill.total, 3)
            else:
                amounts = [data.draw(st.integers(1, bill.total))]
                if amounts[0] < bill.total and data.draw(st.booleans()):
                    amounts.append(data.draw(st.integers(1, bill.total - amounts[0])))
            for amount in amounts:
                method = data.draw(st.sampled_from(list(b.TENDER_ACCOUNTS)))  # at the counter: never COD
                refund = day.post(
                    b.refund_entries(
                        sale, amount, method, earlier=earlier, now=NOW, by=day.staff(), txn_id=day.next_id("r")
                    )
                )
                earlier.append(refund)
                left -= amount
                refunded_money += amount
            if left == 0:  # fully refunded: revenue, tax and service charge of the invoice are back to zero
                balances = b.account_balances([sale, *earlier])
                assert balances.get(b.SALES, 0) + balances.get(b.DISCOUNTS, 0) + balances.get(b.REFUNDS, 0) == 0
                assert all(v == 0 for a, v in balances.items() if a.startswith(b.TAX_PREFIX) or a == b.SERVICE_CHARGE)
    for _ in range(data.draw(st.integers(0, 2))):
        category = data.draw(st.sampled_from(["supplies", "tips", "petty"]))
        day.post(
            b.payout_entries(
                data.draw(st.integers(1, 20_000)), category, now=NOW, by=day.staff(), txn_id=day.next_id("o")
            )
        )
    counted = data.draw(st.none() | st.integers(0, 10**7))

    report = b.z_report(DAY, day.txns, currency="INR", counted_cash=counted)
    balances = b.account_balances(day.txns)
    assert sum(balances.values()) == 0
    # the payments and the Z-report
    by_method = Counter[str]()
    for payment in day.payments:
        by_method[payment.method.value] += payment.amount
    assert report.takings_by_method == {m.value: by_method[m.value] for m in TenderMethod}
    # the ledger and the Z-report
    for method, account in b.TENDER_ACCOUNTS.items():
        if method is CASH:
            assert balances.get(account, 0) == report.expected_cash
            assert report.expected_cash == report.opening_float + report.net_by_method["CASH"] - report.payouts
        else:
            assert balances.get(account, 0) == report.net_by_method[method.value]
    held_by_riders = b.rider_balances(day.txns)
    assert sum(held_by_riders.values()) == report.net_by_method["COD"] == report.riders_hold
    assert {r.rider: r.holds for r in report.riders} == held_by_riders
    assert report.net_revenue == -sum(balances.get(a, 0) for a in (b.SALES, b.DISCOUNTS, b.REFUNDS))
    assert report.net_tax_by_code == {
        a.removeprefix(b.TAX_PREFIX): -v for a, v in sorted(balances.items()) if a.startswith(b.TAX_PREFIX)
    }
    given_back = sum(
        entry.debit
        for txn in day.txns
        if txn.kind is LedgerKind.VOID
        for entry in txn.entries
        if entry.account == b.CUSTOMER_DEPOSITS
    )
    held = -balances.get(b.CUSTOMER_DEPOSITS, 0)
    assert held == open_deposits == report.deposits_taken - report.deposits_applied - given_back
    # the bills and the Z-report
    assert report.invoices == len(settled)
    assert report.bills_total == sum(bill.total for bill in settled)
    assert report.gross_sales == sum(
        bill.gross - (bill.tax if bill.tax_mode is TaxMode.INCLUSIVE else 0) for bill in settled
    )
    assert report.discounts == sum(bill.discount for bill in settled)
    assert report.service_charge == sum(bill.service_charge for bill in settled)
    taxes = Counter[str]()
    for bill in settled:
        for line in bill.taxes:
            taxes[line.code] += line.tax
    assert report.tax_by_code == {code: tax for code, tax in sorted(taxes.items()) if tax}
    assert report.tax == sum(bill.tax for bill in settled)
    assert report.refunded == refunded_money and report.voided == voided_money
    # what customers paid and kept paying equals revenue + tax + service charge + deposits still held
    kept = sum(report.net_by_method.values())
    assert (
        kept
        == report.net_revenue + sum(report.net_tax_by_code.values()) - balances.get(b.SERVICE_CHARGE, 0) + open_deposits
    )
    assert report.expected_cash + sum(v for m, v in report.net_by_method.items() if m != "CASH") == (
        report.opening_float - report.payouts + kept
    )
    assert report.cash_difference == (None if counted is None else counted - report.expected_cash)
    assert sum(s.takings for s in report.staff) == sum(report.takings_by_method.values())
    assert sum(s.invoices for s in report.staff) == report.invoices
    assert sum(s.refunded for s in report.staff) == report.refunded
    assert sum(s.voided for s in report.staff) == report.voided
    assert sum(s.payouts for s in report.staff) == report.payouts
    assert sum(s.discounts for s in report.staff) == report.discounts
