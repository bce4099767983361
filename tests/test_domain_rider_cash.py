"""Riders' cash in the ledger, pure: random delivery days keep the riders' balances, the ledger and the Z-reports equal.

Each day draws floats, deliveries paid on delivery (COD to the rider's account) or prepaid at the
till, handovers of all or part of what a rider holds (some asking for more, refused with nothing
posted), and voids of delivered orders. What the hub would tell (each move applied to a running
balance), what the ledger's accounts say, and what each day's Z-report carries in and out must agree
to the minor unit, day after day.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fireflow.hub.domain import billing as b
from fireflow.hub.domain.errors import DomainError
from fireflow.schema.billing import Bill, LedgerKind, LedgerTransaction, Payment, TaxMode, TenderMethod
from fireflow.schema.protocol import ErrorCode

RIDERS = ("rider-1", "rider-2", "rider-3")
NOW = 1_700_000_000_000


def _bill(total: int) -> Bill:
    """A bill of ``total`` with no tax, discount or service charge: only where its money goes matters here."""
    return Bill(
        currency="INR", tax_mode=TaxMode.EXCLUSIVE, order_ids=("o",), lines=(), gross=total, discount=0,
        service_charge=0, taxes=(), tax=0, total=total,
    )  # fmt: skip


class Books:
    """The ledger of several days, and the balances the hub would have told live."""

    def __init__(self) -> None:
        self.days: list[list[LedgerTransaction]] = []
        self.told: dict[str, int] = {}
        self.seq = 0

    def post(self, txn: LedgerTransaction) -> LedgerTransaction:
        b.check_balanced(txn)
        self.days[-1].append(txn)
        for rider, moved in b.rider_balances([txn]).items():  # RIDER_CASH: what moved, per rider
            self.told[rider] = self.told.get(rider, 0) + moved
        return txn

    def next_id(self) -> str:
        self.seq += 1
        return f"t{self.seq}"

    def everything(self) -> list[LedgerTransaction]:
        return [txn for day in self.days for txn in day]


def _delivery(books: Books, data: st.DataObject, rider: str) -> LedgerTransaction:
    total = data.draw(st.integers(1, 500_000))
    cod = data.draw(st.booleans())
    method = TenderMethod.COD if cod else data.draw(st.sampled_from([TenderMethod.CASH, TenderMethod.UPI]))
    payment = Payment(id=books.next_id(), method=method, amount=total, reference=rider if cod else "", at=NOW, by=rider)
    return books.post(
        b.sale_entries(_bill(total), [payment], reference="inv", now=NOW, by=rider, txn_id=books.next_id())
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_delivery_days_keep_riders_ledger_and_z_reports_equal(data: st.DataObject) -> None:
    books = Books()
    carried: dict[str, int] = {}
    for n in range(data.draw(st.integers(1, 4))):
        books.days.append([])
        sales: list[LedgerTransaction] = []
        for _ in range(data.draw(st.integers(0, 12))):
            rider = data.draw(st.sampled_from(RIDERS))
            step = data.draw(st.sampled_from(["float", "deliver", "deliver", "handover", "void"]))
            holds = b.rider_balances(books.everything()).get(rider, 0)
            if step == "float":
                amount = data.draw(st.integers(1, 100_000))
                books.post(b.rider_float_entries(rider, amount, now=NOW, by="cashier-1", txn_id=books.next_id()))
            elif step == "deliver":
                sales.append(_delivery(books, data, rider))
            elif step == "handover":
                amount = data.draw(st.integers(1, max(holds, 1) + 1000))
                try:
                    books.post(
                        b.rider_handover_entries(rider, amount, holds, now=NOW, by="cashier-1", txn_id=books.next_id())
                    )
                except DomainError as err:  # more than the rider holds: refused, nothing posted
                    assert err.code is ErrorCode.INVALID_STATE and amount > holds
            elif sales:
                sale = sales.pop(data.draw(st.integers(0, len(sales) - 1)))
                books.post(b.void_entries([sale], reference="inv", now=NOW, by="manager-1", txn_id=books.next_id()))
        today = books.days[-1]
        report = b.z_report(f"2026-12-0{n + 1}", today, currency="INR", riders_carried_in=carried)
        ledger = b.rider_balances(books.everything())
        # The Z-report carries in what the day before carried out, and out what the ledger holds now.
        assert {r.rider: r.carried_in for r in report.riders} == {
            r: carried.get(r, 0) for r in ledger if r in {x.rider for x in report.riders}
        }
        assert {r.rider: r.holds for r in report.riders} == {
            r: v for r, v in ledger.items() if v or r in {x.rider for x in report.riders}
        }
        assert report.riders_hold == sum(ledger.values()) == sum(books.told.values())
        assert all(books.told.get(r, 0) == v for r, v in ledger.items())
        assert all(r.holds >= 0 for r in report.riders)  # a rider never hands in more than held
        # Cash on delivery is takings; the drawer is what it holds, riders' cash is not in it.
        cod = sum(
            e.debit - e.credit
            for t in today
            if t.kind in (LedgerKind.SALE, LedgerKind.VOID)
            for e in t.entries
            if b.rider_of(e.account)
        )
        assert report.net_by_method["COD"] == cod
        assert report.expected_cash == b.account_balances(today).get(b.CASH_DRAWER, 0)
        assert sum(b.account_balances(today).values()) == 0
        carried = {r.rider: r.holds for r in report.riders if r.holds}
