"""Redis pub/sub followed for good, and the nodes' control channel.

``follow`` is the one subscription loop of a node: it subscribes, catches up on
what it may have missed (pub/sub keeps nothing for a subscriber that was away),
hands each message over, and subscribes again with backoff when the connection
is lost. The fan-out's wake-ups use it, and so does the control channel:

Two kinds of control message, each on its own channel: a device revoked (close
its sockets here, ``fireflow.hub.live.devices``) and a restaurant's settings
changed (forget this node's cached copy, ``Store.forget``). After every
(re)subscription the node resynchronises instead: it checks its sockets and
drops its whole cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import RedisCluster

from fireflow.hub.live.keys import WAKE_PATTERN, WAKE_PREFIX
from fireflow.hub.live.multiplexed import MultiplexedRedis, Names, Quiet
from fireflow.hub.live.multiplexed import listen as listen_lean
from fireflow.hub.live.redis_client import is_cluster
from fireflow.hub.retry import Backoff
from fireflow.hub.supervise import reraise_if_cancelled

__all__ = ["REVOKED_CHANNEL", "SETUP_CHANNEL", "follow", "follow_wake_ups", "listen"]

logger = logging.getLogger(__name__)

REVOKED_CHANNEL = "ff:revoked"  # "<restaurant> <device>"
SETUP_CHANNEL = "ff:setup"  # "<restaurant>", published by the commit script with the change


async def follow(
    redis: Redis,
    what: str,
    subscribe: Callable[[PubSub], Awaitable[Any]],
    on_message: Callable[[dict[str, Any]], None],
    caught_up: Callable[[], Awaitable[None]],
    quiet: Quiet | None = None,
) -> None:
    """Subscribe (``subscribe``), catch up (``caught_up``), then ``on_message`` each message; forever.
    ``quiet``: the socket left unread while the follower rests (one Redis; a cluster's pubsub reads as ever)."""
    backoff = Backoff(first=0.25, ceiling=2.0)
    while True:
        reraise_if_cancelled()
        pubsub = redis.pubsub(ignore_subscribe_messages=True)
        try:
            if isinstance(redis, MultiplexedRedis):  # one Redis: messages parsed as they come (hub/live/multiplexed)
                names = Names()
                await subscribe(cast(PubSub, names))

                async def caught_up_then_reset() -> None:
                    await caught_up()
                    backoff.reset()

                # ends by raising: subscribe again
                await listen_lean(redis, names, on_message, caught_up_then_reset, quiet)
                continue
            if is_cluster(redis):  # a new client knows no slot yet: its pubsub would fail (KeyError: the slot)
                await cast(RedisCluster, redis).initialize()
            await subscribe(pubsub)
            await caught_up()  # whatever was sent while we were not listening
            backoff.reset()
            async for message in pubsub.listen():
                on_message(message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            reraise_if_cancelled()
            logger.warning("%s subscription lost (%s); subscribing again", what, exc)
            await backoff.wait()
            if is_cluster(redis):  # its node may have failed over: ask the cluster who serves now
                with contextlib.suppress(Exception):
                    await cast(RedisCluster, redis).nodes_manager.initialize()
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]  # typed from redis 8.2


async def follow_wake_ups(
    redis: Redis,
    what: str,
    woken: Callable[[str], None],
    caught_up: Callable[[], Awaitable[None]],
    quiet: Quiet | None = None,
) -> None:
    """The commits' wake-ups, for a process without a fan-out to hear them from (the durable writer, a predictor
    on its own): ``woken`` with each restaurant a commit published, ``caught_up`` after each (re)subscription."""

    def on_message(message: dict[str, Any]) -> None:
        if message["type"] == "pmessage":
            woken(message["channel"].decode()[len(WAKE_PREFIX) :])

    await follow(redis, what, lambda pubsub: pubsub.psubscribe(WAKE_PATTERN), on_message, caught_up, quiet)


async def listen(
    redis: Redis, handlers: Mapping[str, Callable[[str], None]], resync: Callable[[], Awaitable[None]]
) -> None:
    """Run ``handlers[channel](message)`` for every control message; ``resync`` after each (re)subscription."""

    def on_message(message: dict[str, Any]) -> None:
        if message["type"] == "message":
            handlers[message["channel"].decode()](message["data"].decode())

    await follow(redis, "control channel", lambda pubsub: pubsub.subscribe(*handlers), on_message, resync)
