"""Signed device tokens: restaurant, role, stations, device and expiry, HMAC-SHA256.

A token is ``base64url(json).base64url(mac)``; the hub trusts nothing in a
connection but what a valid token says, so the restaurant always comes from it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import orjson

from fireflow.hub.domain.actors import Actor, Role
from fireflow.hub.domain.errors import DomainError
from fireflow.schema.protocol import ErrorCode

__all__ = ["mint", "verify"]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, body: str) -> str:
    return _b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())


def mint(
    secret: str,
    restaurant_id: str,
    role: Role | str,
    *,
    device: str,
    stations: tuple[str, ...] | list[str] = (),
    ttl: float = 30 * 86_400,
    now: float | None = None,
) -> str:
    issued = time.time() if now is None else now
    payload = {"r": restaurant_id, "role": str(Role(role)), "d": device, "st": list(stations), "exp": int(issued + ttl)}
    body = _b64(orjson.dumps(payload))
    return f"{body}.{_mac(secret, body)}"


def verify(secret: str, token: str, now: float | None = None) -> Actor:
    body, dot, mac = token.partition(".")
    if not dot or not token.isascii() or not hmac.compare_digest(_mac(secret, body), mac):
        raise DomainError(ErrorCode.UNAUTHENTICATED, "invalid token")
    try:
        payload = orjson.loads(_unb64(body))
        actor = Actor(
            restaurant_id=str(payload["r"]),
            role=Role(payload["role"]),
            device_id=str(payload["d"]),
            stations=tuple(str(s) for s in payload.get("st", ())),
        )
        expires = float(payload["exp"])
    except (ValueError, KeyError, TypeError):
        raise DomainError(ErrorCode.UNAUTHENTICATED, "malformed token") from None
    if (time.time() if now is None else now) >= expires:
        raise DomainError(ErrorCode.TOKEN_EXPIRED, "token expired")
    return actor
