"""The few protocol constants the SDK needs, kept here so the SDK installs and runs without the hub.

They are the hub's own (``fireflow.schema.protocol``); ``tests/test_sdk.py`` fails if the two ever differ.
"""

from __future__ import annotations

__all__ = ["CLOSE_AUTH_FAILED", "CLOSE_TOKEN_EXPIRED", "PROTOCOL_VERSION", "SUBPROTOCOL_JSON", "SUBPROTOCOL_MSGPACK"]

PROTOCOL_VERSION = 1
SUBPROTOCOL_JSON = "fireflow.v1.json"
SUBPROTOCOL_MSGPACK = "fireflow.v1.msgpack"
CLOSE_AUTH_FAILED = 4001  # the token is refused: a new link cannot help
CLOSE_TOKEN_EXPIRED = 4002
