"""Bills, discounts, payments, the double-entry ledger and the Z-report: pure, in integer minor units.

Bills (:func:`compute_bill`), over one order or a group of them; each line keeps its order:

- a line's ``gross`` is ``unit_price x quantity``;
- line discounts (``Discount.line_id`` set) come off their line; a PERCENT one is
  a share of the line's gross; together they never exceed the gross;
- order discounts (``line_id`` None) come off the order after its line discounts
  (a PERCENT one is a share of that amount; together they never exceed it) and
  are allocated over the order's lines by largest remainder in proportion to
  what each line still costs, so the lines' shares add up exactly and none goes
  negative; a line discount whose line is gone applies to nothing;
- tax per line from its tax code (an unconfigured code is 0 %): EXCLUSIVE adds
  ``net x rate / 10000`` on top, INCLUSIVE finds ``net x rate / (10000 + rate)``
  inside ``net``; each line's tax is rounded once, and a tax line per code adds
  them up;
- service charge: ``service_charge_bp`` of the lines' amounts excluding tax, for
  orders whose type is in ``service_charge_types``, rounded once for the bill.
  It is not taxed;
- ``total = sum(net) + (tax if EXCLUSIVE) + service_charge = sum(line.total) + service_charge``.

Every rounding follows ``fireflow.hub.domain.money`` (half away from zero).

Ledger accounts (a balance is debits minus credits):

- ``asset:cash_drawer``, ``asset:upi``, ``asset:card``, ``asset:wallet``: money taken, one per tender method
- ``asset:rider_cash:<rider>``: cash a rider holds for the restaurant (the rider's float and what the rider
  collected on delivery, less what was handed in): the rider's debt to the restaurant, one account per
  rider, carried from day to day until handed in (seed 004's rider-as-debtor)
- ``liability:customer_deposits``: part payments on bills not yet settled
- ``liability:tax:<code>``: tax owed, per tax code
- ``liability:service_charge``: service charge collected (for the staff, so not revenue)
- ``revenue:sales``: sales before discounts, excluding tax
- ``revenue:discounts``, ``revenue:refunds``: contra-revenue (debit balances)
- ``expense:payouts``: cash paid out of the drawer
- ``equity:float``: the drawer's opening float

Posting rules (every transaction balances; :func:`check_balanced` proves it):

- DEPOSIT, a part payment that leaves the bill unsettled: Dr each tender's
  asset, Cr customer_deposits. The sale is recognised only when the bill is settled.
- SALE, the payment that settles the bill: Dr each tender's asset for this
  payment, Dr customer_deposits for the earlier part payments, Dr discounts for
  the bill's discount; Cr sales (gross, or gross - tax when INCLUSIVE: revenue
  before discounts, excluding tax), Cr tax per code, Cr service_charge.
- REFUND of an amount through one method: Cr that method's asset; Dr refunds,
  tax per code and service_charge, the amount allocated by largest remainder
  over what the invoice still holds on each (so refunds reverse tax too, and
  refunding everything brings each back to zero).
- VOID of an invoice (its SALE and its DEPOSITs), or of an unsettled order's
  deposits: every entry mirrored, netted per account; what a rider collected is given back
  from the cash drawer (the rider still owes it). An invoice with refunds
  is not voided: refund the rest instead.
- PAYOUT: Dr payouts, Cr cash_drawer. FLOAT: Dr cash_drawer, Cr float.
- COD, cash on delivery, is a tender like the others whose account is the rider's: a SALE paid COD
  debits ``asset:rider_cash:<rider>``.
- RIDER_FLOAT: Dr rider_cash:<rider>, Cr cash_drawer (change for the shift).
  RIDER_HANDOVER: Dr cash_drawer, Cr rider_cash:<rider>, never more than the rider holds.

The Z-report is computed from ledger transactions alone, so it, the payments
and the ledger agree to the minor unit. Refusals raise ``DomainError``; the two
codes this module would like to add to ``ErrorCode`` are in
``PROPOSED_ERROR_CODES`` and ride in ``details["reason"]`` until then.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from fireflow.hub.domain.errors import DomainError
from fireflow.hub.domain.money import BP, allocate, average, divide, major, percent_of
from fireflow.hub.domain.orders import OPEN, bump
from fireflow.schema.billing import (
    Bill,
    BillingSettings,
    BillLine,
    Discount,
    DiscountKind,
    LedgerEntry,
    LedgerKind,
    LedgerTransaction,
    Payment,
    RiderCash,
    StaffTotals,
    TaxLine,
    TaxMode,
    Tender,
    TenderMethod,
    ZReport,
)
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.records import Order, OrderStatus, PaymentStatus

__all__ = [
    "AMOUNT_MISMATCH",
    "CASH_DRAWER",
    "CUSTOMER_DEPOSITS",
    "DISCOUNTS",
    "FLOAT",
    "PAYOUTS",
    "PIN_REQUIRED",
    "PROPOSED_ERROR_CODES",
    "REFUNDS",
    "RIDER_CASH_PREFIX",
    "SALES",
    "SERVICE_CHARGE",
    "TAX_PREFIX",
    "TENDER_ACCOUNTS",
    "TakenPayments",
    "account_balances",
    "add_discount",
    "check_balanced",
    "compute_bill",
    "deposit_entries",
    "discount_share_bp",
    "float_entries",
    "method_of",
    "needs_pin",
    "payment_entries",
    "payment_status",
    "payout_entries",
    "refund_entries",
    "remove_discount",
    "rider_account",
    "rider_balances",
    "rider_cash",
    "rider_float_entries",
    "rider_handover_entries",
    "rider_of",
    "sale_entries",
    "take_payments",
    "tax_account",
    "tender_account",
    "void_entries",
    "z_report",
]

PIN_REQUIRED = "PIN_REQUIRED"  # a discount over the restaurant's limit without a manager's approval
AMOUNT_MISMATCH = "AMOUNT_MISMATCH"  # payments that do not add up to what is due
PROPOSED_ERROR_CODES = (PIN_REQUIRED, AMOUNT_MISMATCH)

CASH_DRAWER = "asset:cash_drawer"
RIDER_CASH_PREFIX = "asset:rider_cash:"
TENDER_ACCOUNTS: Mapping[TenderMethod, str] = {
    TenderMethod.CASH: CASH_DRAWER,
    TenderMethod.UPI: "asset:upi",
    TenderMethod.CARD: "asset:card",
    TenderMethod.WALLET: "asset:wallet",
}
CUSTOMER_DEPOSITS = "liability:customer_deposits"
SERVICE_CHARGE = "liability:service_charge"
TAX_PREFIX = "liability:tax:"
SALES = "revenue:sales"
DISCOUNTS = "revenue:discounts"
REFUNDS = "revenue:refunds"
PAYOUTS = "expense:payouts"
FLOAT = "equity:float"

_METHOD_OF = {account: method for method, account in TENDER_ACCOUNTS.items()}
_BILLABLE = frozenset({OrderStatus.ACTIVE, OrderStatus.READY, OrderStatus.CLOSED})


def rider_account(rider: str) -> str:
    """The account of the cash ``rider`` holds for the restaurant."""
    return f"{RIDER_CASH_PREFIX}{rider}"


def rider_of(account: str) -> str | None:
    """The rider whose cash account this is, or None."""
    return account.removeprefix(RIDER_CASH_PREFIX) if account.startswith(RIDER_CASH_PREFIX) else None


def method_of(account: str) -> TenderMethod | None:
    """The tender method whose money an account holds (a rider's cash is COD), or None."""
    return TenderMethod.COD if account.startswith(RIDER_CASH_PREFIX) else _METHOD_OF.get(account)


def tender_account(method: TenderMethod, reference: str = "") -> str:
    """Where a payment of ``method`` goes: COD to the cash account of its rider (``reference``)."""
    if method is TenderMethod.COD:
        if not reference:
            raise DomainError(ErrorCode.INVALID_COMMAND, "cash on delivery names the rider who collected it")
        return rider_account(reference)
    return TENDER_ACCOUNTS[method]


def tax_account(code: str) -> str:
    return f"{TAX_PREFIX}{code}"


def _refuse(code: ErrorCode, reason: str, message: str, **details: Any) -> DomainError:
    return DomainError(code, message, {"reason": reason, **details})


# -- bills ----------------------------------------------------------------------------------------


def _discount_amount(discount: Discount, base: int) -> int:
    return discount.value if discount.kind is DiscountKind.AMOUNT else percent_of(base, discount.value)


class _Levels(NamedTuple):
    """An order's discounts before capping: per line, and for the order after line discounts."""

    gross: list[int]
    line_discounts: list[int]  # asked for, per line, not yet capped at the line's gross
    after_lines: list[int]  # what each line costs after its (capped) line discounts
    order_discount: int  # asked for, not yet capped at sum(after_lines)


def _levels(order: Order) -> _Levels:
    gross = [item.unit_price * item.quantity for item in order.items]
    index = {item.id: i for i, item in enumerate(order.items)}
    asked = [0] * len(gross)
    for discount in order.discounts:
        if discount.line_id is not None and discount.line_id in index:
            i = index[discount.line_id]
            asked[i] += _discount_amount(discount, gross[i])
    after = [g - min(a, g) for g, a in zip(gross, asked, strict=True)]
    base = sum(after)
    order_discount = sum(_discount_amount(d, base) for d in order.discounts if d.line_id is None)
    return _Levels(gross, asked, after, order_discount)


def _order_lines(order: Order, settings: BillingSettings) -> list[BillLine]:
    levels = _levels(order)
    shares = allocate(min(levels.order_discount, sum(levels.after_lines)), levels.after_lines)
    lines = []
    for item, gross, after, share in zip(order.items, levels.gross, levels.after_lines, shares, strict=True):
        net = after - share
        rate = settings.tax_rate(item.tax_code).rate_bp
        if settings.tax_mode is TaxMode.EXCLUSIVE:
            tax = divide(net * rate, BP)
            total = net + tax
        else:
            tax = divide(net * rate, BP + rate)
            total = net
        lines.append(
            BillLine(
                order_id=order.id,
                line_id=item.id,
                menu_item_id=item.menu_item_id,
                name=item.label,
                quantity=item.quantity,
                unit_price=item.unit_price,
                gross=gross,
                discount=gross - net,
                net=net,
                tax_code=item.tax_code,
                tax_rate_bp=rate,
                tax=tax,
                total=total,
            )
        )
    return lines


def _check_group(orders: Sequence[Order]) -> None:
    if not orders:
        raise DomainError(ErrorCode.INVALID_COMMAND, "a bill needs at least one order")
    ids = [order.id for order in orders]
    if len(set(ids)) != len(ids):
        raise DomainError(ErrorCode.INVALID_COMMAND, "an order appears twice in the bill", {"order_ids": ids})
    for order in orders:
        if order.status not in _BILLABLE:
            raise DomainError(ErrorCode.INVALID_STATE, f"order {order.number} is {order.status}")
    customers = sorted({" ".join(o.customer_name.split()).casefold() for o in orders if o.customer_name})
    customers = [name for name in customers if name]
    if len(customers) > 1:
        raise _refuse(
            ErrorCode.INVALID_STATE,
            "MIXED_CUSTOMERS",
            "one bill cannot cover orders of different named customers",
            customers=customers,
        )


def compute_bill(orders: Sequence[Order], settings: BillingSettings, currency: str) -> Bill:
    """The exact bill of one order, or one group bill over several (each line keeps its order)."""
    _check_group(orders)
    lines: list[BillLine] = []
    service_base = 0
    for order in orders:
        order_lines = _order_lines(order, settings)
        lines.extend(order_lines)
        if order.type in settings.service_charge_types:
            service_base += sum(line.total - line.tax for line in order_lines)
    service_charge = percent_of(service_base, settings.service_charge_bp)
    by_rate: dict[tuple[str, int], list[BillLine]] = defaultdict(list)
    for line in lines:
        by_rate[line.tax_code, line.tax_rate_bp].append(line)
    taxes = tuple(
        TaxLine(
            code=code,
            rate_bp=rate,
            taxable=sum(line.total - line.tax for line in group),
            tax=sum(line.tax for line in group),
        )
        for (code, rate), group in sorted(by_rate.items())
    )
    return Bill(
        currency=currency,
        tax_mode=settings.tax_mode,
        order_ids=tuple(order.id for order in orders),
        lines=tuple(lines),
        gross=sum(line.gross for line in lines),
        discount=sum(line.discount for line in lines),
        service_charge=service_charge,
        taxes=taxes,
        tax=sum(line.tax for line in lines),
        total=sum(line.total for line in lines) + service_charge,
    )


# -- discounts ------------------------------------------------------------------------------------


def discount_share_bp(bill: Bill) -> int:
    """How much of the bill's gross its discounts take, in basis points (rounded by the rule)."""
    return divide(bill.discount * BP, bill.gross) if bill.gross else 0


def needs_pin(bill: Bill, settings: BillingSettings) -> bool:
    """Whether the bill's discounts are over the limit that needs a manager's PIN (compared exactly)."""
    return bill.discount * BP > settings.discount_pin_above_bp * bill.gross


def _percent(bp: int) -> str:
    """Basis points for people, without floats: 1000 is "10 %", 1250 is "12.5 %"."""
    whole, part = divmod(bp, 100)
    return f"{whole}.{part:02d}".rstrip("0").rstrip(".") + " %"


def _require_discountable(order: Order) -> None:
    if order.status not in OPEN:
        raise DomainError(ErrorCode.INVALID_STATE, f"order {order.number} is {order.status}")
    if order.payment_status in (PaymentStatus.PAID, PaymentStatus.REFUNDED):
        raise DomainError(ErrorCode.INVALID_STATE, f"order {order.number} is {order.payment_status}")


def add_discount(order: Order, discount: Discount, settings: BillingSettings, *, paid: int = 0) -> Order:
    """The order with one more discount (and a new version).

    Refused when it is more than what it applies to, when it takes the bill's
    discounts over the PIN limit without ``approved_by`` (a manager whose PIN the
    caller has checked), or when it would bring the bill below ``paid``.
    """
    _require_discountable(order)
    if any(existing.id == discount.id for existing in order.discounts):
        raise DomainError(ErrorCode.INVALID_STATE, f"order {order.number} already has discount {discount.id!r}")
    if discount.line_id is not None and order.line(discount.line_id) is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"order {order.number} has no line {discount.line_id!r}")
    new = bump(order, discounts=(*order.discounts, discount))
    levels = _levels(new)
    if discount.line_id is not None:
        i = next(i for i, item in enumerate(new.items) if item.id == discount.line_id)
        fits, available = levels.line_discounts[i] <= levels.gross[i], levels.gross[i]
    else:
        fits, available = levels.order_discount <= sum(levels.after_lines), sum(levels.after_lines)
    if not fits:
        raise DomainError(
            ErrorCode.INVALID_COMMAND,
            f"the discounts would be more than the {available} they apply to",
            {"reason": "DISCOUNT_TOO_LARGE", "available": available},
        )
    bill = compute_bill([new], settings, "")
    if discount.approved_by is None and needs_pin(bill, settings):
        raise _refuse(
            ErrorCode.PIN_REQUIRED,
            PIN_REQUIRED,
            f"discounts over {_percent(settings.discount_pin_above_bp)} need a manager's PIN",
            share_bp=discount_share_bp(bill),
            limit_bp=settings.discount_pin_above_bp,
        )
    if bill.total < paid:
        raise _refuse(
            ErrorCode.AMOUNT_MISMATCH,
            AMOUNT_MISMATCH,
            f"the bill would be {bill.total}, less than the {paid} already paid",
            total=bill.total,
            paid=paid,
        )
    return new


def remove_discount(order: Order, discount_id: str) -> Order:
    _require_discountable(order)
    kept = tuple(d for d in order.discounts if d.id != discount_id)
    if len(kept) == len(order.discounts):
        raise DomainError(ErrorCode.NOT_FOUND, f"order {order.number} has no discount {discount_id!r}")
    return bump(order, discounts=kept)


# -- payments -------------------------------------------------------------------------------------


def payment_status(total: int, paid: int) -> PaymentStatus:
    if paid <= 0 and total > 0:
        return PaymentStatus.UNPAID
    return PaymentStatus.PAID if paid >= total else PaymentStatus.PARTIALLY_PAID


class TakenPayments(NamedTuple):
    payments: tuple[Payment, ...]
    change: int  # cash to hand back
    remaining: int  # still due: 0 is PAID

    @property
    def status(self) -> PaymentStatus:
        return PaymentStatus.PAID if self.remaining == 0 else PaymentStatus.PARTIALLY_PAID


def take_payments(
    total: int, already_paid: int, tenders: Sequence[Tender], now: int, by: str, ids: Sequence[str]
) -> TakenPayments:
    """Tenders become payments: together at most what is still due (overpaying is cash change, never amount)."""
    if not tenders:
        raise DomainError(ErrorCode.INVALID_COMMAND, "no tenders")
    if len(ids) != len(tenders) or len(set(ids)) != len(ids):
        raise DomainError(ErrorCode.INVALID_COMMAND, "one distinct payment id per tender")
    due = total - already_paid
    if due <= 0:
        raise DomainError(ErrorCode.INVALID_STATE, "the bill is already paid", {"total": total, "paid": already_paid})
    amount = sum(tender.amount for tender in tenders)
    if amount > due:
        raise _refuse(
            ErrorCode.AMOUNT_MISMATCH,
            AMOUNT_MISMATCH,
            f"the tenders pay {amount}, more than the {due} due (give change on cash instead)",
            due=due,
            amount=amount,
        )
    payments = tuple(
        Payment(
            id=payment_id,
            method=tender.method,
            amount=tender.amount,
            received=tender.received,
            change=tender.change,
            reference=tender.reference,
            at=now,
            by=by,
        )
        for payment_id, tender in zip(ids, tenders, strict=True)
    )
    return TakenPayments(payments, sum(tender.change for tender in tenders), due - amount)


# -- ledger ---------------------------------------------------------------------------------------


def check_balanced(txn: LedgerTransaction) -> None:
    """Raise unless the transaction's debits equal its credits (a broken invariant, never a user error)."""
    debits = sum(entry.debit for entry in txn.entries)
    credits = sum(entry.credit for entry in txn.entries)
    if debits != credits:
        raise DomainError(
            ErrorCode.INTERNAL,
            f"ledger transaction {txn.id} does not balance: debits {debits}, credits {credits}",
            {"debits": debits, "credits": credits},
        )


def _post(
    kind: LedgerKind,
    moves: Iterable[tuple[str, int]],
    *,
    reference: str,
    now: int,
    by: str,
    txn_id: str,
    category: str = "",
    note: str = "",
) -> LedgerTransaction:
    """A transaction from signed moves (+ debit, - credit), netted per account in order of first use."""
    net: dict[str, int] = {}
    for account, amount in moves:
        net[account] = net.get(account, 0) + amount
    entries = tuple(
        LedgerEntry(account=account, debit=max(amount, 0), credit=max(-amount, 0))
        for account, amount in net.items()
        if amount
    )
    txn = LedgerTransaction(
        id=txn_id, kind=kind, reference=reference, entries=entries, at=now, by=by, category=category, note=note
    )
    check_balanced(txn)
    return txn


def _tendered(payments: Iterable[Payment]) -> list[tuple[str, int]]:
    return [(tender_account(payment.method, payment.reference), payment.amount) for payment in payments]


def sale_entries(
    bill: Bill,
    payments: Sequence[Payment],
    *,
    deposits: int = 0,
    reference: str,
    now: int,
    by: str,
    txn_id: str,
) -> LedgerTransaction:
    """The SALE that settles a bill: ``payments`` now plus ``deposits`` held from part payments pay it exactly."""
    paid = sum(payment.amount for payment in payments)
    if paid + deposits != bill.total:
        raise _refuse(
            ErrorCode.AMOUNT_MISMATCH,
            AMOUNT_MISMATCH,
            f"payments {paid} and deposits {deposits} do not settle the bill of {bill.total}",
            total=bill.total,
            paid=paid,
            deposits=deposits,
        )
    sales = bill.gross if bill.tax_mode is TaxMode.EXCLUSIVE else bill.gross - bill.tax
    moves = [
        *_tendered(payments),
        (CUSTOMER_DEPOSITS, deposits),
        (DISCOUNTS, bill.discount),
        (SALES, -sales),
        *((tax_account(line.code), -line.tax) for line in bill.taxes),
        (SERVICE_CHARGE, -bill.service_charge),
    ]
    return _post(LedgerKind.SALE, moves, reference=reference, now=now, by=by, txn_id=txn_id)


def deposit_entries(
    payments: Sequence[Payment], *, reference: str, now: int, by: str, txn_id: str
) -> LedgerTransaction:
    """A part payment: held as a customer deposit until the bill is settled."""
    if not payments:
        raise DomainError(ErrorCode.INVALID_COMMAND, "a deposit needs at least one payment")
    held = sum(payment.amount for payment in payments)
    moves = [*_tendered(payments), (CUSTOMER_DEPOSITS, -held)]
    return _post(LedgerKind.DEPOSIT, moves, reference=reference, now=now, by=by, txn_id=txn_id)


def payment_entries(
    bill: Bill,
    payments: Sequence[Payment],
    *,
    deposited: int,
    reference: str,
    now: int,
    by: str,
    txn_id: str,
) -> LedgerTransaction:
    """A DEPOSIT while the bill is not fully paid, the SALE (using the deposits) once it is."""
    if deposited + sum(payment.amount for payment in payments) < bill.total:
        return deposit_entries(payments, reference=reference, now=now, by=by, txn_id=txn_id)
    return sale_entries(bill, payments, deposits=deposited, reference=reference, now=now, by=by, txn_id=txn_id)


def _amounts(entries: Iterable[LedgerEntry]) -> dict[str, int]:
    """Signed amount per account: debits minus credits."""
    net: dict[str, int] = defaultdict(int)
    for entry in entries:
        net[entry.account] += entry.debit - entry.credit
    return net


def refund_entries(
    sale: LedgerTransaction,
    amount: int,
    method: TenderMethod,
    *,
    earlier: Sequence[LedgerTransaction] = (),
    now: int,
    by: str,
    txn_id: str,
    note: str = "",
) -> LedgerTransaction:
    """Give back ``amount`` of a settled invoice through ``method``; ``earlier`` are its refunds (or void) so far.

    The amount comes off revenue, tax per code and service charge in proportion
    to what the invoice still holds on each (largest remainder).
    """
    if sale.kind is not LedgerKind.SALE:
        raise DomainError(ErrorCode.INVALID_STATE, f"{sale.kind} {sale.reference} is not a sale")
    if amount <= 0:
        raise DomainError(ErrorCode.INVALID_COMMAND, "a refund is a positive amount")
    sold = _amounts(sale.entries)
    holds = {REFUNDS: -(sold.get(SALES, 0) + sold.get(DISCOUNTS, 0))}
    holds |= {account: -value for account, value in sold.items() if account.startswith(TAX_PREFIX)}
    holds[SERVICE_CHARGE] = -sold.get(SERVICE_CHARGE, 0)
    for txn in earlier:
        if txn.reference != sale.reference:
            raise DomainError(ErrorCode.INVALID_COMMAND, f"{txn.kind} {txn.id} is not on invoice {sale.reference}")
        if txn.kind is LedgerKind.VOID:
            raise DomainError(ErrorCode.INVALID_STATE, f"invoice {sale.reference} is void")
        if txn.kind is LedgerKind.REFUND:
            for account, value in _amounts(txn.entries).items():
                if account in holds:
                    holds[account] -= value
    refundable = sum(holds.values())
    if amount > refundable:
        raise _refuse(
            ErrorCode.AMOUNT_MISMATCH,
            AMOUNT_MISMATCH,
            f"only {refundable} of invoice {sale.reference} is left to refund",
            refundable=refundable,
            amount=amount,
        )
    accounts = list(holds)
    parts = allocate(amount, [holds[account] for account in accounts])
    if method is TenderMethod.COD:
        raise DomainError(ErrorCode.INVALID_COMMAND, "a refund is given at the counter: CASH, UPI, CARD or WALLET")
    moves = [*zip(accounts, parts, strict=True), (TENDER_ACCOUNTS[method], -amount)]
    return _post(LedgerKind.REFUND, moves, reference=sale.reference, now=now, by=by, txn_id=txn_id, note=note)


def void_entries(
    transactions: Sequence[LedgerTransaction],
    *,
    reference: str,
    now: int,
    by: str,
    txn_id: str,
    note: str = "",
) -> LedgerTransaction:
    """Reverse an invoice completely (its SALE and DEPOSITs), or an unsettled order's DEPOSITs.

    Cash a rider collected on delivery is given back at the counter, from the drawer: the rider still
    owes what was collected (it may be handed in already), so a void never moves a rider's cash.
    """
    if not transactions:
        raise DomainError(ErrorCode.INVALID_COMMAND, "nothing to void")
    kinds = [txn.kind for txn in transactions]
    if LedgerKind.VOID in kinds:
        raise DomainError(ErrorCode.INVALID_STATE, f"{reference} is already void")
    if LedgerKind.REFUND in kinds:
        raise DomainError(ErrorCode.INVALID_STATE, f"{reference} has refunds: refund the rest instead of voiding")
    if kinds.count(LedgerKind.SALE) > 1 or not set(kinds) <= {LedgerKind.SALE, LedgerKind.DEPOSIT}:
        raise DomainError(ErrorCode.INVALID_COMMAND, f"only one invoice's sale and deposits can be voided: {kinds}")
    moves = [
        (CASH_DRAWER if rider_of(entry.account) else entry.account, entry.credit - entry.debit)
        for txn in transactions
        for entry in txn.entries
    ]
    return _post(LedgerKind.VOID, moves, reference=reference, now=now, by=by, txn_id=txn_id, note=note)


def payout_entries(
    amount: int, category: str, *, note: str = "", reference: str = "", now: int, by: str, txn_id: str
) -> LedgerTransaction:
    """Cash out of the drawer for ``category`` (supplies, tips, ...)."""
    if amount <= 0:
        raise DomainError(ErrorCode.INVALID_COMMAND, "a payout is a positive amount")
    moves = [(PAYOUTS, amount), (CASH_DRAWER, -amount)]
    return _post(
        LedgerKind.PAYOUT,
        moves,
        reference=reference,
        now=now,
        by=by,
        txn_id=txn_id,
        category=category,
        note=note,
    )


def float_entries(amount: int, *, reference: str = "", now: int, by: str, txn_id: str) -> LedgerTransaction:
    """The opening float put in the drawer."""
    if amount <= 0:
        raise DomainError(ErrorCode.INVALID_COMMAND, "a float is a positive amount")
    moves = [(CASH_DRAWER, amount), (FLOAT, -amount)]
    return _post(LedgerKind.FLOAT, moves, reference=reference, now=now, by=by, txn_id=txn_id)


def rider_float_entries(rider: str, amount: int, *, now: int, by: str, txn_id: str) -> LedgerTransaction:
    """Change from the drawer for a rider's shift: the rider holds it until handed in."""
    if amount <= 0:
        raise DomainError(ErrorCode.INVALID_COMMAND, "a rider's float is a positive amount")
    moves = [(rider_account(rider), amount), (CASH_DRAWER, -amount)]
    return _post(LedgerKind.RIDER_FLOAT, moves, reference=rider, now=now, by=by, txn_id=txn_id)


def rider_handover_entries(
    rider: str,
    amount: int,
    holds: int,
    *,
    now: int,
    by: str,
    txn_id: str,
    currency: str = "",
    digits: int | None = None,
) -> LedgerTransaction:
    """Cash a rider hands in at the counter: all or part of what ``holds``; the rest stays with the rider."""
    if amount <= 0:
        raise DomainError(ErrorCode.INVALID_COMMAND, "a handover is a positive amount")
    if amount > holds:
        held, asked = major(holds, currency, digits), major(amount, currency, digits)
        raise DomainError(
            ErrorCode.INVALID_STATE,
            f"rider {rider} holds {held} {currency}: cannot hand in {asked}".replace("  ", " "),
            {"rider": rider, "holds": holds, "amount": amount},
        )
    moves = [(CASH_DRAWER, amount), (rider_account(rider), -amount)]
    return _post(LedgerKind.RIDER_HANDOVER, moves, reference=rider, now=now, by=by, txn_id=txn_id)


def rider_balances(transactions: Iterable[LedgerTransaction]) -> dict[str, int]:
    """What each rider holds after these transactions (from zero): their cash accounts' balances."""
    held: dict[str, int] = {}
    for entry in (entry for txn in transactions for entry in txn.entries):
        rider = rider_of(entry.account)
        if rider is not None:
            held[rider] = held.get(rider, 0) + entry.debit - entry.credit
    return held


def account_balances(transactions: Iterable[LedgerTransaction]) -> dict[str, int]:
    """Every account's balance, debits minus credits (revenue and liabilities come out negative)."""
    return dict(_amounts(entry for txn in transactions for entry in txn.entries))


# -- Z-report -------------------------------------------------------------------------------------


_STAFF_FIGURES = ("invoices", "takings", "discounts", "refunded", "voided", "payouts")


def _by_method(entries: Iterable[LedgerEntry], *, debit: bool) -> dict[str, int]:
    """What the entries debit (or credit) to each tender method's asset account."""
    totals = dict.fromkeys((method.value for method in TenderMethod), 0)
    for entry in entries:
        method = method_of(entry.account)
        if method is not None:
            totals[method.value] += entry.debit if debit else entry.credit
    return totals


def _add(into: dict[str, int], more: Mapping[str, int]) -> None:
    for key, value in more.items():
        into[key] = into.get(key, 0) + value


_RIDER_FIGURES = ("floats", "collected", "handed_in")


def _rider_moves(transactions: Iterable[LedgerTransaction]) -> dict[str, dict[str, int]]:
    """Each rider's floats, collections and handovers in these transactions (nothing else moves a rider's cash)."""
    riders: dict[str, dict[str, int]] = {}
    for txn in transactions:
        for entry in txn.entries:
            rider = rider_of(entry.account)
            if rider is None:
                continue
            figures = riders.setdefault(rider, dict.fromkeys(_RIDER_FIGURES, 0))
            amount = entry.debit - entry.credit
            if txn.kind is LedgerKind.RIDER_FLOAT:
                figures["floats"] += amount
            elif txn.kind is LedgerKind.RIDER_HANDOVER:
                figures["handed_in"] -= amount
            else:  # a sale or part payment collected on delivery
                figures["collected"] += amount
    return riders


def rider_cash(transactions: Sequence[LedgerTransaction], carried_in: Mapping[str, int]) -> tuple[RiderCash, ...]:
    """Each rider's cash over the day: ``carried_in`` (what each held before it) and the day's moves."""
    moves = _rider_moves(transactions)
    shown = []
    for rider in sorted(set(moves) | {r for r, held in carried_in.items() if held}):
        figures = moves.get(rider, dict.fromkeys(_RIDER_FIGURES, 0))
        before = carried_in.get(rider, 0)
        holds = before + figures["floats"] + figures["collected"] - figures["handed_in"]
        shown.append(RiderCash(rider=rider, carried_in=before, holds=holds, **figures))
    return tuple(shown)


def z_report(
    day: str,
    transactions: Sequence[LedgerTransaction],
    *,
    currency: str = "",
    counted_cash: int | None = None,
    riders_carried_in: Mapping[str, int] | None = None,
) -> ZReport:
    """The day's figures from its ledger transactions alone (each checked to balance).

    Riders' cash is carried from day to day, so what each held before the day (``riders_carried_in``,
    the balances of their accounts over the earlier days) comes in from outside.
    """
    methods = [method.value for method in TenderMethod]
    takings, refunds_by, voids_by = (dict.fromkeys(methods, 0) for _ in range(3))
    tax_by_code: dict[str, int] = {}
    payouts_by_category: dict[str, int] = {}
    staff: dict[str, dict[str, int]] = {}
    invoices = refunds = voids = 0
    bills_total = gross = discounts = service = deposits_taken = deposits_applied = payouts = opening = 0
    for txn in transactions:
        check_balanced(txn)
        amounts = _amounts(txn.entries)
        person = staff.setdefault(txn.by, dict.fromkeys(_STAFF_FIGURES, 0))
        if txn.kind in (LedgerKind.SALE, LedgerKind.DEPOSIT):
            taken = _by_method(txn.entries, debit=True)
            _add(takings, taken)
            person["takings"] += sum(taken.values())
        if txn.kind is LedgerKind.SALE:
            invoices += 1
            person["invoices"] += 1
            applied = amounts.get(CUSTOMER_DEPOSITS, 0)
            deposits_applied += applied
            bills_total += sum(_by_method(txn.entries, debit=True).values()) + applied
            gross -= amounts.get(SALES, 0)
            discounts += amounts.get(DISCOUNTS, 0)
            person["discounts"] += amounts.get(DISCOUNTS, 0)
            service -= amounts.get(SERVICE_CHARGE, 0)
            _add(tax_by_code, {a.removeprefix(TAX_PREFIX): -v for a, v in amounts.items() if a.startswith(TAX_PREFIX)})
        elif txn.kind is LedgerKind.DEPOSIT:
            deposits_taken -= amounts.get(CUSTOMER_DEPOSITS, 0)
        elif txn.kind is LedgerKind.REFUND:
            refunds += 1
            given = _by_method(txn.entries, debit=False)
            _add(refunds_by, given)
            person["refunded"] += sum(given.values())
        elif txn.kind is LedgerKind.VOID:
            voids += 1
            given = _by_method(txn.entries, debit=False)
            _add(voids_by, given)
            person["voided"] += sum(given.values())
        elif txn.kind is LedgerKind.PAYOUT:
            paid_out = amounts.get(PAYOUTS, 0)
            payouts += paid_out
            person["payouts"] += paid_out
            _add(payouts_by_category, {txn.category: paid_out})
        elif txn.kind is LedgerKind.FLOAT:
            opening += amounts.get(CASH_DRAWER, 0)
    balances = account_balances(transactions)
    net_by_method = {m: takings[m] - refunds_by[m] - voids_by[m] for m in methods}
    riders = rider_cash(transactions, riders_carried_in or {})
    to_riders = sum(r.floats for r in riders)
    from_riders = sum(r.handed_in for r in riders)
    expected = opening + net_by_method[TenderMethod.CASH.value] - payouts - to_riders + from_riders
    net_tax = {
        account.removeprefix(TAX_PREFIX): -value
        for account, value in sorted(balances.items())
        if account.startswith(TAX_PREFIX)
    }
    return ZReport(
        day=day,
        currency=currency,
        invoices=invoices,
        bills_total=bills_total,
        average_bill=average(bills_total, invoices),
        gross_sales=gross,
        discounts=discounts,
        service_charge=service,
        tax_by_code=dict(sorted(tax_by_code.items())),
        tax=sum(tax_by_code.values()),
        net_revenue=-sum(balances.get(account, 0) for account in (SALES, DISCOUNTS, REFUNDS)),
        net_tax_by_code=net_tax,
        takings_by_method=takings,
        refunds=refunds,
        refunds_by_method=refunds_by,
        refunded=sum(refunds_by.values()),
        voids=voids,
        voids_by_method=voids_by,
        voided=sum(voids_by.values()),
        net_by_method=net_by_method,
        deposits_taken=deposits_taken,
        deposits_applied=deposits_applied,
        payouts=payouts,
        payouts_by_category=dict(sorted(payouts_by_category.items())),
        opening_float=opening,
        expected_cash=expected,
        counted_cash=counted_cash,
        cash_difference=None if counted_cash is None else counted_cash - expected,
        staff=tuple(
            StaffTotals(
                by=by,
                invoices=figures["invoices"],
                takings=figures["takings"],
                discounts=figures["discounts"],
                refunded=figures["refunded"],
                voided=figures["voided"],
                payouts=figures["payouts"],
            )
            for by, figures in sorted(staff.items())
        ),
        riders=riders,
        riders_hold=sum(r.holds for r in riders),
    )
