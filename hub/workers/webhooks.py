"""Webhook deliveries: every event of a subscription's types, in stream order, signed, until its receiver takes it.

The events come from Postgres's ``events`` table (the durable writer's, each exactly once), never from the live
stream, so a receiver down for a day still gets the day. A subscription's cursor is the stream position (epoch,
offset) of the last event it took or passed over; each due subscription is held with ``FOR UPDATE SKIP LOCKED``
while one of its events is POSTed, so any number of nodes deliver side by side and never two the same
subscription at once. Each send is its own transaction that first checks the cursor is where the batch was read
from (another node, or a ``webhook.replay``, may have moved it): the POST, the cursor moved past the event and the
attempt in ``webhook_deliveries`` commit together. A node killed mid-send leaves the cursor before the event,
which is sent again under the same delivery id; a receiver drops a delivery id it took already.

What is read, and why it is complete: the writers of several nodes store a restaurant's events in batches that
may commit out of order, so an event after the cursor is only read once the restaurant's persisted watermark
(Redis ``Keys.persisted``: everything at or below it is in Postgres) has passed it. A gap below the watermark is
an event that will never be stored (one trimmed while pending): passed over, not waited for.

Failures (no answer, a timeout, anything but 2xx, a redirect too) hold the subscription at that event (head of
line: the order is kept) and try again after ``backoff_s`` (doubling from 2 s to 10 minutes, with jitter). After
``FAILING_AFTER`` tries in a row it shows FAILING (``GET /api/v1/webhooks``, /manager) and keeps trying at the
cap for as long as it stays subscribed: nothing is dropped while the events are in Postgres, and the first 2xx
makes it ACTIVE again and it catches up. A manager removes it, or fixes the receiver and waits (or replays).

The stream's epoch changes only when Redis lost the restaurant's history and offsets start again at 1: a cursor
in an older epoch is delivered to the end of that epoch's stored events, then moves to the current epoch from
its start. Delivery ids carry the epoch, so the new offsets never reuse an old id.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from redis.asyncio import Redis
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from fireflow.hub.domain.webhooks import Delivery, delivery, private_address
from fireflow.hub.live.keys import Keys
from fireflow.hub.live.redis_client import get_many
from fireflow.hub.supervise import reraise_if_cancelled
from fireflow.hub.workers.outbox import backoff_s
from fireflow.schema.tables import EventRow, WebhookDeliveryRow, WebhookRow

__all__ = ["BATCH", "POLL_S", "Sent", "WebhookWorker"]

logger = logging.getLogger(__name__)

BATCH = 50  # events read per turn of one subscription; a turn holds no lock between its sends
POLL_S = 1.0  # a caught-up subscription is looked at again this soon
IDLE_S = 0.5  # nothing due anywhere: the worker looks again this soon
TIMEOUT_S = 10.0  # a receiver's answer to one delivery; longer is a failed try
USER_AGENT = "Fireflow-Webhooks/1"


@dataclass(frozen=True, slots=True)
class Sent:
    """One try: the receiver's HTTP status (None: no answer) and, unless it was a 2xx, why it failed."""

    status: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class _Event:
    epoch: str
    offset: int
    type: str
    committed_at: Any
    data: Any


class WebhookWorker:
    def __init__(
        self, engine: AsyncEngine, redis: Redis, *, private_ok: bool = False, timeout: float = TIMEOUT_S
    ) -> None:
        self.engine = engine
        self.redis = redis
        self.private_ok = private_ok  # FIREFLOW_WEBHOOK_PRIVATE: receivers on the hub's own network allowed
        self.client = httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, headers={"User-Agent": USER_AGENT}, trust_env=False
        )
        self.delivered = 0  # 2xx answers, for tests and logs

    async def run(self) -> None:
        while True:
            reraise_if_cancelled()
            try:
                turns = await self.deliver()
            except Exception:
                reraise_if_cancelled()
                logger.exception("the webhooks' worker failed; it looks again shortly")
                turns = 0
            if not turns:
                await asyncio.sleep(IDLE_S)

    async def close(self) -> None:
        await self.client.aclose()

    async def deliver(self, limit: int = 20) -> int:
        """Up to ``limit`` turns of due subscriptions; how many there were (0: none was due)."""
        turns = 0
        while turns < limit and await self.turn():
            turns += 1
        return turns

    async def turn(self) -> bool:
        """One due subscription: its next events (up to ``BATCH``) sent in order until one fails; False when no
        subscription is due (or every due one is held by another node)."""
        async with self.engine.begin() as conn:
            sub = (
                await conn.execute(
                    select(WebhookRow.__table__)
                    .where(WebhookRow.active.is_(True), WebhookRow.next_at <= func.now())
                    .order_by(WebhookRow.next_at, WebhookRow.id)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
            ).first()
            if sub is None:
                return False
            events, end = await self._next(conn, sub)
            if not events:
                moved = {} if end == (sub.cursor_epoch, sub.cursor_offset) else _cursor(end)
                await conn.execute(
                    update(WebhookRow)
                    .where(WebhookRow.id == sub.id)
                    .values(next_at=func.now() + timedelta(seconds=POLL_S), **moved)
                )
                return True
        at = (sub.cursor_epoch, sub.cursor_offset)
        for event in events:
            if not await self._send(sub.id, at, event):
                return True
            at = (event.epoch, event.offset)
        # all sent: past what was read and not of its types too; a full batch may have more now
        full = len(events) == BATCH
        async with self.engine.begin() as conn:
            await conn.execute(
                update(WebhookRow)
                .where(WebhookRow.id == sub.id, *_at(at))
                .values(next_at=func.now() + timedelta(seconds=0 if full else POLL_S), **({} if full else _cursor(end)))
            )
        return True

    async def _position(self, rid: str) -> tuple[str, int]:
        """The restaurant's stream epoch now and its persisted watermark (``Keys.persisted``)."""
        keys = Keys(rid)
        epoch, persisted = await get_many(self.redis, [keys.epoch, keys.persisted])
        text = epoch.decode() if isinstance(epoch, bytes) else (epoch or "")
        return text, int(persisted or 0)

    async def _next(self, conn: Any, sub: Any) -> tuple[list[_Event], tuple[str, int]]:
        """The subscription's next events of its types, and where its cursor goes once they are sent (the end of
        what was looked through, when the batch was not full)."""
        epoch, persisted = await self._position(sub.restaurant_id)
        current = sub.cursor_epoch == epoch
        query = select(EventRow.epoch, EventRow.offset, EventRow.type, EventRow.committed_at, EventRow.data).where(
            EventRow.restaurant_id == sub.restaurant_id,
            EventRow.epoch == sub.cursor_epoch,
            EventRow.offset > sub.cursor_offset,
        )
        if current:
            query = query.where(EventRow.offset <= persisted)
        if sub.events:
            query = query.where(EventRow.type.in_(list(sub.events)))
        rows = (await conn.execute(query.order_by(EventRow.offset).limit(BATCH))).all()
        events = [_Event(*row) for row in rows]
        if current:
            end = (epoch, max(persisted, sub.cursor_offset))
        elif epoch:  # an older epoch: to the end of what it stored, then the current one from its start
            end = (epoch, 0)
        else:  # Redis holds no epoch for it (yet): wait where it is
            end = (sub.cursor_epoch, events[-1].offset if events else sub.cursor_offset)
        return events, end

    async def _send(self, webhook_id: int, at: tuple[str, int], event: _Event) -> bool:
        """One event POSTed while its subscription is held, if its cursor is still ``at``; whether it was taken."""
        async with self.engine.begin() as conn:
            sub = (
                await conn.execute(
                    select(WebhookRow.__table__)
                    .where(WebhookRow.id == webhook_id, WebhookRow.active.is_(True), *_at(at))
                    .with_for_update(skip_locked=True)
                )
            ).first()
            if sub is None:  # removed, replayed, or moved on by another node meanwhile
                return False
            sending = delivery(
                sub.id,
                sub.restaurant_id,
                event.epoch,
                event.offset,
                event.type,
                int(event.committed_at.timestamp() * 1000),
                event.data,
            )
            sent = await self.post(sub.url, sub.secret, sending)
            await conn.execute(
                insert(WebhookDeliveryRow).values(
                    webhook_id=sub.id,
                    restaurant_id=sub.restaurant_id,
                    delivery_id=sending.delivery_id,
                    event_type=event.type,
                    epoch=event.epoch,
                    offset=event.offset,
                    http_status=sent.status,
                    error=sent.error,
                )
            )
            if sent.error is None:
                await conn.execute(
                    update(WebhookRow)
                    .where(WebhookRow.id == sub.id)
                    .values(
                        **_cursor((event.epoch, event.offset)), attempts=0, last_error=None, delivered_at=func.now()
                    )
                )
                self.delivered += 1
                return True
            attempts = sub.attempts + 1
            await conn.execute(
                update(WebhookRow)
                .where(WebhookRow.id == sub.id)
                .values(
                    attempts=attempts,
                    last_error=sent.error,
                    next_at=func.now() + timedelta(seconds=backoff_s(attempts)),
                )
            )
            logger.warning(
                "webhook %s (%s) did not take %s (try %d): %s",
                sub.id,
                sub.restaurant_id,
                sending.delivery_id,
                attempts,
                sent.error,
            )
            return False

    async def post(self, url: str, secret: str, sending: Delivery) -> Sent:
        """One POST, signed now; only the status is read of the answer (a receiver's body is not kept)."""
        refused = None if self.private_ok else await _private_receiver(url)
        if refused is not None:
            return Sent(None, refused)
        try:
            headers = sending.headers(secret, int(time.time()))
            async with self.client.stream("POST", url, content=sending.body, headers=headers) as response:
                status = response.status_code
        except httpx.HTTPError as exc:
            return Sent(None, f"no answer: {type(exc).__name__} {exc}"[:1000].rstrip())
        if 200 <= status < 300:
            return Sent(status, None)
        return Sent(status, f"answered HTTP {status}")


async def _private_receiver(url: str) -> str | None:
    """Why ``url`` is not sent to, when its host is (or resolves to) a private address; None when it may be.

    Checked before each POST, so a name that later moves onto a private address is caught at its next delivery.
    The client resolves the name again to connect: a resolver that answers differently within that moment (DNS
    rebinding) is not stopped here; a platform that must stop it too sends webhooks through an egress proxy."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"no answer: {host} could not be resolved ({exc})"
    for *_, address in found:
        if private_address(str(address[0])):
            return (
                f"not sent: {host} is the private address {address[0]} (this machine, its network or link-local);"
                " FIREFLOW_WEBHOOK_PRIVATE=1 allows receivers there"
            )
    return None


def _cursor(at: tuple[str, int]) -> dict[str, Any]:
    return {"cursor_epoch": at[0], "cursor_offset": at[1]}


def _at(at: tuple[str, int]) -> tuple[Any, ...]:
    return (WebhookRow.cursor_epoch == at[0], WebhookRow.cursor_offset == at[1])
