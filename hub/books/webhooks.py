"""Webhook subscriptions in Postgres, as the manager's commands change them and the API reads them.

Delivering is ``hub/workers/webhooks.py``'s; this is the subscriptions' own side. A subscription is keyed by the
command that made it as well as by its id, so a copy of ``webhook.subscribe`` that outlived its stored answer
still finds the first one's row (and secret) instead of adding a twin. Another restaurant's id is not found.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from fireflow.hub.domain.errors import DomainError
from fireflow.hub.domain.webhooks import state_of
from fireflow.schema.events import EVENTS
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.tables import WebhookDeliveryRow, WebhookRow

__all__ = ["DELIVERIES_PAGE", "deliveries", "new_secret", "replay", "subscribe", "unsubscribe", "view", "webhooks"]

DELIVERIES_PAGE = 50
MAX_PER_RESTAURANT = 20  # each is a delivery loop the nodes run; a restaurant needing more has a fan-out of its own


def new_secret() -> str:
    return "whsec_" + secrets.token_hex(24)


def _ms(at: Any) -> int | None:
    return int(at.timestamp() * 1000) if at is not None else None


def view(row: Any) -> dict[str, Any]:
    """A subscription as the API and /manager show it: never its secret (shown once, when it was made)."""
    return {
        "id": row.id,
        "url": row.url,
        "events": list(row.events),
        "state": state_of(row.active, row.attempts).value,
        "cursor": {"epoch": row.cursor_epoch, "offset": row.cursor_offset},
        "attempts": row.attempts,
        "next_at": _ms(row.next_at) if row.active and row.attempts else None,
        "last_error": row.last_error,
        "delivered_at": _ms(row.delivered_at),
        "created_at": _ms(row.created_at),
        "created_by": row.created_by,
    }


async def subscribe(
    engine: AsyncEngine, rid: str, command_id: str, by: str, url: str, events: list[str], cursor: tuple[str, int]
) -> dict[str, Any]:
    """A new subscription from ``cursor`` (the stream's head now) with a new secret: its view and the secret.
    The same command id again answers the same subscription; another command under that id is refused."""
    async with engine.begin() as conn:
        found = (
            await conn.execute(
                select(WebhookRow.__table__).where(WebhookRow.restaurant_id == rid, WebhookRow.command_id == command_id)
            )
        ).first()
        if found is None:
            count = (
                await conn.execute(
                    select(func.count()).where(WebhookRow.restaurant_id == rid, WebhookRow.active.is_(True))
                )
            ).scalar_one()
            if count >= MAX_PER_RESTAURANT:
                raise DomainError(
                    ErrorCode.INVALID_STATE,
                    f"this restaurant has {MAX_PER_RESTAURANT} webhooks already; remove one first",
                )
            made = insert(WebhookRow).values(
                restaurant_id=rid,
                command_id=command_id,
                url=url,
                events=events,
                secret=new_secret(),
                cursor_epoch=cursor[0],
                cursor_offset=cursor[1],
                created_by=by,
            )
            await conn.execute(made.on_conflict_do_nothing(constraint="uq_webhooks_command"))
            found = (
                await conn.execute(
                    select(WebhookRow.__table__).where(
                        WebhookRow.restaurant_id == rid, WebhookRow.command_id == command_id
                    )
                )
            ).one()
    if (found.url, list(found.events)) != (url, events):
        raise DomainError(ErrorCode.IDEMPOTENCY_KEY_REUSED, "this command id was used for another command")
    return {"webhook": view(found), "secret": found.secret}


async def _mine(engine: AsyncEngine, rid: str, webhook_id: int) -> Any:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(WebhookRow.__table__).where(WebhookRow.restaurant_id == rid, WebhookRow.id == webhook_id)
            )
        ).first()
    if row is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no webhook {webhook_id} in this restaurant")
    return row


async def unsubscribe(engine: AsyncEngine, rid: str, webhook_id: int) -> dict[str, Any]:
    """Stop it (kept, with its log, as REMOVED); one removed already answers the same."""
    async with engine.begin() as conn:
        await conn.execute(
            update(WebhookRow)
            .where(WebhookRow.restaurant_id == rid, WebhookRow.id == webhook_id, WebhookRow.active.is_(True))
            .values(active=False, removed_at=func.now())
        )
    return {"webhook": view(await _mine(engine, rid, webhook_id))}


async def replay(engine: AsyncEngine, rid: str, webhook_id: int, from_offset: int) -> dict[str, Any]:
    """Its cursor back to just before ``from_offset`` (in the cursor's epoch), due now: the worker delivers from
    there again, each event under the delivery id it had. The row lock waits for a delivery under way."""
    async with engine.begin() as conn:
        row = (
            await conn.execute(
                select(WebhookRow.__table__)
                .where(WebhookRow.restaurant_id == rid, WebhookRow.id == webhook_id)
                .with_for_update()
            )
        ).first()
        if row is None:
            raise DomainError(ErrorCode.NOT_FOUND, f"no webhook {webhook_id} in this restaurant")
        if not row.active:
            raise DomainError(ErrorCode.INVALID_STATE, f"webhook {webhook_id} was removed; subscribe again")
        if from_offset > row.cursor_offset + 1:
            raise DomainError(
                ErrorCode.INVALID_STATE,
                f"offset {from_offset} is past what webhook {webhook_id} was given (up to {row.cursor_offset}): "
                "nothing to replay from there",
                {"cursor": {"epoch": row.cursor_epoch, "offset": row.cursor_offset}},
            )
        await conn.execute(
            update(WebhookRow)
            .where(WebhookRow.id == webhook_id)
            .values(cursor_offset=from_offset - 1, attempts=0, last_error=None, next_at=func.now())
        )
    return {"webhook": view(await _mine(engine, rid, webhook_id)), "from_offset": from_offset}


async def webhooks(engine: AsyncEngine, rid: str) -> dict[str, Any]:
    """The restaurant's subscriptions (removed ones left out), oldest first, and every event type one may take."""
    query = (
        select(WebhookRow.__table__)
        .where(WebhookRow.restaurant_id == rid, WebhookRow.active.is_(True))
        .order_by(WebhookRow.id)
    )
    async with engine.connect() as conn:
        found = [view(row) for row in (await conn.execute(query)).all()]
    return {"webhooks": found, "event_types": sorted(EVENTS)}


async def deliveries(engine: AsyncEngine, rid: str, webhook_id: int) -> dict[str, Any]:
    """One subscription and its latest delivery attempts (``DELIVERIES_PAGE``), newest first."""
    row = await _mine(engine, rid, webhook_id)
    query = (
        select(WebhookDeliveryRow.__table__)
        .where(WebhookDeliveryRow.webhook_id == webhook_id)
        .order_by(WebhookDeliveryRow.id.desc())
        .limit(DELIVERIES_PAGE)
    )
    async with engine.connect() as conn:
        found = (await conn.execute(query)).all()
    return {
        "webhook": view(row),
        "deliveries": [
            {
                "delivery_id": d.delivery_id,
                "event_type": d.event_type,
                "epoch": d.epoch,
                "offset": d.offset,
                "http_status": d.http_status,
                "ok": d.error is None,
                "error": d.error,
                "at": _ms(d.at),
            }
            for d in found
        ],
    }
