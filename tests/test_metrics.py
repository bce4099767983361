"""/metrics: the node's live numbers in Prometheus text, read from the running hub."""

from __future__ import annotations

import asyncio
import gc

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fireflow.clients.python import HubError
from fireflow.hub.domain.actors import Role
from fireflow.hub.domain.errors import DomainError
from fireflow.hub.domain.shares import SHARDS
from fireflow.hub.metrics import NodeCollector, command_label, outcome_of
from fireflow.schema.protocol import ErrorCode
from tests.conftest import WAIT, RunningHub
from tests.helpers import new_order
from tests.test_books import settlement

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(hub: RunningHub) -> tuple[httpx.Response, Samples]:
    async with httpx.AsyncClient(base_url=hub.url, timeout=WAIT) as http:
        response = await http.get("/metrics")
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    return response, samples


async def test_metrics_show_sockets_commands_latency_and_the_runtime(hub: RunningHub) -> None:
    """Sockets by role are those held, each command is counted with its outcome and timed, loop-lag and GC series exist."""
    waiters = [await hub.client(Role.WAITER, device=f"waiter-{n}") for n in range(2)]
    grill = await hub.kitchen("grill")
    await grill.subscribe("kitchen:grill")
    order_id = await new_order(waiters[0], "burger")
    with pytest.raises(HubError) as err:
        await waiters[1].command("order.add_item", {"order_id": order_id, "menu_item_id": "no-such-dish"})
    with pytest.raises(HubError):
        await waiters[1].command("no.such.command", {})
    gc.collect()  # one full collection, timed by the hub's GC callback

    response, samples = await scrape(hub)

    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    sockets = {dict(labels)["role"]: v for (name, labels), v in samples.items() if name == "fireflow_sockets"}
    assert sockets["WAITER"] == 2 and sockets["KITCHEN"] == 1 and sockets["CASHIER"] == 0
    assert samples[("fireflow_commands_total", (("outcome", "ok"), ("type", "order.open")))] == 1
    assert samples[("fireflow_commands_total", (("outcome", "ok"), ("type", "order.add_item")))] == 1
    assert samples[("fireflow_commands_total", (("outcome", err.value.code), ("type", "order.add_item")))] == 1
    assert samples[("fireflow_commands_total", (("outcome", "UNKNOWN_COMMAND"), ("type", "unknown")))] == 1
    assert samples[("fireflow_command_seconds_count", (("type", "order.add_item"),))] == 2
    assert samples[("fireflow_gc_pause_seconds_count", (("generation", "2"),))] >= 1
    assert ("fireflow_event_loop_lag_seconds_count", ()) in samples
    assert samples[("fireflow_redis_pool_max", ())] == hub.settings.redis_pool
    assert samples[("fireflow_redis_pool_waiting", ())] == 0
    assert samples[("fireflow_fanout_feeds", ())] == 1
    assert samples[("fireflow_fanout_lag_events", ())] >= 0
    assert samples[("fireflow_durable_unwritten_events", ())] >= 0
    assert samples[("fireflow_task_up", (("task", "fanout-listen"),))] == 1
    assert samples[("fireflow_shards_held", (("work", "predictions"),))] == 0  # this node does not predict
    assert samples[("fireflow_predictor_looks_total", (("kind", "whole"),))] == 0
    assert samples[("fireflow_predictor_looks_total", (("kind", "unchanged"),))] == 0
    assert ("fireflow_shards_held", (("work", "due_checks"),)) in samples
    assert ("fireflow_shards_held", (("work", "durable_writes"),)) in samples
    # What the node holds, read in the same moment as the collector reads it: a turn may take shards between an
    # HTTP scrape and the line that compares it (the writer's first turn did, once, in CI).
    held = {
        dict(sample.labels)["work"]: sample.value
        for family in NodeCollector(hub.hub).collect()
        if family.name == "fireflow_shards_held"
        for sample in family.samples
    }
    assert hub.hub.writer is not None  # the suite's nodes write inline
    assert held["due_checks"] == len(hub.hub.due_checks.shares.held)
    assert held["durable_writes"] == len(hub.hub.writer.shares.held)


async def test_metrics_show_how_many_settlements_a_books_commit_carried(hub: RunningHub) -> None:
    """Five settlements at once go to Postgres in one call: the counters say one commit carried five."""
    books = hub.hub.books
    assert books is not None
    _, before = await scrape(hub)
    rid = hub.rid
    await asyncio.gather(*(books.record(settlement(rid, f"{rid}.o{n}", f"metrics-{n}")) for n in range(5)))
    _, after = await scrape(hub)
    moved = {
        name: after[(name, ())] - before[(name, ())]
        for name in (
            "fireflow_books_commits_total",
            "fireflow_books_settlements_total",
            "fireflow_books_groups_split_total",
            "fireflow_books_calls_stuck_total",
        )
    }
    assert moved == {
        "fireflow_books_commits_total": 1, "fireflow_books_settlements_total": 5, "fireflow_books_groups_split_total": 0,
        "fireflow_books_calls_stuck_total": 0,
    }  # fmt: skip


async def test_metrics_show_the_shards_a_predicting_node_holds(predicting: RunningHub) -> None:
    """A node alone holds every shard of the predictions once its first tick has counted it in."""
    held = 0.0
    async with asyncio.timeout(WAIT):
        while held < SHARDS:
            await asyncio.sleep(predicting.hub.predictor.tick)
            held = (await scrape(predicting))[1][("fireflow_shards_held", (("work", "predictions"),))]
    assert held == SHARDS


def test_labels_stay_bounded() -> None:
    """A made-up command type is labelled unknown, and failures are labelled with the code the client is answered."""
    assert command_label("order.fire") == "order.fire"
    assert command_label("x" * 500) == "unknown"
    assert outcome_of(DomainError(ErrorCode.NOT_FOUND, "gone")) == "NOT_FOUND"
    assert outcome_of(ConnectionError("redis went away")) == "UNAVAILABLE"
    assert outcome_of(ValueError("a bug")) == "INTERNAL"
