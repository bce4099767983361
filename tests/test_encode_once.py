"""An order a commit writes is encoded once: for its hash, for the events that carry it and for the answer,
and each of them holds exactly the bytes encoding it separately would give."""

from __future__ import annotations

import orjson
from redis.asyncio import Redis

from fireflow.hub.live.codec import MsgpackCodec
from fireflow.hub.live.keys import Keys
from fireflow.hub.live.store import Store
from tests.domain_support import fire, with_items


async def test_events_carrying_an_order_hold_the_bytes_pydantic_would_write(redis: Redis, rid: str) -> None:
    """ORDER_FIRED's data is spliced from the order's encoding for its hash: byte for byte what encoding the
    event itself gives; the other events (tickets, the board's token) are encoded as before."""
    store = Store(redis, durable=False)
    decision = fire(with_items("burger", "fries", "mojito"))
    [order] = decision.orders
    await redis.hset(Keys(rid).versions, f"order:{order.id}", order.revision - 1)  # as if opened here
    outcome = await store.commit(rid, "c1", "fp", decision, 1)
    assert outcome.stored is not None
    entries = await store.read_after(rid, 0, outcome.stored.offset)
    assert [x.type.decode() for x in entries] == [ev.type for ev in decision.events]
    assert [x.data for x in entries] == [ev.data.model_dump_json().encode() for ev in decision.events]
    assert entries[0].type == b"ORDER_FIRED"
    assert entries[0].data == b'{"order":' + order.model_dump_json().encode() + b"}"
    assert outcome.stored.result == {
        "order": orjson.loads(order.model_dump_json()),
        "stations": ["bar", "fry", "grill"],
    }
    # A retry is answered from what Redis kept: the same result.
    again = await store.commit(rid, "c1", "fp", decision, 2)
    assert again.duplicate and again.stored is not None and again.stored.result == outcome.stored.result


def test_an_answer_holding_a_stored_result_is_the_same_in_both_codecs() -> None:
    """The stored result rides in an answer as JSON already encoded; msgpack packs its parse."""
    result = orjson.dumps({"order": {"id": "o-1", "total": 1250, "lines": [1, 2]}, "ok": True})
    frame = {"op": "ack", "id": "c1", "offset": 7, "result": orjson.Fragment(result)}
    packed = MsgpackCodec().encode(frame)["bytes"]
    assert MsgpackCodec().decode({"bytes": packed}) == {**frame, "result": orjson.loads(result)}
    assert orjson.loads(orjson.dumps(frame)) == {**frame, "result": orjson.loads(result)}
