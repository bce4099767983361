"""A node's background process (``fireflow durable``): the work that must not share the sockets' event loop.

A node started with ``FIREFLOW_DURABLE=process`` (the default) runs it as a child at nice 10: the durable writer,
what leaves the hub beside it (``hub/workers/senders.py``) and, with ``--predictions``, the node's share of the
predictor (``hub/workers/predictions.py``). A node whose writer runs elsewhere (``off``) runs its predictor so
all the same, alone in its child (``fireflow predictor``). In the node's loop the predictor's rounds, every few seconds at every
restaurant a fire woke, and the young collections of its per-order copies came between fires and their screens: in
``bench kitchen`` p99 fire→screen 8.1-9.2 ms and the slowest delivery 56-75 ms, against 6.7-7.3 and 14-17 ms with
it here, at the same CPU in all (``hub/MEASUREMENTS.md``). Here it runs beside the sockets, below their priority.

The predictor here is the one a node would run, through a store and a command bus of its own: its commands commit
to Redis like any node's, and every node's fan-out delivers their events as it does another node's. It hears the
commits' wake-ups on the writer's subscription (read between the writer's rounds, five times a second: the
predictor looks every few seconds), and it shares the restaurants with the other nodes' predictors as before.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Coroutine
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from fireflow.hub.books.archive import OrderArchive
from fireflow.hub.live.control import SETUP_CHANNEL, follow_wake_ups
from fireflow.hub.live.control import listen as follow_control
from fireflow.hub.live.redis_client import redis_client
from fireflow.hub.live.store import Store

__all__ = ["node_store", "run_forever"]


def node_store(settings: Any, redis: Redis, engine: AsyncEngine | None) -> Store:
    """The store a node's commands commit through, as its settings make it: the node's and its background
    process's alike (the predictor commits there).

    With Postgres there is a durable writer, here or (``FIREFLOW_DURABLE=off``) elsewhere: the commits trim each
    stream only below what it has stored. A node without its own writer trimmed to its history alone, so events
    committed through it while the writer was away (an outage longer than the history) never reached the log.
    """
    return Store(
        redis,
        history=settings.history,
        result_ttl=settings.result_ttl,
        durable=bool(settings.database_url),
        replicas=settings.redis_replicas,
        replica_wait_ms=int(settings.redis_replica_wait * 1000),
        archived=OrderArchive(engine).order if engine is not None else None,
    )


async def run_forever(settings: Any, *, writing: bool = True, predictions: bool = False) -> None:
    """The writer and the senders (``writing``) and the predictor (``predictions``), until SIGTERM or SIGINT; then
    the predictor keeps what it learned and hands its shards on, and the writer its own.

    A predictor beside a writer hears the commits' wake-ups on the writer's subscription; on its own (a node
    whose writer runs elsewhere, ``FIREFLOW_DURABLE=off``) on one of its own."""
    from fireflow.hub.books.db import create_engine
    from fireflow.hub.commands.bus import CommandBus
    from fireflow.hub.run.heap import freeze_the_start
    from fireflow.hub.workers.durable import DurableWriter
    from fireflow.hub.workers.predictions import Predictor
    from fireflow.hub.workers.senders import Senders

    # The nodes' client: a command on a connection Redis dropped (a restart) is retried on a fresh one.
    redis = redis_client(settings.redis_url, pool_size=8, pool_timeout=settings.redis_pool_timeout)
    engine = create_engine(settings.database_url) if settings.database_url else None
    store = node_store(settings, redis, engine)
    writer = None
    senders = None
    tasks: dict[str, Callable[[], Coroutine[Any, Any, None]]] = {}
    if writing:
        assert engine is not None, "the durable writer needs DATABASE_URL"
        writer = DurableWriter(
            redis,
            store,
            engine,
            batch=settings.durable_batch,
            closed_keep=settings.closed_keep,
            lease=settings.durable_lease,
        )
        senders = Senders.of(settings, engine, redis, store)
        tasks.update(senders.tasks())
    predictor = None
    if predictions:
        predictor = Predictor(redis, store, CommandBus(store), tick=settings.predict_tick, secret=settings.secret)
        if writer is not None:
            writer.on_wake.append(predictor.woken)
            writer.on_missed.append(predictor.missed)
        else:
            woken, missed = predictor.woken, predictor.missed

            async def caught_up() -> None:
                missed()

            tasks["wake-ups"] = lambda: follow_wake_ups(redis, "predictor wake-up", woken, caught_up)
        tasks["predictions"] = predictor.run

        async def forget_all() -> None:
            store.forget()  # settings changed while the subscription was away: read them again

        # a restaurant's settings changed: its stations' late times and pace, read again at once as a node does
        tasks["control"] = lambda: follow_control(redis, {SETUP_CHANNEL: store.forget}, forget_all)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if writer is not None:
        writer.start()
    running = [asyncio.create_task(run(), name=name) for name, run in tasks.items()]
    if settings.freeze_gc:
        freeze_the_start()
    try:
        await stop.wait()
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        if predictor is not None:
            await predictor.stop()  # the other nodes take its shards at once, not when its leases run out
        if senders is not None:
            await senders.close()
        if writer is not None:
            await writer.stop()
            await writer.close()
        if engine is not None:
            await engine.dispose()
        await redis.aclose()
