"""Tickets, receipts and the Z-report rendered with python-escpos, read back by the emulator's parser.

No servers: the pure renderer's bytes go through the pure parser the loopback printer uses, and
the tests read what a cook or a customer would read, with its styles.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from escpos.printer import Dummy

from fireflow.clients.printers.emulator import Line, Printed, parse
from fireflow.hub.domain import billing as b
from fireflow.hub.domain.money import major
from fireflow.hub.printing import render
from fireflow.hub.run.demo import demo_billing
from fireflow.schema.billing import Bill, Discount, DiscountKind, Payment, Tender, TenderMethod, ZReport
from fireflow.schema.records import KitchenTicket, Note, Order, OrderType, TicketLine
from tests.domain_support import add, change, fire, opened, tickets

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")  # Latin, Greek, Cyrillic; no Devanagari, no Han


def _one(data: bytes) -> Printed:
    (printed,) = parse(data)
    assert printed.cut and not printed.unknown, printed
    return printed


def _line(printed: Printed, starts: str) -> Line:
    found = [line for line in printed.lines if line.text.strip().startswith(starts)]
    assert len(found) == 1, (starts, printed.text)
    return found[0]


def _flat(printed: Printed) -> str:
    """The text with wrapping undone: a label and its amount read as one phrase."""
    return " ".join(printed.text.split())


def _fired_dine_in() -> tuple[Order, KitchenTicket]:
    """Table T1: two burgers (medium, cheese, bacon; no onion) and a paneer tikka in course 1, a rare ribeye in 2."""
    order = opened(OrderType.DINE_IN, table_id="T1", guests=2, notes="birthday, nut allergy").orders[0]
    order = add(
        order, "burger", 2, modifiers={"doneness": ["medium"], "add-ons": ["cheese", "bacon"]}, notes="no onion"
    ).orders[0]
    order = add(order, "ribeye", 1, course=2, modifiers={"doneness": ["rare"], "sides": ["mash"]}).orders[0]
    order = add(order, "paneer-tikka", 1).orders[0]
    decision = fire(order, rush=True)
    (ticket,) = tickets(decision, "kitchen:grill")
    return decision.orders[0], ticket


def _fits(printed: Printed, width: int) -> None:
    for line in printed.lines:
        used = sum(len(span.text) * span.width for span in line.spans)
        assert used <= width, (width, line)


# -- kitchen order tickets -------------------------------------------------------------------------


def test_a_fire_ticket_reads_loud_and_grouped_by_course() -> None:
    """RUSH is an inverted double band; station, order and table are big; courses in order; modifiers indented."""
    _, ticket = _fired_dine_in()
    printed = _one(render.kot(ticket, station_name="Grill", fired_by="waiter-1", now_text="19:42"))
    rush = printed.lines[0]
    assert rush.text.strip() == "RUSH" and rush.inverse and rush.double and rush.bold and rush.align == "center"
    for big in ("GRILL", "ORDER #1", "TABLE T1"):
        line = _line(printed, big)
        assert line.double and line.bold and not line.inverse and line.align == "center", line
    assert "Fired 19:42 by waiter-1" in printed.text
    texts = [line.text for line in printed.lines]
    burger = texts.index("2 x Classic Burger")
    assert texts[burger + 1 : burger + 5] == ["    Medium", "    Extra cheese", "    Bacon", "    NOTE: no onion"]
    assert _line(printed, "2 x Classic Burger").double and not printed.lines[burger + 1].bold
    assert _line(printed, "NOTE: no onion").bold
    order = [texts.index(t) for t in ("-- COURSE 1 --", "2 x Classic Burger", "1 x Paneer Tikka", "-- COURSE 2 --")]
    assert order == sorted(order) and texts.index("1 x Ribeye steak") > order[-1]
    assert _line(printed, "birthday, nut allergy").bold
    assert "REPRINT" not in printed.text and "VOID" not in printed.text
    assert printed.text.endswith("Ticket demo.o1:t1")
    assert printed.images == 0


def test_an_added_quantity_prints_plus_two_and_a_void_prints_an_inverted_band() -> None:
    """The delta ticket says +2 and the new whole; the VOID ticket is headed VOID and its line is inverted."""
    order, _ = _fired_dine_in()
    more = change(order, "L1", 4).orders[0]
    fired = fire(more)
    (delta,) = tickets(fired, "kitchen:grill")
    printed = _one(render.kot(delta, station_name="Grill", fired_by="waiter-1", now_text="19:50"))
    added = _line(printed, "+2 x Classic Burger")
    assert added.bold and added.double and not added.inverse
    assert "4 in all now" in printed.text and "Paneer" not in printed.text and "COURSE" not in printed.text
    (void,) = tickets(change(fired.orders[0], "L1", 1), "kitchen:grill", "TICKET_VOID")
    printed = _one(render.kot(void, station_name="Grill", fired_by="manager-1", now_text="19:55"))
    assert printed.lines[0].text.strip() == "VOID" and printed.lines[0].inverse and printed.lines[0].double
    line = _line(printed, "VOID 3 x Classic Burger")
    assert line.inverse and line.double and line.bold
    assert "STOP - 1 still to make" in printed.text and "Voided 19:55 by manager-1" in printed.text
    # The band covers the line, so nothing of it reads as a normal line.
    assert all(span.inverse for span in line.spans)


def test_a_reprint_says_so_at_both_ends() -> None:
    """A reprint carries REPRINT first and last, so a second copy is never cooked as a new order."""
    _, ticket = _fired_dine_in()
    printed = _one(render.kot(ticket, station_name="Grill", reprint=True, now_text="20:01"))
    assert printed.lines[0].text.strip() == "** REPRINT **" and printed.lines[-1].text.strip() == "** REPRINT **"
    assert printed.lines[0].double and printed.lines[0].bold


@pytest.mark.parametrize("width", [32, 42, 48])
def test_every_line_fits_the_paper(width: int) -> None:
    """At 58 mm (32 columns) and 80 mm (42/48), no line, double-width ones counted twice, runs off the paper."""
    _, ticket = _fired_dine_in()
    long_note = Note(id="N9", text="the guest at seat four is allergic to every kind of nut, even traces " * 2)
    ticket = ticket.model_copy(
        update={"notes": (*ticket.notes, long_note), "order_type": OrderType.TAKEAWAY, "token": 12345}
    )
    _fits(_one(render.kot(ticket, station_name="Tandoor and grill", now_text="19:42", width=width)), width)
    bill, payments = _paid_bill()
    receipt = render.receipt(
        bill,
        restaurant="Fireflow Demo Kitchen and Bar",
        invoice_number=1234567,
        payments=payments,
        currency="INR",
        minor_digits=None,
        width=width,
        now_text="2023-11-14 20:10",
    )
    _fits(_one(receipt), width)


def test_the_same_ticket_renders_the_same_bytes() -> None:
    """Rendering is deterministic: a stored job sent again is byte for byte the same; the time printed is input."""
    _, ticket = _fired_dine_in()
    first = render.kot(ticket, station_name="Grill", fired_by="waiter-1", now_text="19:42")
    assert first == render.kot(ticket, station_name="Grill", fired_by="waiter-1", now_text="19:42")
    assert first != render.kot(ticket, station_name="Grill", fired_by="waiter-1", now_text="19:43")
    assert first.startswith(b"\x1b@\x1bt\x13")  # reset, then code page 19 (CP858), before anything else


def test_a_paper_width_outside_what_printers_have_is_refused() -> None:
    """Widths are columns of the printer's font: 10 or 200 is a mistake in the set-up, not a ticket."""
    _, ticket = _fired_dine_in()
    for width in (10, 200):
        with pytest.raises(ValueError):
            render.kot(ticket, station_name="Grill", now_text="19:42", width=width)


# -- receipts and the Z-report ----------------------------------------------------------------------


def _paid_bill() -> tuple[Bill, list[Payment]]:
    """Dine-in: burger (GST 5 %) and two mojitos (GST 18 %), 10 % off, service charge, paid in cash with change."""
    order = opened(OrderType.DINE_IN, table_id="T1", guests=2).orders[0]
    order = add(order, "burger", 1, modifiers={"doneness": ["medium"]}).orders[0]
    order = add(order, "mojito", 2).orders[0]
    discount = Discount(id="D1", kind=DiscountKind.PERCENT, value=1000, by="cashier-1", reason="regular")
    order = b.add_discount(order, discount, demo_billing())
    bill = b.compute_bill([order], demo_billing(), "INR")
    received = (bill.total // 50000 + 1) * 50000
    taken = b.take_payments(bill.total, 0, [Tender(method=TenderMethod.CASH, amount=bill.total, received=received)], 1, "cashier-1", ["p1"])  # fmt: skip
    return bill, list(taken.payments)


def test_a_receipt_adds_up_to_the_bill_in_major_units() -> None:
    """Two tax codes, a discount, service charge, cash with change: every figure is the Bill's integer, in rupees."""
    bill, payments = _paid_bill()
    assert {tax.code for tax in bill.taxes} == {"GST5", "GST18"} and bill.discount > 0 and bill.service_charge > 0

    def rupees(amount: int) -> str:
        return major(amount, "INR")

    data = render.receipt(
        bill,
        restaurant="Fireflow Demo Kitchen",
        invoice_number=17,
        payments=payments,
        currency="INR",
        minor_digits=None,
        now_text="2023-11-14 20:10",
    )
    printed = _one(data)
    flat = _flat(printed)
    assert _line(printed, "INVOICE 17").bold
    for line in bill.lines:
        assert f"{line.name} {line.quantity} x {rupees(line.unit_price)} {rupees(line.gross)}" in flat
        assert f"discount -{rupees(line.discount)}" in flat
    assert f"Subtotal {rupees(bill.gross)} Discounts -{rupees(bill.discount)}" in flat
    assert f"Service charge {rupees(bill.service_charge)}" in flat
    for tax in bill.taxes:
        rate = {"GST5": "5%", "GST18": "18%"}[tax.code]
        assert f"{tax.code} {rate} on {rupees(tax.taxable)} {rupees(tax.tax)}" in flat
    total = _line(printed, "TOTAL")
    assert total.text.split() == ["TOTAL", "INR", rupees(bill.total)] and total.bold and total.double
    (cash,) = payments
    assert cash.received is not None and cash.change > 0
    assert f"Cash {rupees(cash.amount)} received {rupees(cash.received)} CHANGE {rupees(cash.change)}" in flat
    assert bill.gross - bill.discount + bill.service_charge + bill.tax == bill.total  # what the paper adds up
    assert "STILL DUE" not in flat and "\u20b9" not in printed.text


def test_a_bill_before_payment_says_it_is_not_paid_and_what_is_due() -> None:
    """No invoice number yet: the paper says BILL - NOT PAID, and after a part payment the rest shows as still due."""
    bill, _ = _paid_bill()
    part = Payment(id="p1", method=TenderMethod.UPI, amount=10000, reference="UPI-42", at=1, by="cashier-1")
    printed = _one(
        render.receipt(
            bill,
            restaurant="Fireflow",
            invoice_number=None,
            payments=[part],
            currency="INR",
            minor_digits=None,
            now_text="20:00",
        )
    )
    flat = _flat(printed)
    assert "BILL - NOT PAID" in flat and "INVOICE" not in flat
    assert f"UPI 100.00 ref UPI-42 STILL DUE {major(bill.total - 10000, 'INR')}" in flat


def test_a_receipt_in_yen_has_no_decimals() -> None:
    """Amounts use the currency's own minor digits: JPY prints whole yen, with its code on the total."""
    bill, payments = _paid_bill()
    printed = _one(
        render.receipt(
            bill,
            restaurant="Fireflow",
            invoice_number=3,
            payments=payments,
            currency="JPY",
            minor_digits=None,
            now_text="20:00",
        )
    )
    assert _line(printed, "TOTAL").text.split() == ["TOTAL", "JPY", f"{bill.total:,}"]


def _day() -> ZReport:
    """Float 2,000.00; the paid bill; a payout of 50.00 for ice; 10.00 short at the count."""
    bill, payments = _paid_bill()
    opening = b.float_entries(200000, now=1, by="manager-1", txn_id="f1")
    sale = b.payment_entries(bill, payments, deposited=0, reference="INV-17", now=2, by="cashier-1", txn_id="s1")
    payout = b.payout_entries(5000, "supplies", note="ice", now=3, by="cashier-1", txn_id="o1")
    expected = 200000 + bill.total - 5000
    return b.z_report("2023-11-14", [opening, sale, payout], currency="INR", counted_cash=expected - 1000)


def test_the_z_report_prints_the_pages_figures() -> None:
    """Every figure of the printable page, with the same labels, in major units; short shows as negative."""
    z = _day()
    printed = _one(render.z_report(z, restaurant="Fireflow", currency="INR", minor_digits=None))
    flat = _flat(printed)

    def rupees(amount: int) -> str:
        return major(amount, "INR")

    assert _line(printed, "Z-REPORT").double and "2023-11-14" in printed.text
    assert f"Invoices: {z.invoices} Refunds: 0 Voids: 0" in flat
    for label, value in [
        ("Bills total (with tax and service charge)", z.bills_total),
        ("Average bill", z.average_bill),
        ("Gross sales (before discounts, tax and service charge)", z.gross_sales),
        ("Discounts", z.discounts),
        ("Service charge", z.service_charge),
        ("Net sales (after discounts, refunds and voids; before tax and service charge)", z.net_revenue),
        ("GST18", z.net_tax_by_code["GST18"]),
        ("GST5", z.net_tax_by_code["GST5"]),
        ("supplies", 5000),
        ("Opening float", 200000),
        ("Expected cash", z.expected_cash),
        ("Counted cash", z.expected_cash - 1000),
        ("Over (+) / short (-)", -1000),
        ("cashier-1 (1 invoices)", z.bills_total),
    ]:
        assert f"{label} {rupees(value)}" in flat, label
    assert f"TAKINGS BY METHOD CARD 0.00 CASH {rupees(z.bills_total)}" in flat
    assert z.cash_difference == -1000


# -- what the code page cannot print ----------------------------------------------------------------


def _ticket(*lines: TicketLine, notes: tuple[Note, ...] = ()) -> KitchenTicket:
    return KitchenTicket(
        id="o9:t1",
        kind="FIRE",
        order_id="o9",
        order_number=9,
        order_type=OrderType.TAKEAWAY,
        station="grill",
        token=17,
        sent_at=1,
        notes=notes,
        lines=lines,
    )


def _item(name: str, menu_item_id: str, **fields: object) -> TicketLine:
    data: dict[str, object] = {
        "line_id": f"L-{menu_item_id}",
        "menu_item_id": menu_item_id,
        "name": name,
        "station": "grill",
        "course": 1,
        "quantity": 1,
        "line_quantity": 1,
        "change": "NEW",
        "status": "PENDING",
        **fields,
    }
    return TicketLine.model_validate(data)


def test_names_in_another_script_print_as_their_id_not_question_marks() -> None:
    """Hindi and Chinese names become [menu id]* with a footnote to the screen; no "?" reaches the paper."""
    ticket = _ticket(
        _item("पनीर टिक्का", "paneer-tikka", modifiers=("मसालेदार", "Extra ñ"), notes="बिना प्याज़"),
        _item("宫保鸡丁", "kung-pao", quantity=2, line_quantity=2),
        notes=(Note(id="N1", text="कम तेल"),),
    )
    printed = _one(render.kot(ticket, station_name="Grill", now_text="12:00"))
    texts = [line.text.strip() for line in printed.lines]
    assert "1 x [paneer-tikka]*" in texts and "2 x [kung-pao]*" in texts
    assert texts.count(render.OTHER_SCRIPT) == 2 and "NOTE: " + render.OTHER_SCRIPT in texts
    assert "Extra ñ" in texts and render.FOOTNOTE in texts
    assert "?" not in printed.text and printed.images == 0
    assert "TAKEAWAY TOKEN 17" in texts
    bill, payments = _paid_bill()
    hindi = bill.model_copy(
        update={"lines": (bill.lines[0].model_copy(update={"name": "पनीर टिक्का"}), *bill.lines[1:])}
    )
    paper = _one(
        render.receipt(
            hindi,
            restaurant="Fireflow",
            invoice_number=1,
            payments=payments,
            currency="INR",
            minor_digits=None,
            now_text="12:00",
        )
    )
    assert paper.lines[4].text == f"[{bill.lines[0].menu_item_id}]*" and "?" not in paper.text


def test_a_font_with_the_script_prints_the_name_as_an_image() -> None:
    """Given a font that has the glyphs (Cyrillic in DejaVu), the name is a raster image; Hindi, not in it, is the id."""
    if not DEJAVU.exists():
        reason = f"needs the DejaVu Sans font at {DEJAVU} (apt-get install fonts-dejavu-core)"
        print(f"skipped: {reason}")
        pytest.skip(reason)
    font = render.script_font(DEJAVU)
    ticket = _ticket(_item("Борщ", "borscht", quantity=2, line_quantity=2), _item("पनीर टिक्का", "paneer-tikka"))
    data = render.kot(ticket, station_name="Grill", now_text="12:00", font=font)
    assert data == render.kot(ticket, station_name="Grill", now_text="12:00", font=font)
    printed = _one(data)
    texts = [line.text.strip() for line in printed.lines]
    assert printed.images == 1
    image = texts[texts.index("2 x") + 1]
    assert image.startswith("[image ") and image.endswith(f"x{sum(font.getmetrics())}]")
    assert "1 x [paneer-tikka]*" in texts and "?" not in printed.text
    assert b"\x1dv0" in data  # GS v 0: the raster command every ESC/POS printer has


def test_text_is_made_printable_by_the_stated_steps() -> None:
    """Currency signs become codes, punctuation plain, accents kept when on the page, else dropped, else "?"."""
    assert render.printable("₹50 off") == "INR 50 off"
    assert render.printable("Crème brûlée, €4 or £3") == "Crème brûlée, €4 or £3"
    assert render.printable("“Phở” \u2013 Łódź…") == '"Pho" - Lódz...'  # ó is on the page, ł and ź are not
    assert render.printable("ﬁsh\u00a0tacos") == "fish tacos"
    assert render.printable("hot 🔥") == "hot ?"
    assert render.printable("Борщ") == "????"
    assert render.legible("hot 🔥") and render.legible("Phở") and not render.legible("Борщ")
    assert not render.legible("Paneer टिक्का")


def test_control_bytes_in_a_note_cannot_cut_or_restyle_the_paper() -> None:
    """A note holding ESC/GS sequences prints as text: still one ticket, one cut, no inverse, code page kept."""
    evil = "\x1dV\x00cut here \x1dB\x01\x1bt\x00 crème"
    ticket = _ticket(_item("Fries", "fries", notes=evil), notes=(Note(id="N1", text=evil),))
    printed = _one(render.kot(ticket, station_name="Fry", now_text="12:00"))
    assert not _line(printed, "NOTE:").inverse and "crème" in _line(printed, "NOTE:").text
    assert printed.text.count("cut here") == 2


def test_the_forced_code_page_is_the_same_table_in_python_escpos_and_python() -> None:
    """The policy checks characters with Python's cp858; python-escpos must encode every one of them identically."""
    printer = Dummy()
    printer.charcode(render.CODE_PAGE)
    printer.clear()
    high = bytes(range(0x80, 0x100))
    printer.text(high.decode("cp858"))
    assert printer.output == high
