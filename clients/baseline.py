"""A bare websockets broadcast server that speaks just enough of protocol v1: the Python ceiling.

``fireflow bench --baseline`` runs the same load against this and the hub and
prints the ratios, so the hub's figures read as "how far from what Python can
do at all on this machine" rather than as absolute numbers. There is
deliberately nothing here but rooms: no Redis, no validation, no durable
state, no token check (the token's payload is read, not verified). Orders
exist only as the list of their items, so that a fire can go to the right
station rooms; each event is encoded once per room and handed to
``websockets.broadcast``, padded to the size of the hub's frames.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import signal
import sys
import time
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection, broadcast, serve

from fireflow.clients.loadgen import run_loop

__all__ = ["Baseline", "main"]

SUBPROTOCOL = "fireflow.v1.json"
STATIONS = {"burger": "grill", "fries": "fry", "caesar": "cold", "mojito": "bar"}


class Baseline:
    def __init__(self, frame_size: int) -> None:
        self.frame_size = frame_size
        self.rooms: dict[tuple[str, str], set[ServerConnection]] = {}
        self.orders: dict[str, list[str]] = {}
        self.offsets: dict[str, int] = {}
        self.numbers = itertools.count(1)

    async def handler(self, ws: ServerConnection) -> None:
        try:
            first = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
            parts = str(first["token"]).split(".")
            body = parts[1] if len(parts) == 3 else parts[0]  # a JWT's claims, or the older format's
            claims = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            rid = str(claims.get("rid") or claims["r"])
        except Exception:
            await ws.close(4001, "authenticate first")
            return
        await ws.send(
            orjson.dumps(
                {"op": "welcome", "protocol": 1, "restaurant": rid, "offset": self.offsets.get(rid, 0), "epoch": "b"}
            ).decode()
        )
        joined: list[tuple[str, str]] = []
        try:
            async for raw in ws:
                frame = orjson.loads(raw)
                op = frame.get("op")
                if op == "cmd":
                    await ws.send(self.command(rid, frame))
                elif op == "subscribe":
                    for channel in frame["channels"]:
                        room = (rid, channel)
                        self.rooms.setdefault(room, set()).add(ws)
                        joined.append(room)
                    reply = {"op": "subscribed", "channels": frame["channels"], "offset": self.offsets.get(rid, 0)}
                    await ws.send(orjson.dumps(reply).decode())
                elif op == "ping":
                    await ws.send('{"op":"pong"}')
        except Exception:
            pass
        finally:
            for room in joined:
                members = self.rooms.get(room)
                if members is not None:
                    members.discard(ws)

    def command(self, rid: str, frame: dict[str, Any]) -> str:
        kind, data, result = frame.get("type"), frame.get("data") or {}, {}
        if kind == "order.open":
            order_id = f"{rid}.o{next(self.numbers):x}"
            self.orders[order_id] = []
            result = {"order": {"id": order_id}}
        elif kind == "order.add_item":
            self.orders.setdefault(data["order_id"], []).append(data["menu_item_id"])
        elif kind == "order.fire":
            self.fire(rid, data["order_id"])
        return orjson.dumps({"op": "ack", "id": frame.get("id"), "offset": 0, "result": result}).decode()

    def fire(self, rid: str, order_id: str) -> None:
        items = self.orders.pop(order_id, [])
        stations = sorted({STATIONS.get(i, "grill") for i in items})
        now = int(time.time() * 1000)
        for station in stations:
            self.publish(
                rid, f"kitchen:{station}", order_id, station, [i for i in items if STATIONS.get(i) == station], now
            )
        self.publish(rid, "expo", order_id, "*", items, now)

    def publish(self, rid: str, channel: str, order_id: str, station: str, items: list[str], now: int) -> None:
        offset = self.offsets[rid] = self.offsets.get(rid, 0) + 1
        members = self.rooms.get((rid, channel))
        if not members:
            return
        ticket = {"order_id": order_id, "station": station, "items": items, "notes": ""}
        frame = {"op": "event", "offset": offset, "type": "NEW_KITCHEN_ORDER", "channels": [channel], "ts": now}
        frame["data"] = {"ticket": ticket}
        text = orjson.dumps(frame).decode()
        if len(text) < self.frame_size:
            ticket["notes"] = "x" * (self.frame_size - len(text))
            text = orjson.dumps(frame).decode()
        broadcast(members, text)


async def _serve(host: str, port: int, frame_size: int) -> None:
    baseline = Baseline(frame_size)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with serve(
        baseline.handler,
        host,
        port,
        subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
        compression=None,
        max_size=65536,
        backlog=4096,
    ):
        print(f"baseline listening on {host}:{port}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fireflow.clients.baseline", description="bare websockets broadcast server (bench baseline)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--frame-size", type=int, default=600, help="pad event frames to about this many bytes")
    args = parser.parse_args(argv)
    run_loop(_serve(args.host, args.port, args.frame_size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
