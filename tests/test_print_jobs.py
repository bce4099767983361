"""Print jobs on a running hub: made by the fire itself, claimed by one agent of several, never made twice."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fireflow.clients.python import HubClient, HubError
from fireflow.hub.domain.actors import Role
from fireflow.schema.protocol import ErrorCode
from tests.conftest import WAIT, RunningHub
from tests.helpers import events_until, new_order

GRILL = {"id": "grill", "name": "Grill", "colour": "#d9480f", "warn_after_s": 480, "late_after_s": 720}


async def printing_grill(hub: RunningHub, *, confirm_s: int = 20) -> None:
    """The grill prints on printer "kitchen" (and shows on screens); jobs unconfirmed after ``confirm_s``."""
    async with hub.http(Role.MANAGER) as http:
        printer = {"id": "kitchen", "host": "127.0.0.1", "port": 9100}
        assert (await http.put("/api/v1/setup/printers", json={"printer": printer})).status_code == 200
        station = GRILL | {"routing": "BOTH", "printer": "kitchen"}
        assert (await http.put("/api/v1/setup/stations", json={"station": station})).status_code == 200
    manager = await hub.client(Role.MANAGER)
    await manager.command("kitchen.configure", {"print_confirm_s": confirm_s})


async def agents(hub: RunningHub, count: int) -> list[HubClient]:
    found = []
    for n in range(count):
        agent = await hub.client(Role.PRINTER, device=f"print-agent-{n + 1}")
        snapshot = (await agent.subscribe("printing"))["snapshot"]["printing"]
        assert [p["id"] for p in snapshot["printers"]] == ["kitchen"]
        found.append(agent)
    return found


async def _claim(agent: HubClient, job_id: str) -> str:
    try:
        await agent.command("print.claim", {"job_id": job_id})
    except HubError as exc:
        return exc.code
    return "CLAIMED"


async def test_a_fire_makes_one_job_that_one_of_three_agents_prints_once(hub: RunningHub) -> None:
    """Three agents see PRINT_JOB and claim at once: one wins; a retried fire and a second fire make no job."""
    await printing_grill(hub)
    three = await agents(hub, 3)
    waiter = await hub.client(Role.WAITER)
    order_id = await new_order(waiter, "burger", "fries")
    fire = await waiter.command("order.fire", {"order_id": order_id}, id="fire-1")
    again = await waiter.command("order.fire", {"order_id": order_id}, id="fire-1")  # a retry: the stored answer
    assert again["offset"] == fire["offset"]
    with pytest.raises(HubError) as nothing:
        await waiter.command("order.fire", {"order_id": order_id})
    assert nothing.value.code == ErrorCode.NOTHING_TO_FIRE
    jobs = [(await events_until(agent, 1, WAIT, "PRINT_JOB"))[0]["data"]["job"] for agent in three]
    assert len({job["id"] for job in jobs}) == 1
    job = jobs[0]
    assert (job["station"], job["printer"], job["state"], job["fired_by"]) == (
        "grill",
        "kitchen",
        "PENDING",
        "waiter-1",
    )
    assert [line["menu_item_id"] for line in job["ticket"]["lines"]] == ["burger"]
    outcomes = await asyncio.gather(*(_claim(agent, job["id"]) for agent in three))
    assert sorted(outcomes) == ["CLAIMED", "INVALID_STATE", "INVALID_STATE"]
    winner = three[outcomes.index("CLAIMED")]
    done = await winner.command("print.done", {"job_id": job["id"]})
    assert done["result"]["job"]["state"] == "PRINTED"
    assert (await winner.command("print.done", {"job_id": job["id"]}))["result"]["job"]["state"] == "PRINTED"
    late = await hub.client(Role.PRINTER, device="print-agent-9")  # an agent that starts now: nothing left to print
    assert (await late.subscribe("printing"))["snapshot"]["printing"]["jobs"] == []
    async with hub.http(Role.MANAGER) as http:
        stored = await hub.hub.redis.hlen(f"ff:{{{hub.rid}}}:print_jobs")
        assert stored == 1
        assert (await http.get("/api/v1/orders/" + order_id)).status_code == 200


async def test_a_job_never_confirmed_is_unconfirmed_told_and_printed_again_only_as_a_reprint(hub: RunningHub) -> None:
    """The agent dies after claiming: at the lease's end UNCONFIRMED reaches expo; expo reprints it, marked REPRINT."""
    await printing_grill(hub, confirm_s=1)
    (agent,) = await agents(hub, 1)
    expo = await hub.client(Role.EXPO, device="expo-1")
    await expo.subscribe("printing")
    waiter = await hub.client(Role.WAITER)
    order_id = await new_order(waiter, "burger")
    await waiter.command("order.fire", {"order_id": order_id})
    (made,) = await events_until(agent, 1, WAIT, "PRINT_JOB")
    job_id = made["data"]["job"]["id"]
    await agent.command("print.claim", {"job_id": job_id})
    await agent.close()  # as if killed between writing and the printer's answer
    changes: list[dict[str, Any]] = []
    while not changes or changes[-1]["state"] != "UNCONFIRMED":
        changes += [e["data"]["job"] for e in await events_until(expo, 1, 4 * WAIT, "PRINT_JOB_CHANGED")]
    assert [c["state"] for c in changes] == ["CLAIMED", "UNCONFIRMED"]
    assert "never said it printed" in changes[-1]["reason"]
    other = await hub.client(Role.PRINTER, device="print-agent-2")
    with pytest.raises(HubError) as refused:  # not printed again by itself
        await other.command("print.claim", {"job_id": job_id})
    assert refused.value.code == ErrorCode.INVALID_STATE
    async with hub.http(Role.EXPO, device="expo-1") as http:
        answer = await http.post(f"/api/v1/print-jobs/{job_id}/reprint")
    assert answer.status_code == 200, answer.text
    copy = answer.json()["result"]["job"]
    assert (copy["id"], copy["reprint"], copy["state"]) == (f"{job_id}:r1", True, "PENDING")
    claimed = await other.command("print.claim", {"job_id": copy["id"]})
    assert claimed["result"]["job"]["claimed_by"] == "print-agent-2"
    # Two people press reprint at once, from two devices: no second copy, both told plainly.
    kitchen = await hub.client(Role.KITCHEN, stations=("grill",), device="kds-grill")
    again = await asyncio.gather(
        expo.command("print.reprint", {"job_id": job_id}),
        kitchen.command("print.reprint", {"job_id": job_id}),
        return_exceptions=True,
    )
    assert [a.code for a in again if isinstance(a, HubError)] == [ErrorCode.INVALID_STATE] * 2
    assert "reprinted already" in str(again[0])
    assert await hub.hub.redis.hlen(f"ff:{{{hub.rid}}}:print_jobs") == 2  # the job and its one copy


async def test_printing_is_the_printers_and_other_roles_or_restaurants_are_refused(hub: RunningHub) -> None:
    await printing_grill(hub)
    waiter = await hub.client(Role.WAITER)
    with pytest.raises(HubError) as forbidden:
        await waiter.subscribe("printing")
    assert forbidden.value.code == ErrorCode.FORBIDDEN
    (agent,) = await agents(hub, 1)
    for job_id, code in ((f"{hub.rid}.onothere:t1", ErrorCode.NOT_FOUND), ("elsewhere.o1:t1", ErrorCode.WRONG_TENANT)):
        with pytest.raises(HubError) as err:
            await agent.command("print.claim", {"job_id": job_id})
        assert err.value.code == code
    with pytest.raises(HubError) as not_a_printer:
        await waiter.command("print.claim", {"job_id": f"{hub.rid}.o1:t1"})
    assert not_a_printer.value.code == ErrorCode.FORBIDDEN


async def test_a_printer_that_fails_hands_the_ticket_to_its_backup_and_the_manager_sees_both(hub: RunningHub) -> None:
    """Offline before the job: FAILED, then the same ticket as a new job on the backup, told on `printing`."""
    async with hub.http(Role.MANAGER) as http:
        for printer in ({"id": "pass", "host": "127.0.0.1", "port": 9101},
                        {"id": "kitchen", "host": "127.0.0.1", "port": 9100, "backup": "pass"}):  # fmt: skip
            assert (await http.put("/api/v1/setup/printers", json={"printer": printer})).status_code == 200
        station = GRILL | {"routing": "BOTH", "printer": "kitchen"}
        assert (await http.put("/api/v1/setup/stations", json={"station": station})).status_code == 200
    manager = await hub.client(Role.MANAGER)
    await manager.subscribe("printing")
    agent = await hub.client(Role.PRINTER, device="print-agent-1")
    await agent.subscribe("printing")
    waiter = await hub.client(Role.WAITER)
    order_id = await new_order(waiter, "burger")
    await waiter.command("order.fire", {"order_id": order_id})
    (made,) = await events_until(agent, 1, WAIT, "PRINT_JOB")
    job_id = made["data"]["job"]["id"]
    await agent.command("print.claim", {"job_id": job_id})
    failed = await agent.command("print.failed", {"job_id": job_id, "reason": "offline"})
    assert failed["result"]["job"]["state"] == "FAILED" and failed["result"]["backup_job_id"] == f"{job_id}@pass"
    (backup,) = await events_until(agent, 1, WAIT, "PRINT_JOB")
    assert (backup["data"]["job"]["printer"], backup["data"]["job"]["tried"]) == ("pass", ["kitchen"])
    seen = [e["data"]["job"]["state"] for e in await events_until(manager, 2, WAIT, "PRINT_JOB_CHANGED")]
    assert seen == ["CLAIMED", "FAILED"]
