"""Device tokens: JSON Web Tokens (HS256) naming restaurant, role, stations, device, generation and expiry.

A token's header carries a key id (``kid``: 16 hex digits derived from its
signing secret), so the secret can be rotated without logging
every device out: ``FIREFLOW_SECRET`` signs new tokens, and tokens signed by a
secret listed in ``FIREFLOW_PREVIOUS_SECRETS`` still verify until they expire.
The hub trusts nothing in a connection but what a valid token says, so the
restaurant always comes from it. ``gen`` is the device's token generation: a
revoked device's older tokens are refused (``fireflow.hub.live.devices``).

Tokens of the format before JWT (``base64url(json).base64url(mac)``) still
verify, so devices set up before an upgrade keep working until they expire.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Sequence
from dataclasses import dataclass

import jwt
import orjson

from fireflow.hub.domain.actors import Actor, Role
from fireflow.hub.domain.errors import DomainError
from fireflow.schema.protocol import ErrorCode

__all__ = ["ISSUER", "Claims", "key_id", "mint", "read", "verify"]

ISSUER = "fireflow"
_ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class Claims:
    """What a valid token says: who is acting, and which of the device's token generations it belongs to."""

    actor: Actor
    generation: int
    expires: int


def key_id(secret: str) -> str:
    return hashlib.sha256(b"fireflow-kid:" + secret.encode()).hexdigest()[:16]


def _key(secret: str) -> bytes:
    """The HMAC key of a secret: 32 bytes whatever the secret's length (RFC 7518 asks for at least that)."""
    return hashlib.sha256(b"fireflow-token:" + secret.encode()).digest()


def mint(
    secret: str,
    restaurant_id: str,
    role: Role | str,
    *,
    device: str,
    stations: tuple[str, ...] | list[str] = (),
    ttl: float = 30 * 86_400,
    now: float | None = None,
    generation: int = 0,
) -> str:
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": ISSUER,
        "sub": device,
        "rid": restaurant_id,
        "role": str(Role(role)),
        "st": list(stations),
        "gen": generation,
        "iat": issued,
        "exp": int(issued + ttl),
    }
    return jwt.encode(claims, _key(secret), algorithm=_ALGORITHM, headers={"kid": key_id(secret)})


def read(secrets: Sequence[str], token: str, now: float | None = None) -> Claims:
    """The claims of ``token`` if one of ``secrets`` (the current one first) signed it and it has not expired."""
    if not token.isascii():
        raise DomainError(ErrorCode.UNAUTHENTICATED, "invalid token")
    if token.count(".") == 1:
        return _read_legacy(secrets, token, now)
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.InvalidTokenError:
        raise DomainError(ErrorCode.UNAUTHENTICATED, "malformed token") from None
    secret = next((s for s in secrets if s and key_id(s) == kid), None)
    if secret is None:
        raise DomainError(ErrorCode.UNAUTHENTICATED, "invalid token (signed with a key this hub does not have)")
    at = time.time() if now is None else now
    try:
        claims = jwt.decode(
            token,
            _key(secret),
            algorithms=[_ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "sub", "iss"], "verify_exp": False},
        )
        actor = Actor(
            restaurant_id=str(claims["rid"]),
            role=Role(claims["role"]),
            device_id=str(claims["sub"]),
            stations=tuple(str(s) for s in claims.get("st", ())),
        )
        found = Claims(actor, int(claims.get("gen", 0)), int(claims["exp"]))
    except jwt.InvalidSignatureError:
        raise DomainError(ErrorCode.UNAUTHENTICATED, "invalid token") from None
    except (jwt.InvalidTokenError, ValueError, KeyError, TypeError):
        raise DomainError(ErrorCode.UNAUTHENTICATED, "malformed token") from None
    if at >= found.expires:
        raise DomainError(ErrorCode.TOKEN_EXPIRED, "token expired")
    return found


def verify(secret: str, token: str, now: float | None = None) -> Actor:
    """The actor of a token signed with ``secret`` (one key: the CLI, the demo and the tests)."""
    return read([secret], token, now).actor


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _legacy_mac(secret: str, body: str) -> str:
    digest = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _read_legacy(secrets: Sequence[str], token: str, now: float | None) -> Claims:
    body, _, mac = token.partition(".")
    if not any(s and hmac.compare_digest(_legacy_mac(s, body), mac) for s in secrets):
        raise DomainError(ErrorCode.UNAUTHENTICATED, "invalid token")
    try:
        payload = orjson.loads(_unb64(body))
        actor = Actor(
            restaurant_id=str(payload["r"]),
            role=Role(payload["role"]),
            device_id=str(payload["d"]),
            stations=tuple(str(s) for s in payload.get("st", ())),
        )
        expires = int(payload["exp"])
    except (ValueError, KeyError, TypeError):
        raise DomainError(ErrorCode.UNAUTHENTICATED, "malformed token") from None
    if (time.time() if now is None else now) >= expires:
        raise DomainError(ErrorCode.TOKEN_EXPIRED, "token expired")
    return Claims(actor, 0, expires)
