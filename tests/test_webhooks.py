"""Signed webhooks on real Redis and Postgres and a loopback receiver that checks every signature: each event once,
in order, through the receiver's outage and its 500s; replays under the same ids; two nodes never deliver twice."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from fireflow.hub.books.db import create_engine
from fireflow.hub.domain.actors import Role
from fireflow.hub.domain.webhooks import FAILING_AFTER, delivery_id
from fireflow.hub.live.keys import Keys
from fireflow.hub.workers.webhooks import WebhookWorker
from fireflow.schema.tables import WebhookDeliveryRow, WebhookRow
from tests.conftest import WAIT, RunningHub, Servers, seed
from tests.helpers import new_order
from tests.test_settle_crash import _http
from tests.webhook_receiver import Receiver, receiver

ALL: tuple[str, ...] = ()


@pytest.fixture
async def hook() -> AsyncIterator[Receiver]:
    async with receiver() as found:
        yield found


@pytest.fixture
async def worker(hub: RunningHub, engine: AsyncEngine) -> AsyncIterator[WebhookWorker]:
    """This test's own worker (the hub's is off, as in every test), on this test's restaurant alone."""
    await _alone(engine, hub.rid)
    found = WebhookWorker(engine, hub.hub.redis, private_ok=True)  # the receiver is on 127.0.0.1
    yield found
    await found.close()


async def _alone(engine: AsyncEngine, rid: str) -> None:
    """Other tests' subscriptions (the shared Postgres keeps them) out of this test's workers' way."""
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE webhooks SET active = false WHERE restaurant_id <> :rid"), {"rid": rid})


async def _subscribe(
    http: httpx.AsyncClient, hook: Receiver, name: str, events: tuple[str, ...] = ALL, key: str | None = None
) -> dict[str, Any]:
    """POST /api/v1/webhooks for ``hook``'s path ``name``; the receiver is told the secret the answer holds."""
    headers = {"Idempotency-Key": key} if key else {}
    answer = await http.post("/api/v1/webhooks", json={"url": hook.url(name), "events": list(events)}, headers=headers)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()["result"]
    hook.secrets["/" + name] = result["secret"]
    return result


async def _poke(engine: AsyncEngine, webhook_id: int) -> None:
    """What is due later is due now: the backoff and the idle look are not what these tests wait for."""
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE webhooks SET next_at = now() WHERE id = :id"), {"id": webhook_id})


async def _deliver_until(
    worker: WebhookWorker, engine: AsyncEngine, webhook_id: int, done: Callable[[], bool], timeout: float = 10 * WAIT
) -> None:
    """Turns of ``worker`` until ``done`` (the durable writer's watermark may have to catch up first)."""

    async def turns() -> None:
        while not done():
            await worker.deliver()
            if done():
                return
            await _poke(engine, webhook_id)
            await asyncio.sleep(0.01)  # the hub's durable writer, in this loop, gets a turn to store what is new

    await asyncio.wait_for(turns(), timeout)


async def _stored(
    engine: AsyncEngine, rid: str, after: int, types: tuple[str, ...] = ALL, epoch: str | None = None
) -> list[tuple[int, str]]:
    """The restaurant's stored events after offset ``after`` (of ``types``, of one epoch): offset and type, in order."""
    query = (
        'SELECT "offset", type, epoch FROM events WHERE restaurant_id = :rid AND "offset" > :after ORDER BY "offset"'
    )
    async with engine.connect() as conn:
        rows = [
            (o, t)
            for o, t, e in (await conn.execute(text(query), {"rid": rid, "after": after})).all()
            if epoch is None or e == epoch
        ]
    return [(int(o), t) for o, t in rows if not types or t in types]


async def _row(engine: AsyncEngine, webhook_id: int) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(select(WebhookRow.__table__).where(WebhookRow.id == webhook_id))).one()


async def _attempts(engine: AsyncEngine, webhook_id: int) -> list[Any]:
    query = select(WebhookDeliveryRow.__table__).where(WebhookDeliveryRow.webhook_id == webhook_id)
    async with engine.connect() as conn:
        return list((await conn.execute(query.order_by(WebhookDeliveryRow.id))).all())


async def _persisted(hub: RunningHub, offset: int) -> None:
    """Until the restaurant's events up to ``offset`` are in Postgres (the durable writer's watermark says so)."""
    redis, key = hub.hub.redis, Keys(hub.rid).persisted

    async def wait() -> None:
        while int(await redis.get(key) or 0) < offset:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(wait(), 10 * WAIT)


async def test_events_committed_while_the_receiver_is_down_arrive_once_signed_and_in_order_once_it_is_back(
    hub: RunningHub, engine: AsyncEngine, hook: Receiver, worker: WebhookWorker
) -> None:
    """Subscribed to every type; the receiver goes down between two orders: the tries fail (logged, FAILING after
    three), and once it is back each event after the subscription arrives exactly once, in order, signed."""
    waiter = await hub.client(Role.WAITER)
    async with hub.http(Role.MANAGER) as http:
        made = await _subscribe(http, hook, "all")
        webhook = made["webhook"]
        start = webhook["cursor"]["offset"]
        assert made["secret"].startswith("whsec_") and webhook["state"] == "ACTIVE" and webhook["events"] == []
        first = await new_order(waiter, "burger")
        await _deliver_until(worker, engine, webhook["id"], lambda: len(hook.taken("/all")) >= 2)
        await hook.down()
        second = await new_order(waiter, "fries")
        await waiter.command("order.fire", {"order_id": second})
        head, _ = await hub.hub.store.position(hub.rid)
        await _persisted(hub, head)
        for _ in range(FAILING_AFTER):
            await _poke(engine, webhook["id"])
            await worker.deliver()
        listed = (await http.get("/api/v1/webhooks")).json()["webhooks"]
        (shown,) = [w for w in listed if w["id"] == webhook["id"]]
        assert shown["state"] == "FAILING" and shown["attempts"] == FAILING_AFTER
        assert shown["last_error"].startswith("no answer: ConnectError")
        assert "secret" not in shown
        await hook.up()
        await _deliver_until(worker, engine, webhook["id"], lambda: bool(hook.taken("/all")) and (
            hook.taken("/all")[-1].offset == head
        ))  # fmt: skip
        listed = (await http.get("/api/v1/webhooks")).json()["webhooks"]
    expected = await _stored(engine, hub.rid, start)
    got = hook.taken("/all")
    assert [(g.offset, g.event_type) for g in got] == expected  # every one, once, in order
    assert len({g.delivery_id for g in got}) == len(got)
    assert all(g.signature_error is None for g in got), [g.signature_error for g in got]
    assert {first, second} <= {g.body["data"].get("order", {}).get("id") for g in got}
    assert got[0].body["restaurant"] == hub.rid and got[0].body["type"] == got[0].event_type
    assert got[0].delivery_id == got[0].body["id"] == delivery_id(webhook["id"], got[0].body["epoch"], got[0].offset)
    (shown,) = [w for w in listed if w["id"] == webhook["id"]]
    assert (shown["state"], shown["attempts"], shown["last_error"]) == ("ACTIVE", 0, None)
    assert shown["cursor"]["offset"] >= head
    failed = [a for a in await _attempts(engine, webhook["id"]) if a.error]
    assert len(failed) == FAILING_AFTER and {a.http_status for a in failed} == {None}
    assert len({a.delivery_id for a in failed}) == 1  # the same event, head of the line each time


async def test_only_the_subscribed_types_are_delivered_and_a_500_is_tried_again_after_a_backoff(
    hub: RunningHub, engine: AsyncEngine, hook: Receiver, worker: WebhookWorker
) -> None:
    """Subscribed to ORDER_FIRED alone; the receiver answers 500: the try is logged with the status, not made again
    before its backoff is up, and made again after it, under the same delivery id, until it is taken."""
    waiter = await hub.client(Role.WAITER)
    async with hub.http(Role.MANAGER) as http:
        webhook = (await _subscribe(http, hook, "fired", ("ORDER_FIRED",)))["webhook"]
    hook.status = 500
    order_id = await new_order(waiter, "burger")
    await waiter.command("order.fire", {"order_id": order_id})
    await _deliver_until(worker, engine, webhook["id"], lambda: len(hook.got) >= 1)
    row = await _row(engine, webhook["id"])
    assert (row.attempts, row.last_error) == (1, "answered HTTP 500")
    assert row.next_at > datetime.now(UTC)  # backed off: the next turns leave it alone
    await worker.deliver()
    assert len(hook.got) == 1
    hook.status = 200
    await _deliver_until(worker, engine, webhook["id"], lambda: bool(hook.taken("/fired")))
    statuses = [(a.http_status, a.delivery_id) for a in await _attempts(engine, webhook["id"])]
    assert [s for s, _ in statuses] == [500, 200] and statuses[0][1] == statuses[1][1]
    (got,) = hook.taken("/fired")
    assert got.event_type == "ORDER_FIRED" and got.body["data"]["order"]["id"] == order_id
    assert got.signature_error is None
    assert [g.delivery_id for g in hook.got] == [got.delivery_id] * 2
    row = await _row(engine, webhook["id"])
    assert (row.attempts, row.last_error) == (0, None)


async def test_a_replay_from_an_offset_delivers_those_events_again_under_the_same_ids(
    hub: RunningHub, engine: AsyncEngine, hook: Receiver, worker: WebhookWorker
) -> None:
    """After three orders were delivered, a replay from the second's first event (two copies at once: one effect,
    the same answer) delivers from there again, in order, each under the id it had; past the cursor is refused."""
    waiter = await hub.client(Role.WAITER)
    async with hub.http(Role.MANAGER) as http:
        webhook = (await _subscribe(http, hook, "replayed", ("ORDER_OPENED",)))["webhook"]
        for item in ("burger", "fries", "burger"):
            await new_order(waiter, item)
        await _deliver_until(worker, engine, webhook["id"], lambda: len(hook.taken("/replayed")) == 3)
        before = hook.taken("/replayed")
        path = f"/api/v1/webhooks/{webhook['id']}/replay"
        replay = {"from_offset": before[1].offset}
        twins = await asyncio.gather(
            *(http.post(path, json=replay, headers={"Idempotency-Key": "replay-1"}) for _ in range(2))
        )
        assert [t.status_code for t in twins] == [200, 200]
        assert twins[0].json()["result"] == twins[1].json()["result"]
        assert twins[0].json()["result"]["webhook"]["cursor"]["offset"] == before[1].offset - 1
        await _deliver_until(worker, engine, webhook["id"], lambda: len(hook.taken("/replayed")) == 5)
        row = await _row(engine, webhook["id"])
        past = await http.post(path, json={"from_offset": row.cursor_offset + 2})
        assert past.status_code == 409 and past.json()["code"] == "INVALID_STATE", past.text
        assert (await _row(engine, webhook["id"])).cursor_offset == row.cursor_offset
    again = hook.taken("/replayed")[3:]
    assert [g.delivery_id for g in again] == [g.delivery_id for g in before[1:]]
    assert [g.body for g in again] == [g.body for g in before[1:]]
    assert all(g.signature_error is None for g in again)


async def test_a_cursor_in_an_older_epoch_is_delivered_to_its_end_then_goes_on_in_the_current_one(
    hub: RunningHub, engine: AsyncEngine, hook: Receiver, worker: WebhookWorker
) -> None:
    """Redis lost the restaurant's history once (a new epoch, offsets from 1 again): the rest of the old epoch's
    stored events come first, then the new epoch's, and no delivery id is used twice."""
    waiter = await hub.client(Role.WAITER)
    async with hub.http(Role.MANAGER) as http:
        webhook = (await _subscribe(http, hook, "epochs"))["webhook"]
    old = "old" + secrets.token_hex(4)
    async with engine.begin() as conn:
        for offset in (1, 2, 3):  # the old epoch, as the durable writer stored it before the loss
            await conn.execute(
                text(
                    'INSERT INTO events (restaurant_id, epoch, "offset", type, channels, data, committed_at) '
                    "VALUES (:rid, :epoch, :offset, 'TABLES_CHANGED', '{}', '{\"old\": true}', now())"
                ),
                {"rid": hub.rid, "epoch": old, "offset": offset},
            )
        await conn.execute(
            text("UPDATE webhooks SET cursor_epoch = :epoch, cursor_offset = 1 WHERE id = :id"),
            {"epoch": old, "id": webhook["id"]},
        )
    await new_order(waiter, "burger")
    head, epoch = await hub.hub.store.position(hub.rid)

    def caught_up() -> bool:
        taken = hook.taken("/epochs")
        return bool(taken) and (taken[-1].body["epoch"], taken[-1].offset) == (epoch, head)

    await _deliver_until(worker, engine, webhook["id"], caught_up)
    got = [(g.body["epoch"], g.offset) for g in hook.taken("/epochs")]
    assert got[:2] == [(old, 2), (old, 3)]
    assert got[2:] == [(epoch, offset) for offset, _ in await _stored(engine, hub.rid, 0, epoch=epoch)]
    assert len({g.delivery_id for g in hook.taken("/epochs")}) == len(got)


async def test_an_unsubscribed_webhook_gets_nothing_more_and_is_listed_no_more(
    hub: RunningHub, engine: AsyncEngine, hook: Receiver, worker: WebhookWorker
) -> None:
    """webhook.unsubscribe (DELETE, twice: the same answer) stops deliveries; its log stays readable."""
    waiter = await hub.client(Role.WAITER)
    async with hub.http(Role.MANAGER) as http:
        webhook = (await _subscribe(http, hook, "gone", ("ORDER_OPENED",)))["webhook"]
        await new_order(waiter, "burger")
        await _deliver_until(worker, engine, webhook["id"], lambda: len(hook.taken("/gone")) == 1)
        removed = [await http.delete(f"/api/v1/webhooks/{webhook['id']}") for _ in range(2)]
        assert [r.json()["result"]["webhook"]["state"] for r in removed] == ["REMOVED", "REMOVED"]
        await new_order(waiter, "fries")
        head, _ = await hub.hub.store.position(hub.rid)
        await _persisted(hub, head)
        await _poke(engine, webhook["id"])
        assert await worker.deliver() == 0
        assert [w["id"] for w in (await http.get("/api/v1/webhooks")).json()["webhooks"]] == []
        log = (await http.get(f"/api/v1/webhooks/{webhook['id']}/deliveries")).json()
    assert len(hook.got) == 1
    assert log["webhook"]["state"] == "REMOVED"
    assert [(d["delivery_id"], d["http_status"], d["ok"]) for d in log["deliveries"]] == [
        (hook.got[0].delivery_id, 200, True)
    ]


async def test_bad_input_is_refused_with_a_reason_and_changes_nothing(
    hub: RunningHub, engine: AsyncEngine, hook: Receiver, servers: Servers
) -> None:
    """A URL that is not http(s), too long or with a password, an unknown event type, another restaurant's
    webhook, a non-manager: each refused with its code and a reason, and the subscriptions are as they were.
    Two copies of one subscribe at once make one subscription and get the same id and secret."""
    async with hub.http(Role.MANAGER) as http:
        twins = await asyncio.gather(
            *(
                http.post(
                    "/api/v1/webhooks",
                    json={"url": hook.url("twin"), "events": ["ORDER_READY", "ORDER_OPENED"]},
                    headers={"Idempotency-Key": "sub-twin-1"},
                )
                for _ in range(3)
            )
        )
        answers = [t.json()["result"] for t in twins]
        assert answers[0] == answers[1] == answers[2], answers
        assert answers[0]["webhook"]["events"] == ["ORDER_OPENED", "ORDER_READY"]
        before = (await http.get("/api/v1/webhooks")).json()
        assert [w["id"] for w in before["webhooks"]] == [answers[0]["webhook"]["id"]]
        refusals = [
            ({"url": "ftp://example.com/hook"}, "url", "http:// or https://"),
            ({"url": "http://127.0.0.1:1/" + "x" * 2000}, "url", "at most 2000"),
            ({"url": "https://user:pw@example.com/hook"}, "url", "no user or password"),
            ({"url": "not a url"}, "url", "http:// or https://"),
            ({"url": hook.url("x"), "events": ["ORDER_OPENED", "ORDER_EATEN"]}, "events", "unknown event types"),
        ]
        for body, field, words in refusals:
            refused = await http.post("/api/v1/webhooks", json=body)
            assert refused.status_code == 422 and refused.json()["code"] == "INVALID_COMMAND", refused.text
            (error,) = refused.json()["details"]["errors"]
            assert error["loc"][0] == field and words in error["msg"], error
        webhook_id = answers[0]["webhook"]["id"]
        for method, path, body in [
            ("DELETE", "/api/v1/webhooks/{}", None),
            ("POST", "/api/v1/webhooks/{}/replay", {"from_offset": 1}),
        ]:
            assert (await http.request(method, path.format(10**12), json=body)).json()["code"] == "NOT_FOUND"
        assert (await http.get("/api/v1/webhooks/nope/deliveries")).status_code == 404
        assert (await http.post("/api/v1/webhooks/1/replay", json={"from_offset": 0})).status_code == 422
        assert (await http.get("/api/v1/webhooks")).json() == before
    other = "r" + secrets.token_hex(4)
    await seed(servers, other)
    async with _http(hub.url, other, Role.MANAGER) as elsewhere:
        for answer in [
            await elsewhere.delete(f"/api/v1/webhooks/{webhook_id}"),
            await elsewhere.post(f"/api/v1/webhooks/{webhook_id}/replay", json={"from_offset": 1}),
            await elsewhere.get(f"/api/v1/webhooks/{webhook_id}/deliveries"),
        ]:
            assert answer.status_code == 404 and answer.json()["code"] == "NOT_FOUND", answer.text
        assert (await elsewhere.get("/api/v1/webhooks")).json()["webhooks"] == []
    async with hub.http(Role.CASHIER) as cashier:
        forbidden = [
            await cashier.post("/api/v1/webhooks", json={"url": hook.url("c")}),
            await cashier.get("/api/v1/webhooks"),
            await cashier.delete(f"/api/v1/webhooks/{webhook_id}"),
        ]
    assert [(f.status_code, f.json()["code"]) for f in forbidden] == [(403, "FORBIDDEN")] * 3
    row = await _row(engine, webhook_id)
    assert row.active and row.secret == answers[0]["secret"]
    async with engine.connect() as conn:
        count = (
            await conn.execute(text("SELECT count(*) FROM webhooks WHERE restaurant_id = :rid"), {"rid": hub.rid})
        ).scalar()
    assert count == 1


async def test_two_nodes_deliver_side_by_side_and_nothing_twice(
    nodes: Any, servers: Servers, rid: str, engine: AsyncEngine, hook: Receiver
) -> None:
    """Two hub processes with their webhook workers on: three subscriptions get every event of ten orders, each
    once and in order, never two deliveries of one subscription under way at once."""
    await seed(servers, rid)
    await _alone(engine, rid)
    first = await nodes(FIREFLOW_WEBHOOKS="on")
    await nodes(FIREFLOW_WEBHOOKS="on")
    names = ("n1", "n2", "n3")
    async with _http(first.url, rid, Role.MANAGER) as http:
        made = [await _subscribe(http, hook, name, ("ORDER_OPENED", "ORDER_UPDATED")) for name in names]
    start = made[0]["webhook"]["cursor"]["offset"]
    async with _http(first.url, rid, Role.WAITER) as waiter:
        for n in range(10):
            opened = await waiter.post("/api/v1/orders", json={"type": "TAKEAWAY", "notes": f"n{n}"})
            order_id = opened.json()["result"]["order"]["id"]
            added = {"menu_item_id": "burger"}
            assert (await waiter.post(f"/api/v1/orders/{order_id}/items", json=added)).status_code == 200
    await hook.until(lambda: all(len(hook.taken(f"/{name}")) >= 20 for name in names))
    expected = await _stored(engine, rid, start, ("ORDER_OPENED", "ORDER_UPDATED"))
    assert len(expected) == 20
    for name in names:
        got = hook.taken(f"/{name}")
        assert [(g.offset, g.event_type) for g in got] == expected, name
        assert len({g.delivery_id for g in hook.got if g.path == f"/{name}"}) == len(hook.got) // len(names)
        assert all(g.signature_error is None for g in got)
        assert hook.most_at_once[f"/{name}"] == 1
    assert len(hook.got) == len(names) * len(expected)  # no second copy of anything


async def test_one_worker_per_engine_holds_a_subscription_while_it_sends(
    hub: RunningHub, servers: Servers, engine: AsyncEngine, hook: Receiver, worker: WebhookWorker
) -> None:
    """Two workers in one process on their own connection pools, turning at once on one subscription: every event
    once, each delivery taken by one of them."""
    other_engine = create_engine(servers.database_url)
    other = WebhookWorker(other_engine, hub.hub.redis, private_ok=True)
    waiter = await hub.client(Role.WAITER)
    try:
        async with hub.http(Role.MANAGER) as http:
            webhook = (await _subscribe(http, hook, "pair", ("ORDER_OPENED",)))["webhook"]
        for _ in range(6):
            await new_order(waiter)
        head, _ = await hub.hub.store.position(hub.rid)
        await _persisted(hub, head)

        async def both() -> None:
            while len(hook.taken("/pair")) < 6:
                await asyncio.gather(worker.deliver(), other.deliver())
                await _poke(engine, webhook["id"])

        await asyncio.wait_for(both(), 10 * WAIT)
    finally:
        await other.close()
        await other_engine.dispose()
    got = hook.taken("/pair")
    assert len(hook.got) == len(got) == 6 and len({g.delivery_id for g in got}) == 6
    assert [g.offset for g in got] == sorted(g.offset for g in got)
    assert worker.delivered + other.delivered == 6
    assert hook.most_at_once["/pair"] == 1


async def test_a_receiver_on_a_private_address_is_not_sent_to_unless_the_hub_allows_it(
    hub: RunningHub, engine: AsyncEngine, hook: Receiver, worker: WebhookWorker
) -> None:
    """With FIREFLOW_WEBHOOK_PRIVATE off, a URL on 127.0.0.1 gets nothing: the try is logged with the reason in
    one line and the cursor stays; allowed, the same event is delivered under the same delivery id."""
    guarded = WebhookWorker(engine, hub.hub.redis)  # the default: private addresses refused
    try:
        waiter = await hub.client(Role.WAITER)
        async with hub.http(Role.MANAGER) as http:
            webhook = (await _subscribe(http, hook, "lan", ("ORDER_FIRED",)))["webhook"]
        order_id = await new_order(waiter, "burger")
        await waiter.command("order.fire", {"order_id": order_id})

        async def refused() -> Any:
            while True:
                await guarded.deliver()
                row = await _row(engine, webhook["id"])
                if row.attempts:
                    return row
                await _poke(engine, webhook["id"])
                await asyncio.sleep(0.01)

        row = await asyncio.wait_for(refused(), 10 * WAIT)
    finally:
        await guarded.close()
    assert hook.got == [] and "private address 127.0.0.1" in row.last_error
    assert "FIREFLOW_WEBHOOK_PRIVATE=1" in row.last_error and "\n" not in row.last_error
    (attempt,) = await _attempts(engine, webhook["id"])
    assert attempt.http_status is None and attempt.error == row.last_error
    await _deliver_until(worker, engine, webhook["id"], lambda: bool(hook.taken("/lan")))
    (got,) = hook.taken("/lan")
    assert got.delivery_id == attempt.delivery_id and got.signature_error is None
