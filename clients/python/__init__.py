"""The Python async client SDK for Fireflow Hub."""

from fireflow.clients.python.client import HubClient, HubError

__all__ = ["HubClient", "HubError"]
