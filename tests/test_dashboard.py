"""The manager's dashboard read (``GET /api/v1/stats/dashboard``): a planted day's figures, and its pure parts."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from fireflow.clients.python import HubClient
from fireflow.hub.books.books import _day_figures
from fireflow.hub.books.takings import SLOT_S, DayLedger
from fireflow.hub.forecast.dashboard import prediction_pairs, prep_by_station, takings_by_hour
from fireflow.hub.live.store import PrepStat
from fireflow.schema.records import StationSettings
from tests.conftest import WAIT, RunningHub, Servers, free_port, seed, serve_in_process, settings_for
from tests.helpers import event_about, fired_order

STATIONS = (StationSettings(id="grill", name="Grill"), StationSettings(id="fry", name="Fry"))


def _slot(local: str, zone: ZoneInfo) -> int:
    return int(datetime.fromisoformat(local).replace(tzinfo=zone).timestamp()) // SLOT_S


def test_takings_by_hour_add_up_to_the_ledgers_revenue_in_a_half_hour_zone() -> None:
    """Postings at 12:10, 12:55, 14:40 Kolkata: hours 12, 13 (nothing) and 14, summing to the day's revenue."""
    kolkata = ZoneInfo("Asia/Kolkata")
    noon, late_noon, two = (_slot(t, kolkata) for t in ("2026-12-04T12:10", "2026-12-04T12:55", "2026-12-04T14:40"))
    balances = (
        (noon, "asset:cash_drawer", 41_900),  # a sale in cash
        (noon, "revenue:sales", -39_905),  # not takings: what the sale earned
        (noon, "liability:tax:GST5", -1_995),
        (late_noon, "asset:card", 10_000),  # a part payment by card, its bill still open: not takings yet
        (late_noon, "liability:customer_deposits", -10_000),
        (two, "asset:upi", 25_000),
        (two, "asset:cash_drawer", -5_000),  # a refund in cash
        (two, "asset:rider_cash:rider-1", 7_000),  # cash on delivery a rider holds
    )
    kinds = ((noon, "SALE", 1), (two, "SALE", 2), (two, "VOID", 1), (two, "REFUND", 1))
    hours = takings_by_hour(DayLedger(balances, kinds), kolkata)
    assert [(h["hour"], h["takings"], h["invoices"]) for h in hours] == [(12, 41_900, 1), (13, 0, 0), (14, 27_000, 1)]
    assert hours[0]["start"] == "2026-12-04T12:00:00+05:30"
    accounts: dict[str, int] = {}
    for _, account, balance in balances:
        accounts[account] = accounts.get(account, 0) + balance
    ledger = _day_figures({"day": "2026-12-04", "accounts": accounts, "kinds": {"SALE": 3, "VOID": 1, "REFUND": 1}})
    assert sum(h["takings"] for h in hours) == ledger.revenue and sum(h["invoices"] for h in hours) == ledger.invoices
    through = int(datetime(2026, 12, 4, 16, 5, tzinfo=kolkata).timestamp() * 1000)
    assert [h["hour"] for h in takings_by_hour(DayLedger(balances, kinds), kolkata, through)] == [12, 13, 14, 15, 16]
    assert takings_by_hour(DayLedger((), ()), kolkata, through) == []  # no sales: nothing to draw


def test_prep_per_station_weights_items_by_their_lines() -> None:
    """Grill: 9 burgers at 200 s, 1 ribeye at 600 s: mean 240, median 200, p90 200, max the slowest line."""
    stats = [
        PrepStat("grill", "burger", 9, 200_000, 150_000, 260_000),
        PrepStat("grill", "ribeye", 1, 600_000, 600_000, 610_000),
        PrepStat("cold", "salad", 2, 90_000, 80_000, 100_000),
    ]
    rows = {r["station"]: r for r in prep_by_station(stats, STATIONS)}
    assert list(rows) == ["grill", "fry", "cold"]  # the restaurant's order, then a station it no longer has
    assert (rows["grill"]["lines"], rows["grill"]["mean_s"], rows["grill"]["median_s"]) == (10, 240.0, 200.0)
    assert (rows["grill"]["p90_s"], rows["grill"]["max_s"], rows["grill"]["name"]) == (200.0, 610.0, "Grill")
    assert rows["fry"] == {"station": "fry", "name": "Fry", "colour": "", "lines": 0} | dict.fromkeys(
        ("mean_s", "median_s", "p90_s", "max_s")
    )


def test_prediction_pairs_are_oldest_first_and_older_scores_still_count() -> None:
    """Scores kept before the waits were stored count in the MAE but draw no pair; pairs come oldest first."""
    newest_first = [[-30.0, 60.0, 3_000, 330.0, 300.0], [90.0, 10.0, 2_000, 210.0, 300.0], [12.0, 40.0, 1_000]]
    (grill, fry) = prediction_pairs({"grill": newest_first}, STATIONS)
    assert grill["scored"] == 3 and grill["mae_s"] == 44.0
    assert grill["recent"] == [
        {"at": 2_000, "predicted_s": 210.0, "actual_s": 300.0},
        {"at": 3_000, "predicted_s": 330.0, "actual_s": 300.0},
    ]
    assert fry["scored"] == 0 and fry["recent"] == [] and fry["mae_s"] is None


async def _due(cashier: HubClient, order_id: str) -> int:
    return int((await cashier.command("bill.preview", {"order_ids": [order_id]}))["result"]["due"])


async def test_a_planted_day_reads_back_takings_queues_prep_and_predictions(predicting: RunningHub) -> None:
    """Sales, a part payment and a refund: the hours add up to the ledger's revenue exactly; queues as fired."""
    waiter = await predicting.client("WAITER")
    cashier = await predicting.client("CASHIER", device="till-1")
    await cashier.subscribe("cashier")
    fry = await predicting.kitchen("fry")
    grill = await predicting.kitchen("grill")

    # The fry's one order is told its ready time, then bumped at once: scored, a pair to draw.
    quick = await fired_order(waiter, "fries")
    await event_about(cashier, "ORDER_PREDICTED", quick)
    await fry.command("order.bump", {"order_id": quick, "station": "fry"})
    # Still in the kitchen: burger and fries waiting, a burger on the grill, and a burger not fired (not queued).
    await fired_order(waiter, "burger", "fries")
    on_grill = await fired_order(waiter, "burger")
    await grill.command("item.start", {"order_id": on_grill, "line_id": "L1"})
    held = (await waiter.command("order.open", {"type": "TAKEAWAY"}))["result"]["order"]["id"]
    await waiter.command("order.add_item", {"order_id": held, "menu_item_id": "burger"})

    # Money: two bills settled, a part payment on a third, a refund of part of the first.
    cash, card, part = [await fired_order(waiter, "water", "soda") for _ in range(3)]
    paid = {}
    for order_id, method in ((cash, "CASH"), (card, "CARD")):
        due = await _due(cashier, order_id)
        answer = await cashier.command(
            "order.pay", {"order_ids": [order_id], "tenders": [{"method": method, "amount": due}]}
        )
        paid[method] = (answer["result"]["invoice_id"], due)
    await cashier.command("order.pay", {"order_ids": [part], "tenders": [{"method": "UPI", "amount": 1_000}]})
    refund = {"invoice_id": paid["CASH"][0], "amount": 500, "method": "CASH", "reason": "cold", "pin": "1234"}
    await cashier.command("invoice.refund", refund)
    expected = paid["CASH"][1] + paid["CARD"][1] - 500  # a part payment is held, not taken, until settled

    async with predicting.http("MANAGER") as http:
        for _ in range(int(40 * WAIT)):  # until the predictor's next look has scored the bumped order
            board = (await http.get("/api/v1/stats/dashboard")).json()
            scored = {p["station"]: p for p in board["predictions"]}
            if scored["fry"]["recent"]:
                break
            await asyncio.sleep(0.05)
        day = (await http.get("/api/v1/reports/day")).json()

    assert (board["books"], board["problems"], board["currency"], board["minor_digits"]) == ("ok", [], "INR", 2)
    assert board["day"] == day["day"]
    hours = board["takings_by_hour"]
    assert sum(h["takings"] for h in hours) == board["takings"] == day["revenue"] == expected
    assert sum(h["invoices"] for h in hours) == board["invoices"] == day["invoices"] == 2
    assert all(isinstance(h["takings"], int) and 0 <= h["hour"] < 24 for h in hours)

    queues = {q["station"]: (q["waiting"], q["preparing"]) for q in board["queues"]}
    assert queues == {"grill": (1, 1), "fry": (1, 0), "cold": (0, 0), "bar": (0, 0)}
    assert next(q for q in board["queues"] if q["station"] == "grill")["oldest_waiting_s"] >= 0

    prep = {p["station"]: p for p in board["prep"]}
    assert prep["fry"]["lines"] == 1 and prep["fry"]["median_s"] == prep["fry"]["max_s"] >= 0
    assert prep["grill"]["lines"] == 0 and prep["grill"]["median_s"] is None

    (pair,) = scored["fry"]["recent"]
    assert pair["predicted_s"] > 60 and 0 <= pair["actual_s"] < pair["predicted_s"]  # bumped long before its time
    assert scored["fry"]["scored"] == 1
    assert scored["fry"]["mae_s"] == pytest.approx(pair["predicted_s"] - pair["actual_s"], abs=0.2)


async def test_the_dashboard_is_for_managers(hub: RunningHub) -> None:
    """A waiter or a cashier is refused with FORBIDDEN; a manager on a day with no sales gets empty hours."""
    for role in ("WAITER", "CASHIER"):
        async with hub.http(role) as http:
            refused = await http.get("/api/v1/stats/dashboard")
        assert refused.status_code == 403 and refused.json()["code"] == "FORBIDDEN", role
    async with hub.http("MANAGER") as http:
        board: dict[str, Any] = (await http.get("/api/v1/stats/dashboard")).json()
        bad = await http.get("/api/v1/stats/dashboard", params={"day": "yesterday"})
    assert (board["takings_by_hour"], board["takings"], board["invoices"], board["books"]) == ([], 0, 0, "ok")
    assert [q["waiting"] + q["preparing"] for q in board["queues"]] == [0, 0, 0, 0]
    assert bad.status_code == 400 and bad.json()["code"] == "INVALID_FRAME"


async def test_books_not_answering_leave_the_kitchen_figures_and_say_why(
    servers: Servers, redis: Any, rid: str
) -> None:
    """Postgres unreachable (a loopback port nobody listens on): queues still read, the takings' absence said."""
    await seed(servers, rid)
    nowhere = f"postgresql+asyncpg://fireflow:fireflow@127.0.0.1:{free_port()}/fireflow"
    async with serve_in_process(settings_for(servers).with_(database_url=nowhere, durable="off"), rid) as running:
        waiter = await running.client("WAITER")
        await fired_order(waiter, "burger")
        async with running.http("MANAGER") as http:
            answer = await http.get("/api/v1/stats/dashboard")
    board = answer.json()
    assert answer.status_code == 200 and board["books"] == "unavailable"
    assert board["problems"] == ["The books (Postgres) are not answering: takings by hour cannot be shown just now."]
    assert (board["takings_by_hour"], board["takings"], board["invoices"]) == ([], None, None)
    assert {q["station"]: q["waiting"] for q in board["queues"]}["grill"] == 1
