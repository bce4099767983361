"""The Python async client SDK for Fireflow Hub: ``fireflow-client`` (``fireflow_client``), and ``fireflow.clients.python`` in the hub.

The same files under both names (``clients/python/pyproject.toml`` maps ``fireflow_client`` to this
folder), so every import here is relative: the SDK never imports the hub.
"""

from .client import DEAD_AFTER, QUEUE_LIMIT, HubClient, HubError, QueueFull
from .wire import PROTOCOL_VERSION

__all__ = ["DEAD_AFTER", "PROTOCOL_VERSION", "QUEUE_LIMIT", "HubClient", "HubError", "QueueFull", "__version__"]

__version__ = "1.0.0"  # the major version is the protocol's
