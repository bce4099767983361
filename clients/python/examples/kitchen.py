"""A kitchen screen in a terminal: connect, subscribe to one station, print each ticket and acknowledge it.

    pip install ./clients/python      # the SDK, fireflow-client
    KITCHEN_TOKEN=<kitchen:grill token> python clients/python/examples/kitchen.py [--station grill] [--seconds 60]

``FIREFLOW_URL`` points it at a hub (default ws://127.0.0.1:8000/ws). With ``resume=True`` it rides out a
restarted hub or a dropped link by itself: it reconnects, resubscribes from where it was, and no ticket
is printed twice or missed. Acknowledging a ticket tells expo it was seen (an unacknowledged one raises an
alert); an acknowledgement asked for while the link is down waits in the offline queue and goes when it is back.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from typing import Any

from fireflow_client import HubClient


def describe(ticket: dict[str, Any]) -> str:
    lines = ", ".join(f"{line['quantity']} x {line['name']}" for line in ticket["lines"])
    return f"ticket #{ticket['order_number']} ({ticket['order_id']}) at {ticket['station']}: {lines}"


async def screen(url: str, token: str, station: str | None, seconds: float | None) -> None:
    hub = await HubClient.connect(url, token, resume=True)
    try:
        station = station or hub.welcome["stations"][0]
        await hub.subscribe(f"kitchen:{station}")
        print(f"connected to {hub.welcome['restaurant']} as {hub.welcome['device']}; kitchen:{station}", flush=True)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while True:
                    event = await hub.events.get()
                    if event["type"] != "NEW_KITCHEN_ORDER":
                        continue
                    ticket = event["data"]["ticket"]
                    print(describe(ticket), flush=True)
                    ack = await hub.command(
                        "ticket.ack", {"order_id": ticket["order_id"], "ticket_ids": [ticket["id"]]}, timeout=None
                    )
                    print(f"acknowledged {', '.join(ack['result']['acked'])}", flush=True)
    finally:
        await hub.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="print a kitchen station's tickets as they arrive")
    parser.add_argument("--station", help="the station (default: the token's first)")
    parser.add_argument("--seconds", type=float, help="stop after this long (default: run until interrupted)")
    args = parser.parse_args()
    url = os.environ.get("FIREFLOW_URL", "ws://127.0.0.1:8000/ws")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(screen(url, os.environ["KITCHEN_TOKEN"], args.station, args.seconds))


if __name__ == "__main__":
    main()
