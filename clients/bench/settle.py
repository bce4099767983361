"""``fireflow bench settle``: settlements per second into Postgres.

``--sockets`` cashiers pay ready orders as fast as they are answered, each no faster than the hub's frame
limit lets one socket send. Each payment is a split (cash with change, and UPI), recorded in Postgres
(invoice, payments, a balanced SALE posting, an audit row) before the answer, then applied in Redis and
followed by REVENUE_UPDATED.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import psutil

from fireflow.clients.bench import profile
from fireflow.clients.bench.environment import Env
from fireflow.clients.bench.load import WAITER_RATE
from fireflow.clients.bench.report import figure, say
from fireflow.clients.bench.scenario import Scenario
from fireflow.clients.bench.servers import Server
from fireflow.clients.bench.usage import cpu_seconds
from fireflow.clients.python import HubClient
from fireflow.hub.run.embedded.process import HOST

__all__ = ["SETTLE"]


def _options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--orders", type=int, default=4000, help="orders to settle, spread over the restaurants")
    p.add_argument(
        "--after",
        type=float,
        default=3.0,
        help="seconds the outbox's drain is watched once the rush is over (default 3: it stood aside during it)",
    )
    profile.add_option(p, "rush")


class _Paced:
    """A client that sends its commands no faster than the hub's per-socket frame limit lets it: a fast hub
    answers one socket sooner than that limit allows it to send, and a refused frame would be counted as a
    failed settlement. More sockets, not faster ones, make more settlements."""

    def __init__(self, client: HubClient) -> None:
        self.client = client
        self._next_at = 0.0

    async def command(self, kind: str, data: dict[str, Any], **kw: Any) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, self._next_at - loop.time()))
        self._next_at = max(self._next_at, loop.time()) + 1 / WAITER_RATE
        return await self.client.command(kind, data, **kw)


async def _settle(env: Env, server: Server, args: argparse.Namespace) -> dict[str, float]:
    from fireflow.hub.books.db import create_engine

    url = f"ws://{HOST}:{server.port}/ws"
    per = max(1, args.orders // args.restaurants)
    say(f"preparing {per * args.restaurants} ready orders (water and soda: ready as fired)")
    queues: list[asyncio.Queue[tuple[str, str]]] = [asyncio.Queue() for _ in range(args.restaurants)]

    async def prepare(n: int) -> None:
        rid = env.rid(n)
        waiter = _Paced(await HubClient.connect(url, env.token(rid, "WAITER", f"bench-waiter-{n}")))
        try:
            for _ in range(per):
                opened = await waiter.command("order.open", {"type": "TAKEAWAY"})
                order_id = opened["result"]["order"]["id"]
                for item in ("water", "soda"):
                    await waiter.command("order.add_item", {"order_id": order_id, "menu_item_id": item})
                await waiter.command("order.fire", {"order_id": order_id})
                queues[n].put_nowait((rid, order_id))
        finally:
            await waiter.client.close()

    await asyncio.gather(*(prepare(n) for n in range(args.restaurants)))
    latencies: list[float] = []
    errors: list[str] = []

    async def cashier(c: int) -> None:
        # Every restaurant gets a cashier; with fewer cashiers than restaurants, each serves several in turn.
        for n in range(c % args.restaurants, args.restaurants, args.sockets):
            await serve(c, n)

    async def serve(c: int, n: int) -> None:
        rid = env.rid(n)
        client = _Paced(await HubClient.connect(url, env.token(rid, "CASHIER", f"bench-till-{c}")))
        try:
            while not queues[n].empty():
                _, order_id = queues[n].get_nowait()
                try:
                    due = (await client.command("bill.preview", {"order_ids": [order_id]}))["result"]["due"]
                    cash = due // 2
                    tenders = [
                        {"method": "CASH", "amount": cash, "received": cash + 1000},
                        {"method": "UPI", "amount": due - cash, "reference": "bench"},
                    ]
                    started = time.perf_counter()
                    await client.command("order.pay", {"order_ids": [order_id], "tenders": tenders}, timeout=30)
                except Exception as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                latencies.append(time.perf_counter() - started)
        finally:
            await client.client.close()

    say(f"settling with {args.sockets} cashier connection(s)")
    async with profile.measured(args, server, "rush"):
        commits_before = await _commits(server)
        cpu_before, own_before, servers_before = server.cpu(), server.own_cpu(), _servers_cpu(env.extras)
        started = time.perf_counter()
        await asyncio.gather(*(cashier(c) for c in range(args.sockets)))
        elapsed = time.perf_counter() - started
        hub_cpu_s = server.cpu() - cpu_before
        own_cpu_s = server.own_cpu() - own_before
        servers_cpu_s = {
            n: cpu - servers_before[n] for n, cpu in _servers_cpu(env.extras).items() if n in servers_before
        }
        commits, sent = (after - before for after, before in zip(await _commits(server), commits_before, strict=True))
    hub_cpu = hub_cpu_s / elapsed * 100 if elapsed else 0.0
    # The hub's CPU per settlement (its bill.preview included): what bounds a node once Postgres, Redis and
    # this load generator no longer share its two cores, as they do here. Split: the sockets' process, and its
    # niced background process (the durable writer, and the outbox's drain: ERPNext, each invoice's PDF, which waits while
    # the CPUs are fought over, so little of it runs in the rush: outbox_after is its pace once the rush is over).
    hub_ms = hub_cpu_s * 1000 / len(latencies) if latencies else 0.0
    node_ms = own_cpu_s * 1000 / len(latencies) if latencies else 0.0
    # The embedded servers' CPU in the rush, each settlement's share: all of Postgres' processes (the node's
    # backends, and its WAL writer, checkpointer and autovacuum), and Redis. Not known for external servers.
    servers_ms = "".join(
        f" {name}_ms_per_settlement={cpu_s * 1000 / len(latencies):.2f}"
        for name, cpu_s in sorted(servers_cpu_s.items())
        if latencies
    )
    engine = create_engine(env.database_url)
    try:
        async with engine.connect() as conn:
            from sqlalchemy import text

            stored = (
                await conn.execute(
                    text("SELECT count(*) FROM invoices WHERE restaurant_id LIKE :p"), {"p": env.prefix + "%"}
                )
            ).scalar_one()
            pending = text("SELECT count(*) FROM outbox WHERE restaurant_id LIKE :p AND status = 'PENDING'")
            outbox_pending = (await conn.execute(pending, {"p": env.prefix + "%"})).scalar_one()
            # The drain waits while the CPUs are fought over (hub/workers/pressure.py): once the rush is over
            # it takes the backlog on, as fast as its invoices' PDFs let it.
            await asyncio.sleep(args.after)
            await conn.rollback()  # a new snapshot
            drained = outbox_pending - (await conn.execute(pending, {"p": env.prefix + "%"})).scalar_one()
            unbalanced = (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM (SELECT t.id FROM ledger_transactions t JOIN ledger_entries e "
                        "ON e.transaction_id = t.id WHERE t.restaurant_id LIKE :p GROUP BY t.id "
                        "HAVING sum(e.debit) <> sum(e.credit)) x"
                    ),
                    {"p": env.prefix + "%"},
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else 0.0

    figure(
        f"settle: settlements/s={len(latencies) / elapsed:.0f} p50={pct(0.5):.1f}ms p99={pct(0.99):.1f}ms "
        f"settled={len(latencies)} invoices_in_postgres={stored} unbalanced={unbalanced} errors={len(errors)} "
        f"cashiers={args.sockets} restaurants={args.restaurants} hub_cpu={hub_cpu:.0f}% hub_ms_per_settlement={hub_ms:.2f}"
        f" (node {node_ms:.2f}, background {hub_ms - node_ms:.2f}){servers_ms}"
        f" per_commit={sent / commits if commits else 0.0:.1f}"
        f" outbox_pending={outbox_pending}"
        f" outbox_after={drained / args.after if args.after else 0.0:.0f}/s"
        + (f" first_error={errors[0][:120]!r}" if errors else "")
    )
    return {"settlements/s": len(latencies) / elapsed, "p99_ms": pct(0.99), "hub_ms/settlement": hub_ms}


def _servers_cpu(procs: list[psutil.Process]) -> dict[str, float]:
    """CPU seconds of each embedded server, its children included, by what it is: postgres or redis."""
    found = {}
    for proc in procs:
        try:
            name = "postgres" if "postgres" in proc.name() else "redis"
        except psutil.Error:
            continue
        found[name] = cpu_seconds([proc])
    return found


async def _commits(server: Server) -> tuple[float, float]:
    """The node's calls to the books and the settlements they carried (hub/books/group_commit.py), from /metrics."""
    names = ("fireflow_books_commits_total", "fireflow_books_settlements_total")
    found = await server.metrics(*names)
    return found.get((names[0], ()), 0.0), found.get((names[1], ()), 0.0)


# Forty tills over twenty restaurants: each till paced under the frame limit (40 settlements/s at most), two
# to a restaurant (a restaurant's settlements take turns on its day lock), enough to find the node's pace.
SETTLE: Scenario[dict[str, float]] = Scenario(
    sockets=40, procs=1, restaurants=20, options=_options, measure=_settle, hub_env=profile.hub_env, figures=dict
)
