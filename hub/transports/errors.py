"""Failures, translated to the wire once for both transports.

A refusal (``DomainError``) goes out as it is. A backing server that is down
(Redis, Postgres, or the network to them) is UNAVAILABLE and retryable: the
same command with the same id is safe to send again. Anything else is a bug:
logged with its traceback here, answered INTERNAL with no details to the peer.
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from fireflow.hub.domain.errors import DomainError
from fireflow.hub.live.store import ReplicaTimeout
from fireflow.schema.protocol import ErrorCode

__all__ = ["to_wire"]

logger = logging.getLogger(__name__)


def to_wire(exc: Exception, what: str) -> DomainError:
    """The error to answer for ``exc``, raised while running ``what`` (a command type or a path)."""
    if isinstance(exc, DomainError):
        return exc
    if isinstance(exc, ReplicaTimeout):  # the command is on the master, not yet safe from a failover
        logger.warning("%s not acknowledged: %s", what, exc)
        return DomainError(
            ErrorCode.UNAVAILABLE, "no Redis replica confirmed the command in time; retry with the same id"
        )
    if isinstance(exc, RedisError | OSError | SQLAlchemyError):
        logger.warning("%s failed on a backing server: %s", what, exc)
        return DomainError(ErrorCode.UNAVAILABLE, "live state or books unavailable; retry with the same id")
    logger.error("%s failed", what, exc_info=exc)
    return DomainError(ErrorCode.INTERNAL, "internal error")
