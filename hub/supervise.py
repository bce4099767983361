"""Helpers for the node's long-running loops (feeds, wake-ups, the durable writer)."""

from __future__ import annotations

import asyncio

__all__ = ["reraise_if_cancelled"]


def reraise_if_cancelled() -> None:
    """Call at the top of a long-running loop and in its ``except Exception``.

    Client libraries can swallow a task's cancellation or turn it into a ConnectionError;
    a retry loop that carried on regardless would never stop, and shutdown would hang.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
