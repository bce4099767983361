"""The one exception the domain raises: a refusal with a protocol error code.

DomainError
  carries ErrorCode, a message for people, and details for programs
"""

from __future__ import annotations

from typing import Any

from fireflow.schema.protocol import ErrorCode

__all__ = ["DomainError"]


class DomainError(Exception):
    def __init__(
        self, code: ErrorCode, message: str, details: dict[str, Any] | None = None, *, retryable: bool | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self._retryable = retryable

    @property
    def retryable(self) -> bool:
        """Whether sending the same again may succeed. By code, but for RATE_LIMITED, whose limits differ: a request
        over the rate is retryable after its wait, a wrong PIN's limit is not (the caller says which)."""
        if self._retryable is not None:
            return self._retryable
        return self.code in (ErrorCode.BUSY, ErrorCode.UNAVAILABLE, ErrorCode.ORDER_LOCKED)
