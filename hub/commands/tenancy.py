"""A device reaching for another restaurant's data: logged where it happened and written to the audit log.

Every transport and the bus refuse it the same way (WRONG_TENANT); this is
the one function that records it. The log line names the device, its
restaurant and role and what it tried; the audit row (``TENANT_VIOLATION``)
is queued for Postgres and never delays the refusal (``fireflow.hub.books.audit``).
"""

from __future__ import annotations

import logging
from typing import Any

from fireflow.hub.books.audit import AuditTrail
from fireflow.hub.books.books import AuditNote
from fireflow.hub.domain.actors import Actor

__all__ = ["TENANT_VIOLATION", "tenant_violation"]

TENANT_VIOLATION = "TENANT_VIOLATION"


def tenant_violation(
    audit: AuditTrail | None,
    log: logging.Logger,
    actor: Actor,
    kind: str,
    attempted: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Record that ``actor`` tried ``attempted`` (a ``kind``: command, read, channel) on another restaurant's data.

    ``log`` is the caller's logger, so the line says where it was refused.
    """
    log.warning(
        "tenant violation: restaurant=%s device=%s role=%s %s=%s",
        actor.restaurant_id, actor.device_id, actor.role.value, kind, attempted,
    )  # fmt: skip
    if audit is not None:
        note = AuditNote(TENANT_VIOLATION, kind, attempted[:96], details or {})
        audit.record(actor.restaurant_id, actor.device_id, actor.role.value, note)
