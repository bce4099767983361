"""``fireflow bench soak``: a week of service, compressed; Redis memory at the end of every simulated day.

Redis holds what the restaurants are working on, not their history: an order closed for
``FIREFLOW_CLOSED_KEEP`` seconds is moved to Postgres (``archived_orders``) by the durable writer's
archiver, a command's answer expires after ``FIREFLOW_RESULT_TTL`` seconds, and each restaurant's
event stream keeps ``FIREFLOW_HISTORY`` events. So after the first day has filled those buffers,
Redis memory should stay flat however many days go by. This scenario checks that: each simulated
day, every restaurant runs ``--orders`` takeaway orders through the real command path (open, two
items, fire, preview, pay by UPI, pick up), spread over the day; at the end of the day it reads
Redis's ``used_memory``, its key count and the closed orders still in Redis.

A real week cannot be waited for, so time is compressed: every retention is scaled to the simulated
day (``--day`` seconds) as it stands to a real one. Answers are kept one day, closed orders two
"hours" (a twelfth of the day), and the stream about one day's events; with the real retentions
(a day, an hour) a run of minutes would only ever see the buffers filling.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from fireflow.clients.bench.environment import Env
from fireflow.clients.bench.report import MiB, figure, say
from fireflow.clients.bench.scenario import Scenario
from fireflow.clients.bench.servers import Server
from fireflow.hub.run.embedded.process import HOST

__all__ = ["SOAK"]

_EVENTS_PER_ORDER = 8  # a day's stream: --orders x this, per restaurant
_TOLERATED_ERRORS = 5  # refused commands beyond this fail the run
_TIMEOUT = 30.0  # seconds a command may take before it counts as an error


def _options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--days", type=int, default=7, help="simulated days")
    p.add_argument("--day", type=float, default=20.0, help="seconds of one simulated day")
    p.add_argument("--orders", type=int, default=12, help="orders per restaurant per simulated day")


def _hub_env(args: argparse.Namespace) -> dict[str, str]:
    """The retentions scaled to the simulated day."""
    return {
        "FIREFLOW_RESULT_TTL": str(max(1, round(args.day))),
        "FIREFLOW_CLOSED_KEEP": f"{args.day / 12:.3f}",
        "FIREFLOW_HISTORY": str(max(100, args.orders * _EVENTS_PER_ORDER)),
    }


@dataclass
class _Counts:
    commands: int = 0
    orders: int = 0
    errors: list[str] = field(default_factory=list)
    behind: float = 0.0  # the most an order started after its time in the schedule (s)


@dataclass
class _Tills:
    """One restaurant's connections, one per role."""

    waiter: Any
    cashier: Any
    expo: Any

    async def close(self) -> None:
        await asyncio.gather(self.waiter.close(), self.cashier.close(), self.expo.close(), return_exceptions=True)


async def _order(tills: _Tills, counts: _Counts) -> None:
    """One takeaway order, open to pickup; a refused command is counted and ends the order."""

    async def do(client: Any, command: str, data: dict[str, Any]) -> dict[str, Any]:
        counts.commands += 1
        try:
            answer: dict[str, Any] = (await client.command(command, data, timeout=_TIMEOUT))["result"]
        except Exception as exc:
            counts.errors.append(f"{command}: {type(exc).__name__}: {exc}")
            raise
        return answer

    try:
        order = (await do(tills.waiter, "order.open", {"type": "TAKEAWAY"}))["order"]
        order_id = order["id"]
        for item in ("water", "soda"):  # ready as fired
            order = (await do(tills.waiter, "order.add_item", {"order_id": order_id, "menu_item_id": item}))["order"]
        order = (await do(tills.waiter, "order.fire", {"order_id": order_id}))["order"]
        due = (await do(tills.cashier, "bill.preview", {"order_ids": [order_id]}))["due"]
        tenders = [{"method": "UPI", "amount": due, "reference": "soak"}]
        await do(tills.cashier, "order.pay", {"order_ids": [order_id], "tenders": tenders})
        if order.get("status") != "READY":
            await do(tills.expo, "order.bump", {"order_id": order_id})
        await do(tills.waiter, "order.pickup", {"order_id": order_id})
    except Exception:
        return
    counts.orders += 1


async def _redis_day(env: Env, rids: list[str]) -> tuple[int, int, int]:
    """Redis's used_memory, its key count, and the closed orders it still holds for ``rids``."""
    from redis.asyncio import Redis

    from fireflow.hub.live.keys import Keys

    redis = Redis.from_url(env.redis_url)
    try:
        used = int((await redis.info("memory"))["used_memory"])
        keys = int(await redis.dbsize())
        async with redis.pipeline(transaction=False) as pipe:
            for rid in rids:
                pipe.hlen(Keys(rid).closed_orders)
            closed = sum(int(n) for n in await pipe.execute())
    finally:
        await redis.aclose()
    return used, keys, closed


async def _archived(env: Env) -> int:
    from sqlalchemy import text

    from fireflow.hub.books.db import create_engine

    engine = create_engine(env.database_url)
    try:
        async with engine.connect() as conn:
            query = text("SELECT count(*) FROM archived_orders WHERE restaurant_id LIKE :p")
            return int((await conn.execute(query, {"p": env.prefix + "%"})).scalar_one())
    finally:
        await engine.dispose()


async def _soak(env: Env, server: Server, args: argparse.Namespace) -> None:
    from fireflow.clients.python import HubClient

    if args.days < 1 or args.day <= 0 or args.orders < 1:
        raise SystemExit("bench soak: --days, --day and --orders must be positive")
    url = f"ws://{HOST}:{server.port}/ws"
    rids = [env.rid(n) for n in range(args.restaurants)]
    drivers = min(args.sockets, args.restaurants)  # each drives its share of the restaurants, in schedule order
    retentions = " ".join(f"{k}={v}" for k, v in _hub_env(args).items())
    say(
        f"soak: {args.days} day(s) of {args.day:g}s, {args.orders} order(s)/restaurant/day, "
        f"{args.restaurants} restaurant(s), {drivers} driver(s); {retentions}"
    )

    async def tills(n: int) -> _Tills:
        rid = rids[n]
        waiter, cashier, expo = await asyncio.gather(
            HubClient.connect(url, env.token(rid, "WAITER", f"soak-waiter-{n}")),
            HubClient.connect(url, env.token(rid, "CASHIER", f"soak-till-{n}")),
            HubClient.connect(url, env.token(rid, "EXPO", f"soak-expo-{n}")),
        )
        return _Tills(waiter, cashier, expo)

    connected = await asyncio.gather(*(tills(n) for n in range(args.restaurants)), return_exceptions=True)
    opened = [t for t in connected if isinstance(t, _Tills)]
    failed = [t for t in connected if not isinstance(t, _Tills)]
    if failed:
        await asyncio.gather(*(t.close() for t in opened))
        raise RuntimeError(f"soak: {len(failed)} restaurant(s) could not connect: {failed[0]!r}")
    every = opened

    async def drive(c: int, start: float, counts: _Counts) -> None:
        # Order i of restaurant n is due at (i + n/restaurants) / orders of the day: restaurants staggered.
        plan = sorted(
            ((i + n / args.restaurants) / args.orders * args.day, n)
            for n in range(c, args.restaurants, drivers)
            for i in range(args.orders)
        )
        for due, n in plan:
            late = time.monotonic() - (start + due)
            if late < 0:
                await asyncio.sleep(-late)
            counts.behind = max(counts.behind, late)
            await _order(every[n], counts)

    used_by_day: list[int] = []
    totals = _Counts()
    orders_so_far = 0
    longest = 0.0
    try:
        for day in range(1, args.days + 1):
            counts = _Counts()
            start = time.monotonic()  # when the last day ended: a day the hub fell behind on runs long
            await asyncio.gather(*(drive(c, start, counts) for c in range(drivers)))
            elapsed = time.monotonic() - start
            if elapsed < args.day:  # the day's last hours: the archiver and the expiries go on
                await asyncio.sleep(args.day - elapsed)
            elapsed = time.monotonic() - start
            used, keys, closed = await _redis_day(env, rids)
            used_by_day.append(used)
            orders_so_far += counts.orders
            totals.commands += counts.commands
            totals.errors += counts.errors
            totals.behind = max(totals.behind, counts.behind)
            longest = max(longest, elapsed)
            figure(
                f"soak day {day}: redis_used={used / MiB:.1f}MiB keys={keys} closed_in_redis={closed} "
                f"orders_so_far={orders_so_far} commands/s={counts.commands / elapsed:.0f} took={elapsed:.1f}s "
                f"behind={max(0.0, counts.behind):.1f}s errors={len(counts.errors)} hub_rss={server.rss() / MiB:.0f}MiB"
            )
            if len(totals.errors) > _TOLERATED_ERRORS:
                break
    finally:
        await asyncio.gather(*(t.close() for t in every))
    archived = await _archived(env)
    by_day = ", ".join(f"{u / MiB:.1f}" for u in used_by_day)
    first_full = used_by_day[1] if len(used_by_day) > 1 else used_by_day[0]  # day 1 fills the buffers
    figure(
        f"soak: redis_used MiB by day=[{by_day}] last/first_full_day={used_by_day[-1] / first_full:.2f}x "
        f"archived_orders={archived} orders={orders_so_far} commands={totals.commands} errors={len(totals.errors)}"
        + (f" first_error={totals.errors[0][:160]!r}" if totals.errors else "")
    )
    if longest > args.day * 1.25:
        # The retentions are in real seconds: a day stretched by a slow hub keeps fewer of its answers and
        # events than a day, so its figures understate a full day's memory.
        say(
            f"warning: the hub fell behind (a day took up to {longest:.0f}s for {args.day:g}s, "
            f"up to {totals.behind:.0f}s behind the schedule); use fewer --orders or --restaurants, or a longer --day"
        )
    if len(totals.errors) > _TOLERATED_ERRORS:
        shown = "\n  ".join(totals.errors[:5])
        raise RuntimeError(f"soak: {len(totals.errors)} commands refused or failed, the first ones:\n  {shown}")


SOAK: Scenario[None] = Scenario(sockets=20, procs=1, restaurants=20, options=_options, measure=_soak, hub_env=_hub_env)
