"""Failures are translated to the wire in one place, the same for both transports."""

from __future__ import annotations

import logging

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.exc import OperationalError

from fireflow.hub.domain.errors import DomainError
from fireflow.hub.transports.errors import to_wire
from fireflow.schema.protocol import ErrorCode


def test_a_refusal_goes_out_as_it_is() -> None:
    """A DomainError is answered with its own code, message and details."""
    refusal = DomainError(ErrorCode.NOTHING_TO_FIRE, "nothing new", {"order_id": "x"})
    assert to_wire(refusal, "order.fire") is refusal


@pytest.mark.parametrize(
    "exc", [RedisConnectionError("gone"), OSError("reset"), OperationalError("SELECT 1", {}, Exception("down"))]
)
def test_a_backing_server_down_is_unavailable_and_retryable(exc: Exception) -> None:
    """Redis, Postgres or the network failing answers UNAVAILABLE, retryable, naming no internals."""
    error = to_wire(exc, "order.pay")
    assert (error.code, error.retryable) == (ErrorCode.UNAVAILABLE, True)
    assert "gone" not in error.message and "down" not in error.message


def test_a_bug_is_internal_and_logged_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    """Any other exception answers INTERNAL with no details, and the traceback goes to the log."""
    caplog.set_level(logging.ERROR, logger="fireflow.hub.transports.errors")
    try:
        raise KeyError("secret-internal-name")
    except KeyError as exc:
        error = to_wire(exc, "order.open")
    assert (error.code, error.retryable, error.details) == (ErrorCode.INTERNAL, False, None)
    assert "secret" not in error.message
    (record,) = caplog.records
    assert record.exc_info is not None and "order.open" in record.getMessage()
