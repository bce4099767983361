"""Billing records: settings, discounts, bills, tenders, payments, ledger transactions and the Z-report.

Every amount is an integer in the restaurant currency's minor units (paise,
cents); rates are basis points (1 bp = 0.01 %, 10000 bp = 100 %). The rules
that produce these records live in ``fireflow.hub.domain.billing``; the one rounding
rule in ``fireflow.hub.domain.money``.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from fireflow.schema.base import OrderType, Record, StrEnum

__all__ = [
    "Bill",
    "BillLine",
    "BillingSettings",
    "Discount",
    "DiscountKind",
    "LedgerEntry",
    "LedgerKind",
    "LedgerTransaction",
    "Payment",
    "RiderCash",
    "StaffTotals",
    "TaxLine",
    "TaxMode",
    "TaxRate",
    "Tender",
    "TenderMethod",
    "ZReport",
]

BP = 10_000  # basis points in 100 %


class TaxMode(StrEnum):
    EXCLUSIVE = "EXCLUSIVE"  # menu prices exclude tax: tax is added on top
    INCLUSIVE = "INCLUSIVE"  # menu prices include tax: tax is contained in them


class TaxRate(Record):
    code: str
    name: str = ""
    rate_bp: int = Field(ge=0, le=BP, description="basis points: 500 is 5 %")


class BillingSettings(Record):
    tax_mode: TaxMode = TaxMode.EXCLUSIVE
    taxes: tuple[TaxRate, ...] = Field(default=(), description="rates by the menu items' tax codes")
    service_charge_bp: int = Field(default=0, ge=0, le=BP, description="service charge, not taxed")
    service_charge_types: tuple[OrderType, ...] = Field(
        default=(OrderType.DINE_IN,), description="order types the service charge applies to"
    )
    bill_lock_s: int = Field(default=300, ge=1, description="how long requesting the bill locks the order")
    discount_pin_above_bp: int = Field(
        default=1000, ge=0, le=BP, description="discounts above this share of the gross need a manager PIN"
    )

    @model_validator(mode="after")
    def _codes_are_unique(self) -> BillingSettings:
        codes = [tax.code for tax in self.taxes]
        if len(set(codes)) != len(codes):
            raise ValueError(f"tax codes must be unique: {codes}")
        return self

    def tax_rate(self, code: str) -> TaxRate:
        """The rate of a tax code; a code with no rate configured is taxed at 0 % and keeps its code."""
        for tax in self.taxes:
            if tax.code == code:
                return tax
        return TaxRate(code=code, name=code, rate_bp=0)


class DiscountKind(StrEnum):
    AMOUNT = "AMOUNT"  # value in minor units
    PERCENT = "PERCENT"  # value in basis points


class Discount(Record):
    """A discount on one line (``line_id``) or on the whole order (``line_id`` None)."""

    id: str
    kind: DiscountKind
    value: int = Field(ge=0, description="minor units for AMOUNT, basis points for PERCENT")
    line_id: str | None = Field(default=None, description="the line it applies to; None: the whole order")
    reason: str = ""
    by: str = ""
    approved_by: str | None = Field(default=None, description="the manager whose PIN approved it")

    @model_validator(mode="after")
    def _percent_at_most_all(self) -> Discount:
        if self.kind is DiscountKind.PERCENT and self.value > BP:
            raise ValueError(f"a percent discount is at most {BP} basis points")
        return self


class BillLine(Record):
    order_id: str
    line_id: str
    menu_item_id: str
    name: str
    quantity: int
    unit_price: int
    gross: int = Field(description="unit_price x quantity")
    discount: int = Field(description="line discounts plus this line's share of order discounts")
    net: int = Field(description="gross - discount, never negative")
    tax_code: str
    tax_rate_bp: int
    tax: int = Field(description="added on top of net (EXCLUSIVE) or contained in it (INCLUSIVE)")
    total: int = Field(description="what the line costs: net + tax (EXCLUSIVE) or net (INCLUSIVE)")


class TaxLine(Record):
    code: str
    rate_bp: int
    taxable: int = Field(description="the amount the tax is on, excluding the tax")
    tax: int


class Bill(Record):
    """The exact breakdown of one or several orders: ``sum(line.total) + service_charge == total``."""

    currency: str
    tax_mode: TaxMode
    order_ids: tuple[str, ...]
    lines: tuple[BillLine, ...]
    gross: int
    discount: int
    service_charge: int
    taxes: tuple[TaxLine, ...]
    tax: int
    total: int


class TenderMethod(StrEnum):
    CASH = "CASH"
    UPI = "UPI"
    CARD = "CARD"
    WALLET = "WALLET"
    COD = "COD"  # cash collected on delivery by a rider (``reference``: the rider): only delivery.deliver takes it


class Tender(Record):
    """One way the customer pays part of the bill; cash may be handed over in excess and gets change."""

    method: TenderMethod
    amount: int = Field(gt=0, description="what it pays of the bill")
    received: int | None = Field(default=None, description="cash handed over (CASH only), at least amount")
    reference: str = Field(default="", description="UPI/card/wallet transaction reference")

    @model_validator(mode="after")
    def _received_is_cash_and_enough(self) -> Tender:
        if self.received is not None:
            if self.method is not TenderMethod.CASH:
                raise ValueError("only cash is received in excess of the amount")
            if self.received < self.amount:
                raise ValueError("cash received must be at least the amount")
        return self

    @property
    def change(self) -> int:
        return 0 if self.received is None else self.received - self.amount


class Payment(Record):
    id: str
    method: TenderMethod
    amount: int = Field(gt=0, description="what it paid of the bill (change excluded)")
    received: int | None = None
    change: int = Field(default=0, ge=0)
    reference: str = ""
    at: int
    by: str


class LedgerKind(StrEnum):
    SALE = "SALE"  # a bill settled: revenue, tax and service charge recognised
    DEPOSIT = "DEPOSIT"  # a part payment held until the bill is settled
    REFUND = "REFUND"  # money given back on a settled invoice
    VOID = "VOID"  # a whole invoice (or an unsettled order's deposits) reversed
    PAYOUT = "PAYOUT"  # cash out of the drawer
    FLOAT = "FLOAT"  # the drawer's opening float
    RIDER_FLOAT = "RIDER_FLOAT"  # cash from the drawer to a rider for change (rider.float)
    RIDER_HANDOVER = "RIDER_HANDOVER"  # cash a rider hands in at the counter, all or part of it (rider.handover)


class LedgerEntry(Record):
    """One side of a double entry: exactly one of debit and credit is positive."""

    account: str
    debit: int = Field(default=0, ge=0)
    credit: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _one_side(self) -> LedgerEntry:
        if (self.debit > 0) == (self.credit > 0):
            raise ValueError("exactly one of debit and credit is positive")
        return self


class LedgerTransaction(Record):
    """Entries posted together; debits and credits balance (``fireflow.hub.domain.billing.check_balanced``)."""

    id: str
    kind: LedgerKind
    reference: str = Field(description="the invoice number, or the bill's key for deposits")
    entries: tuple[LedgerEntry, ...]
    at: int
    by: str
    category: str = Field(default="", description="payouts: what the cash was for")
    note: str = ""


class StaffTotals(Record):
    by: str
    invoices: int = 0
    takings: int = Field(default=0, description="money taken at sales and part payments")
    discounts: int = 0
    refunded: int = 0
    voided: int = 0
    payouts: int = 0


class RiderCash(Record):
    """One rider's cash over a day: what the rider held coming in, took, collected and handed in, and still holds."""

    rider: str
    carried_in: int = Field(description="held at the start of the day (earlier days' rest)")
    floats: int = Field(description="change given from the drawer")
    collected: int = Field(description="cash collected on delivery")
    handed_in: int = Field(description="cash handed in at the counter")
    holds: int = Field(description="still held at the end of the day: carried to the next")


class ZReport(Record):
    """One day's figures, all from its ledger transactions: they agree with the ledger to the minor unit.

    Sales figures (gross, discounts, service charge, tax) come from the day's
    SALE transactions; refunds and voids are shown apart and taken off in
    ``net_revenue``, ``net_tax_by_code`` and ``net_by_method``.
    """

    day: str
    currency: str = ""
    invoices: int = Field(description="bills settled (SALE transactions)")
    bills_total: int = Field(description="what the settled bills came to, tax and service charge included")
    average_bill: int
    gross_sales: int = Field(description="sales before discounts, excluding tax")
    discounts: int
    service_charge: int
    tax_by_code: dict[str, int]
    tax: int
    net_revenue: int = Field(description="sales - discounts - refunds - voids, excluding tax and service charge")
    net_tax_by_code: dict[str, int] = Field(description="tax owed for the day after refunds and voids")
    takings_by_method: dict[str, int] = Field(description="money taken at sales and part payments")
    refunds: int = Field(description="how many refunds")
    refunds_by_method: dict[str, int]
    refunded: int
    voids: int = Field(description="how many voids")
    voids_by_method: dict[str, int]
    voided: int
    net_by_method: dict[str, int] = Field(description="takings - refunds - voids per method")
    deposits_taken: int = Field(description="part payments held for bills not settled at the time")
    deposits_applied: int = Field(description="earlier part payments used by the day's settlements")
    payouts: int
    payouts_by_category: dict[str, int]
    opening_float: int
    expected_cash: int = Field(
        description="the drawer: float + cash taken - cash refunded - cash voided - payouts"
        " - riders' floats + riders' cash handed in"
    )
    counted_cash: int | None = None
    cash_difference: int | None = Field(default=None, description="counted - expected: over (+) or short (-)")
    staff: tuple[StaffTotals, ...] = ()
    riders: tuple[RiderCash, ...] = Field(default=(), description="each rider's cash; what they hold is carried over")
    riders_hold: int = Field(default=0, description="cash all riders hold at the end of the day")
