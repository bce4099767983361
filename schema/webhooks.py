"""Webhooks' command payloads: a URL subscribed to a restaurant's events, unsubscribed, or replayed from an offset.

What a delivery carries and how it is signed is in ``hub/domain/webhooks.py`` and "Webhooks" in ``PROTOCOL.md``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from fireflow.schema.commands import Command
from fireflow.schema.events import EVENTS

__all__ = ["MAX_URL", "ReplayWebhook", "SubscribeWebhook", "UnsubscribeWebhook"]

MAX_URL = 2000


def _whole_number(value: Any) -> Any:
    """An id from a REST path arrives as text ("12"): taken as the number it spells, anything else as sent."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
        return int(value)
    return value


class SubscribeWebhook(Command):
    """Subscribe a URL to this restaurant's events (all, or the types listed); the answer holds its id and the
    signing secret, shown this once. Deliveries start with the events committed after it."""

    url: str = Field(min_length=1, max_length=MAX_URL, description="where each event is POSTed: http:// or https://")
    events: list[str] = Field(
        default_factory=list, max_length=len(EVENTS), description="event types to deliver; empty: every type"
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - a port that is not a number raises here
        except ValueError:
            raise ValueError("not a URL") from None
        if parts.scheme not in ("http", "https"):
            raise ValueError("the URL must start with http:// or https://")
        if not parts.hostname:
            raise ValueError("the URL has no host")
        if parts.username is not None or parts.password is not None:
            raise ValueError("no user or password in the URL: each delivery is signed instead")
        if parts.fragment or any(c.isspace() for c in url):
            raise ValueError("no spaces or #fragment in the URL")
        return url

    @field_validator("events")
    @classmethod
    def _known_events(cls, events: list[str]) -> list[str]:
        unknown = sorted({e for e in events if e not in EVENTS})
        if unknown:
            raise ValueError(f"unknown event types: {', '.join(unknown)[:300]} (the known ones are in PROTOCOL.md)")
        return sorted(set(events))


class UnsubscribeWebhook(Command):
    """Stop a webhook: nothing more is delivered to it (its delivery log is kept)."""

    webhook_id: int = Field(ge=1, description="its id, as GET /api/v1/webhooks lists it")

    _id = field_validator("webhook_id", mode="before")(_whole_number)


class ReplayWebhook(Command):
    """Deliver a webhook's events again from an offset of the restaurant's stream, each with its first delivery
    id (a receiver drops what it took already); the events after that are delivered as they come, as before."""

    webhook_id: int = Field(ge=1, description="its id, as GET /api/v1/webhooks lists it")
    from_offset: int = Field(ge=1, description="the first offset delivered again; at most one past its cursor")

    _id = field_validator("webhook_id", mode="before")(_whole_number)
