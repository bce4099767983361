"""The service simulator against a real hub: a compressed dinner runs from the door to the till, refused nowhere."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from fireflow.clients.simulator import DAY_PARTS, DEMO_KITCHEN, Kind, Report, ServicePlan, Simulation, plan_service
from fireflow.hub.run.demo import demo_setup
from tests.conftest import ROOT, WAIT, RunningHub, free_port

pytestmark = pytest.mark.timeout(240)


async def _simulate(hub: RunningHub, plan: ServicePlan, speed: float) -> Report:
    """``plan`` played against ``hub`` at ``speed``, every device's token minted for it."""
    simulation = Simulation(
        hub.ws_url,
        lambda role, device, stations: hub.token(role, device=device, stations=stations),
        plan,
        DEMO_KITCHEN,
        speed=speed,
    )
    return await simulation.run()


async def test_a_simulated_dinner_is_served_paid_and_cleared(hub: RunningHub) -> None:
    menu = [item.model_dump(mode="json") for item in demo_setup().menu]
    plan = plan_service(menu, orders=24, part=DAY_PARTS["dinner"], seed=7)
    report = await _simulate(hub, plan, 1200)

    assert [o.error for o in report.errors] == [], report.summary()
    assert report.completed() + report.walked_out == len(plan.orders), report.summary()
    # every kind planned went all the way: dine-in paid at the table, takeaway picked up, delivery delivered
    assert {o.kind for o in report.orders if o.closed >= 0} == {k for k, n in plan.kinds().items() if n}
    # the cooks made every line the stations were sent, each started after it came and done after it started
    assert report.lines and all(line.done >= line.started >= line.queued >= 0 for line in report.lines)
    assert {line.station for line in report.lines} == {"grill", "fry", "cold", "bar"}
    async with hub.http("MANAGER") as http:
        tables = (await http.get("/api/v1/tables")).json()["tables"]
        still_open = (await http.get("/api/v1/orders")).json()["orders"]
        day = (await http.get("/api/v1/reports/day")).json()
    assert still_open == []
    assert {t["status"] for t in tables} == {"FREE"}  # every party's table bussed and cleaned
    assert day["invoices"] == report.completed()  # one invoice per order served, in the books
    summary = report.summary()
    assert summary[0].startswith(f"simulated dinner: {len(plan.orders)} orders planned")
    assert any(line.strip().startswith("grill") for line in summary)


async def test_a_simulated_lunch_scores_the_hubs_predictions_against_the_naive_guess(predicting: RunningHub) -> None:
    """The simulator hears each order's first ORDER_PREDICTED and scores it, per station, against when the cooks
    finished; the hub scores its own the same way for the manager."""
    menu = [item.model_dump(mode="json") for item in demo_setup().menu]
    plan = plan_service(menu, orders=40, part=DAY_PARTS["lunch"], seed=11, mix={Kind.TAKEAWAY: 1.0})
    report = await _simulate(predicting, plan, 600)
    assert report.errors == [] and report.completed() == len(plan.orders), report.summary()
    predicted = [o for o in report.orders if o.predicted]
    assert len(predicted) >= 0.9 * len(plan.orders)  # nearly every order heard its prediction (the first may not)
    accuracy = report.accuracy()
    assert {"grill", "fry"} <= set(accuracy), accuracy
    for station, figures in accuracy.items():
        assert figures["scored"] >= 1 and 0 <= figures["mae"] < 3600, (station, figures)  # within an hour, at least
        assert figures["naive_mae"] >= 0 and figures["p90"] >= 0, (station, figures)
    assert any("naive MAE" in line for line in report.summary())
    async with predicting.http("MANAGER") as http:
        own = {row["station"]: row for row in (await http.get("/api/v1/stats/predictions")).json()["stations"]}
    assert {"grill", "fry"} <= set(own) and all(row["scored"] >= 1 for row in own.values())


async def test_the_demo_plays_a_simulated_service_by_itself() -> None:
    """`fireflow demo --simulate`: a newcomer's screens move on their own; the service's summary is printed."""
    data_dir = Path(tempfile.mkdtemp(prefix="fireflow-sim-"))
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    args = ["demo", "--port", str(free_port()), "--data-dir", str(data_dir)]
    args += ["--simulate", "--speed", "3000", "--orders", "12", "--day-part", "lunch", "--seed", "4"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "fireflow.hub.run.cli", *args],
        env={**env, "FIREFLOW_LOG_LEVEL": "WARNING"}, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        said: list[str] = []
        while not said or not said[-1].startswith("simulated lunch:"):
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 12 * WAIT)
            assert line, "demo exited early:\n" + "".join(said[-20:])
            said.append(line)
        assert any(line.startswith("Simulating lunch (12 orders, 11:30 to 15:00) at 3000x") for line in said), said
        assert " 0 refused" in said[-1] and "12 orders planned" in said[-1], said[-1]
        # what the simulated cashiers settled reached the demo's own loopback ERPNext as Sales Invoices
        (erp,) = [line.split(" at ")[1].split()[0] for line in said if line.startswith("ERPNext: an emulator")]

        async def invoiced() -> list[dict[str, Any]]:
            async with httpx.AsyncClient(base_url=erp, timeout=WAIT) as http:
                while True:
                    docs = (await http.get("/_emulator/docs")).json()
                    pushed = [d for d in docs["docs"] if d.get("fireflow_id")]
                    if pushed:
                        return pushed
                    await asyncio.sleep(0.1)

        pushed = await asyncio.wait_for(invoiced(), 12 * WAIT)
        assert all(d["doctype"] == "Sales Invoice" and d["docstatus"] == 1 for d in pushed), pushed[:1]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(12 * WAIT)
        finally:
            if proc.stdout is not None:
                proc.stdout.close()
            shutil.rmtree(data_dir, ignore_errors=True)
    assert proc.returncode == 0


def test_a_simulation_asked_badly_is_refused_in_one_line() -> None:
    for bad, says in ((["--orders", "0"], "not between 1 and 100000"), (["--speed", "-2"], "not above 0")):
        result = subprocess.run(
            [sys.executable, "-m", "fireflow.hub.run.cli", "demo", "--simulate", *bad],
            cwd=ROOT, capture_output=True, text=True, timeout=12 * WAIT,
        )  # fmt: skip
        assert result.returncode == 2 and says in result.stderr, result.stderr
