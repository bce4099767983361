"""The node's plain Redis commands share one pipelined connection: each caller gets its own reply, whatever
else is in flight, cancelled or blocking, and a lost connection fails over to a new one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import pytest
from redis.asyncio.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from fireflow.hub.live.control import follow
from fireflow.hub.live.multiplexed import MultiplexedRedis, packed_command
from fireflow.hub.live.redis_client import redis_client
from fireflow.hub.run.embedded import EmbeddedRedis
from tests.conftest import WAIT


@pytest.fixture
async def client(own_redis: EmbeddedRedis) -> AsyncIterator[MultiplexedRedis]:
    made = redis_client(own_redis.url)
    assert isinstance(made, MultiplexedRedis)
    yield made
    await made.aclose()


async def _connections(client: MultiplexedRedis) -> int:
    async with client.pipeline(transaction=False) as pipe:  # asked on a pooled connection: it counts itself
        pipe.client_list()
        (listed,) = await pipe.execute()
    return len(listed)


async def test_a_thousand_commands_in_flight_each_get_their_own_reply_on_one_connection(
    client: MultiplexedRedis,
) -> None:
    echo = client.register_script("return {KEYS[1], ARGV[1]}")
    calls = []
    for n in range(1000):
        if n % 3 == 0:
            calls.append(client.incrby(f"count:{n}", n))
        elif n % 3 == 1:
            calls.append(echo(keys=[f"k{n}"], args=[n]))
        else:
            calls.append(client.set(f"s:{n}", n, nx=True))  # parsed by redis-py's callback: True
    replies = await asyncio.gather(*calls)
    for n, reply in enumerate(replies):
        expected = n if n % 3 == 0 else [f"k{n}".encode(), str(n).encode()] if n % 3 == 1 else True
        assert reply == expected, n
    assert await _connections(client) == 2  # the line and the pooled connection asking


@pytest.mark.parametrize(
    "args",
    [
        ("SET", "ключ", b"\x00\r\n bytes", "EX", 60),
        ("EVALSHA", "a" * 40, 2, "ff:{r1}:stream", "ff:{r1}:seq", b"x" * 70_000, -12, 0),
        ("GET", ""),
    ],
)
def test_the_hubs_own_arguments_are_packed_as_redis_py_packs_them(args: tuple[object, ...]) -> None:
    packed = packed_command(args)
    assert packed is not None
    assert packed[0] == b"".join(Connection().pack_command(*args))


@pytest.mark.parametrize(
    "args", [("SCRIPT LOAD", "return 1"), ("SET", "k", 1.5), ("SET", "k", True), ("SET", "k", memoryview(b"v"))]
)
def test_other_arguments_are_left_to_redis_py(args: tuple[object, ...]) -> None:
    """A name with a space (redis-py splits it), floats, bools (refused there) and buffers: not packed here."""
    assert packed_command(args) is None


async def test_a_pipeline_without_a_transaction_goes_on_the_line_with_its_replies_parsed_and_in_order(
    client: MultiplexedRedis,
) -> None:
    """Each reply parsed by its command's callback, an error reply in its place or raised; a transaction still
    takes a pooled connection of its own (MULTI/EXEC must not interleave with the line's other commands)."""
    await client.set("text", "x")
    async with client.pipeline(transaction=False) as pipe:
        pipe.zadd("z", {"a": 1, "b": 2})
        pipe.hset("text", "f", 1)  # WRONGTYPE
        pipe.zrange("z", 0, -1, withscores=True)
        pipe.set("n", 1, nx=True)
        replies = await pipe.execute(raise_on_error=False)
    assert replies[0] == 2 and isinstance(replies[1], ResponseError) and "WRONGTYPE" in str(replies[1])
    assert replies[2:] == [[(b"a", 1.0), (b"b", 2.0)], True]
    async with client.pipeline(transaction=False) as pipe:
        pipe.get("n")
        pipe.hset("text", "f", 1)
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            await pipe.execute()
    async with client.pipeline(transaction=False) as pipe:
        assert await pipe.execute() == []
    assert await _connections(client) == 2  # the line, and the pooled connection that asks
    async with client.pipeline() as multi:
        multi.incr("n")
        multi.get("n")
        assert await multi.execute() == [2, b"2"]


async def test_a_cancelled_caller_leaves_the_replies_in_step(client: MultiplexedRedis) -> None:
    await client.set("a", "first")
    gone = asyncio.ensure_future(client.get("a"))
    await asyncio.sleep(0)  # queued on the line
    gone.cancel()
    await client.set("b", "second")
    assert await client.get("b") == b"second"
    assert gone.cancelled()


async def test_an_error_reply_is_the_callers_alone(client: MultiplexedRedis) -> None:
    await client.set("text", "x")
    wrong, right = await asyncio.gather(client.hset("text", "f", 1), client.get("text"), return_exceptions=True)
    assert isinstance(wrong, ResponseError) and "WRONGTYPE" in str(wrong)
    assert right == b"x"
    script = client.register_script("return 7")
    await client.script_flush()  # NOSCRIPT on the line: redis-py loads it and asks again
    assert await script() == 7


async def test_a_script_runs_on_the_line_or_in_the_pipeline_it_is_given(client: MultiplexedRedis) -> None:
    add = client.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    assert await asyncio.gather(*(add(keys=["n"], args=[k]) for k in range(1, 5))) == [1, 3, 6, 10]
    async with client.pipeline() as multi:  # queued in the transaction, loaded before it (redis-py's way)
        await add(keys=["n"], args=[5], client=multi)
        multi.get("n")
        assert await multi.execute() == [15, b"15"]


async def _blocking_alone(client: MultiplexedRedis, blocking: Awaitable[Any]) -> asyncio.Future[Any]:
    """``blocking`` (a command that waits up to 5 s) sent and blocking in Redis, and the line answering meanwhile:
    it took a connection of its own. Its reply, to come."""
    waiting = asyncio.ensure_future(blocking)
    async with asyncio.timeout(WAIT):
        while (await client.info("clients"))["blocked_clients"] != 1:  # it is in Redis, blocking
            await asyncio.sleep(0.01)
    started = time.monotonic()
    assert await client.ping()
    assert time.monotonic() - started < 1.0  # not behind the 5 s wait
    return waiting


async def test_a_blocking_command_takes_a_connection_of_its_own(client: MultiplexedRedis) -> None:
    waiting = await _blocking_alone(client, client.blpop(["nothing-yet"], timeout=5))
    await client.rpush("nothing-yet", "here")
    assert await asyncio.wait_for(waiting, WAIT) == (b"nothing-yet", b"here")


async def test_a_stream_read_goes_on_the_line_unless_it_blocks(
    client: MultiplexedRedis, own_redis: EmbeddedRedis
) -> None:
    """The durable writer reads its streams many times a second, never blocking: those reads share the line. One
    with BLOCK holds its connection until something comes, and takes a connection of its own."""
    await client.xgroup_create("s", "g", id="0", mkstream=True)
    await client.xadd("s", {"k": "v"})
    read = await client.execute_command("XREADGROUP", "GROUP", "g", "c", "COUNT", 10, "STREAMS", "s", ">")
    assert [(stream, [fields for _, fields in entries]) for stream, entries in read] == [(b"s", [{b"k": b"v"}])]
    assert await client.get("after") is None  # the line's latest command now
    other = redis_client(own_redis.url)
    try:
        listed = await other.client_list()
    finally:
        await other.aclose()
    assert [c["cmd"] for c in listed if "xread" in c["cmd"]] == []  # no connection of the pool read the stream

    waiting = await _blocking_alone(client, client.xreadgroup("g", "c", {"s": ">"}, count=1, block=5000))
    await client.xadd("s", {"k": "w"})
    (stream, entries), *_ = await asyncio.wait_for(waiting, WAIT)
    assert (stream, [fields for _, fields in entries]) == (b"s", [{b"k": b"w"}])


async def test_a_lost_connection_fails_over_and_a_dead_redis_is_said_plainly(
    client: MultiplexedRedis, own_redis: EmbeddedRedis
) -> None:
    await client.set("kept", "1")
    await asyncio.to_thread(own_redis.kill)
    with pytest.raises(RedisConnectionError):
        await asyncio.wait_for(client.get("kept"), WAIT)  # refused after the retries, not hung
    async with client.pipeline(transaction=False) as pipe:
        pipe.get("kept")
        pipe.get("kept")
        with pytest.raises(RedisConnectionError):
            await asyncio.wait_for(pipe.execute(), WAIT)  # a pipeline on the line too
    await asyncio.to_thread(own_redis.start)
    assert await asyncio.wait_for(client.ping(), WAIT)  # the next command opens a new line
    assert await client.incr("after") == 1
    async with client.pipeline(transaction=False) as pipe:
        pipe.incr("after")
        pipe.incr("after")
        assert await pipe.execute() == [2, 3]


async def test_a_subscription_holds_what_comes_while_catching_up_then_hands_it_on_in_order(
    client: MultiplexedRedis, own_redis: EmbeddedRedis
) -> None:
    got: list[tuple[bytes, bytes]] = []
    arrived = asyncio.Event()
    subscribed = 0
    publisher = redis_client(own_redis.url)

    def on_message(message: dict[str, object]) -> None:
        assert message["type"] == "pmessage"
        got.append((message["channel"], message["data"]))  # type: ignore[arg-type]
        if len(got) % 3 == 0:
            arrived.set()

    async def caught_up() -> None:
        nonlocal subscribed
        subscribed += 1
        for n in range(3):
            assert await publisher.publish(f"t:{subscribed}", n) == 1  # Redis has sent it to the subscriber
        assert len(got) == 3 * (subscribed - 1)  # none handed on before the catch-up is over

    following = asyncio.ensure_future(
        follow(client, "test", lambda pubsub: pubsub.psubscribe("t:*"), on_message, caught_up)
    )
    try:
        await asyncio.wait_for(arrived.wait(), WAIT)
        assert got == [(b"t:1", b"0"), (b"t:1", b"1"), (b"t:1", b"2")]
        arrived.clear()
        await asyncio.to_thread(own_redis.kill)  # the subscription is lost: subscribed again once Redis is back
        await asyncio.to_thread(own_redis.start)
        await asyncio.wait_for(arrived.wait(), 4 * WAIT)
        assert got[3:] == [(b"t:2", b"0"), (b"t:2", b"1"), (b"t:2", b"2")]
    finally:
        following.cancel()
        await publisher.aclose()


async def test_a_handler_that_fails_on_one_message_still_gets_the_next(
    client: MultiplexedRedis, own_redis: EmbeddedRedis, caplog: pytest.LogCaptureFixture
) -> None:
    got: list[bytes] = []
    second = asyncio.Event()
    publisher = redis_client(own_redis.url)

    def on_message(message: dict[str, object]) -> None:
        data = message["data"]
        assert isinstance(data, bytes)
        if data == b"bad":
            raise ValueError("cannot read this one")
        got.append(data)
        second.set()

    ready = asyncio.Event()

    async def caught_up() -> None:
        ready.set()

    following = asyncio.ensure_future(follow(client, "test", lambda p: p.subscribe("one"), on_message, caught_up))
    try:
        await asyncio.wait_for(ready.wait(), WAIT)
        assert await publisher.publish("one", "bad") == 1
        assert await publisher.publish("one", "good") == 1
        await asyncio.wait_for(second.wait(), WAIT)
        assert got == [b"good"]
        assert any("handler failed" in r.getMessage() for r in caplog.records)
    finally:
        following.cancel()
        await publisher.aclose()
