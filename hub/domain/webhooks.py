"""Webhooks' rules without I/O: what a delivery carries, how it is signed and checked, and what state it is in.

A delivery is one event, POSTed as JSON with three headers (Stripe's scheme, so receivers' libraries and habits
apply): ``Fireflow-Delivery`` (the same id on every try and every replay of that event to that subscription: a
receiver keeps the ids it took and drops a second copy), ``Fireflow-Event`` (the event's type) and
``Fireflow-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``. The time is in the signed
string so a captured delivery cannot be played back later than the receiver's tolerance; the body is signed as the
exact bytes sent, so a receiver verifies before parsing.

BadSignature
  raised by ``verify``: the header is missing parts, too old or new, or no ``v1`` matches
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from fireflow.schema.base import StrEnum

__all__ = [
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "FAILING_AFTER",
    "SIGNATURE_HEADER",
    "TOLERANCE_S",
    "BadSignature",
    "Delivery",
    "WebhookState",
    "delivery",
    "delivery_id",
    "private_address",
    "sign",
    "signature_header",
    "signed_string",
    "state_of",
    "takes",
    "verify",
]

DELIVERY_HEADER = "Fireflow-Delivery"
EVENT_HEADER = "Fireflow-Event"
SIGNATURE_HEADER = "Fireflow-Signature"
TOLERANCE_S = 300  # Stripe's default: a receiver's clock may be this far off, and a replayed capture this old
FAILING_AFTER = 3  # failed tries in a row at one event before the subscription shows FAILING (it keeps trying)


class BadSignature(ValueError):
    """A delivery that must not be trusted; the message says why in a line."""


class WebhookState(StrEnum):
    ACTIVE = "ACTIVE"  # delivering, or caught up
    FAILING = "FAILING"  # the receiver has refused or missed FAILING_AFTER tries in a row; still retried at the cap
    REMOVED = "REMOVED"  # unsubscribed: nothing more is sent


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event as it is POSTed: the exact body bytes and the headers but the signature (made at send time)."""

    delivery_id: str
    event_type: str
    body: bytes

    def headers(self, secret: str, t: int) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            DELIVERY_HEADER: self.delivery_id,
            EVENT_HEADER: self.event_type,
            SIGNATURE_HEADER: signature_header(secret, t, self.body),
        }


def delivery_id(webhook_id: int, epoch: str, offset: int) -> str:
    """Stable per subscription and event: a retry or a replay of that event carries it again."""
    return f"wh{webhook_id}-{epoch}-{offset}"


def delivery(
    webhook_id: int, rid: str, epoch: str, offset: int, event_type: str, committed_at_ms: int, data: Any
) -> Delivery:
    """The delivery of one stored event (a row of the events table) to subscription ``webhook_id``."""
    body = orjson.dumps(
        {
            "id": delivery_id(webhook_id, epoch, offset),
            "type": event_type,
            "restaurant": rid,
            "epoch": epoch,
            "offset": offset,
            "committed_at": committed_at_ms,
            "data": data,
        }
    )
    return Delivery(delivery_id(webhook_id, epoch, offset), event_type, body)


def signed_string(t: int, body: bytes) -> bytes:
    return str(t).encode() + b"." + body


def sign(secret: str, t: int, body: bytes) -> str:
    return hmac.new(secret.encode(), signed_string(t, body), hashlib.sha256).hexdigest()


def signature_header(secret: str, t: int, body: bytes) -> str:
    return f"t={t},v1={sign(secret, t, body)}"


def verify(secret: str, header: str, body: bytes, now: int, tolerance: int = TOLERANCE_S) -> int:
    """The signed time of a delivery whose ``Fireflow-Signature`` is right for ``body`` and within ``tolerance``
    seconds of ``now``; raises BadSignature otherwise. Several ``v1`` may be listed (a secret being rotated)."""
    t_raw: str | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            t_raw = value
        elif key == "v1":
            signatures.append(value)
    if t_raw is None or not t_raw.isdigit():
        raise BadSignature("no t=<unix seconds> in the signature header")
    if not signatures:
        raise BadSignature("no v1 signature in the signature header")
    t = int(t_raw)
    if abs(now - t) > tolerance:
        raise BadSignature(f"signed {now - t} s from now, outside the tolerance of {tolerance} s")
    wanted = sign(secret, t, body)
    if not any(hmac.compare_digest(wanted, found) for found in signatures):
        raise BadSignature("no v1 signature matches the body with this secret")
    return t


def takes(events: Sequence[str], event_type: str) -> bool:
    """Whether a subscription to ``events`` (none listed: every type) takes an event of ``event_type``."""
    return not events or event_type in events


def state_of(active: bool, attempts: int) -> WebhookState:
    if not active:
        return WebhookState.REMOVED
    return WebhookState.FAILING if attempts >= FAILING_AFTER else WebhookState.ACTIVE


def private_address(address: str) -> bool:
    """Whether an address a receiver's name resolved to is one a manager's URL must not reach by default: the
    hub's own machine, its network, link-local (a cloud's metadata service), multicast or reserved. A webhook
    URL is typed by a restaurant's manager; on a platform it must not become a way into the platform's network."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified
    )
