"""What a system outside the hub answered a push from the outbox: taken (``Pushed``) or not (``PushFailed``).

One pair for every target (ERPNext, the invoice archive, a webhook receiver), so the outbox's drain decides
retries in one place: ``retryable`` says whether the same push may work later (no answer, 5xx, 429) or a
person must change something first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["PushFailed", "Pushed"]


@dataclass(frozen=True, slots=True)
class Pushed:
    """The document as the remote side holds it: ``already`` when an earlier copy of the push had made it."""

    name: str
    status: int
    response: dict[str, Any]
    already: bool = False


class PushFailed(Exception):
    """The remote side did not take it: ``status`` (0: no answer), why in one line, whether to try again later,
    and what was sent (for the sync log) once the target knows it."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        retryable: bool,
        response: dict[str, Any] | None = None,
        payload: dict[str, Any] | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = retryable
        self.response = response
        self.payload = payload
