"""Protocol v1: every frame on ``/ws``, the error codes and the close codes.

Frames are the same in both encodings (subprotocols ``fireflow.v1.json`` and
``fireflow.v1.msgpack``); only the bytes differ. ``schema/PROTOCOL.md``
explains the conversation; this module is its contract, and
``schema/protocol.schema.json`` is generated from it.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter

from fireflow.schema.base import StrEnum

__all__ = [
    "CLIENT_FRAME",
    "CLIENT_OPS",
    "PROTOCOL_VERSION",
    "SUBPROTOCOL_JSON",
    "SUBPROTOCOL_MSGPACK",
    "Ack",
    "Auth",
    "ClientFrame",
    "CloseCode",
    "Cmd",
    "CommandId",
    "CommandType",
    "ErrorCode",
    "ErrorFrame",
    "EventFrame",
    "Outcome",
    "Ping",
    "Pong",
    "Position",
    "Positions",
    "RiderFix",
    "ServerFrame",
    "Subscribe",
    "Subscribed",
    "Unsubscribe",
    "Unsubscribed",
    "Welcome",
]

PROTOCOL_VERSION = 1
SUBPROTOCOL_JSON = "fireflow.v1.json"
SUBPROTOCOL_MSGPACK = "fireflow.v1.msgpack"

Channel = Annotated[str, StringConstraints(min_length=1, max_length=80, pattern=r"^[a-z]+(:[A-Za-z0-9_.-]+)?$")]
CommandId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
CommandType = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class ErrorCode(StrEnum):
    """Every error the hub answers with; ``retryable`` says whether the same command may succeed later."""

    BAD_FRAME = "BAD_FRAME"  # not decodable in the socket's encoding, or not an object
    UNKNOWN_OP = "UNKNOWN_OP"
    INVALID_FRAME = "INVALID_FRAME"  # a known op with missing or mistyped fields
    UNAUTHENTICATED = "UNAUTHENTICATED"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"
    TOKEN_REVOKED = "TOKEN_REVOKED"  # the device was revoked, or paired again since this token
    ALREADY_AUTHENTICATED = "ALREADY_AUTHENTICATED"
    UNKNOWN_COMMAND = "UNKNOWN_COMMAND"
    INVALID_COMMAND = "INVALID_COMMAND"  # payload fails its model
    FORBIDDEN = "FORBIDDEN"  # the role may not run this command or read this channel
    WRONG_TENANT = "WRONG_TENANT"  # an id or channel of another restaurant
    UNKNOWN_CHANNEL = "UNKNOWN_CHANNEL"
    NOT_FOUND = "NOT_FOUND"
    VERSION_CONFLICT = "VERSION_CONFLICT"
    INVALID_STATE = "INVALID_STATE"  # the domain refuses the transition
    INVALID_SETUP = "INVALID_SETUP"  # a setup change that would leave the setup broken; details list the problems
    TABLE_UNAVAILABLE = "TABLE_UNAVAILABLE"
    ITEM_UNAVAILABLE = "ITEM_UNAVAILABLE"
    INVALID_MODIFIERS = "INVALID_MODIFIERS"  # a required choice missing, too many, or a group/option the item lacks
    NOTHING_TO_FIRE = "NOTHING_TO_FIRE"
    OUT_OF_STOCK = "OUT_OF_STOCK"  # fewer portions left than asked for
    RECALL_EXPIRED = "RECALL_EXPIRED"  # bumped longer ago than the recall window
    ORDER_LOCKED = "ORDER_LOCKED"  # a payment of this order is being recorded; retry shortly
    ALREADY_SETTLED = "ALREADY_SETTLED"  # another settlement already paid this order
    ITEMS_NOT_READY = "ITEMS_NOT_READY"  # settle anyway with force; details carry guidance
    AMOUNT_MISMATCH = "AMOUNT_MISMATCH"  # tenders pay more than is due, or a group is not paid in full
    PIN_REQUIRED = "PIN_REQUIRED"  # a manager's PIN must approve this (discount over the limit, void, refund)
    WRONG_PIN = "WRONG_PIN"  # no manager has that PIN (audited; repeated failures are rate-limited)
    BILL_LOCKED = "BILL_LOCKED"  # another terminal requested the bill; it unlocks by itself
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"  # same command id, different command
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    RATE_LIMITED = "RATE_LIMITED"
    BUSY = "BUSY"  # contention did not settle; retry with the same id
    UNAVAILABLE = "UNAVAILABLE"  # a backing server is down; retry with the same id
    INTERNAL = "INTERNAL"


class CloseCode(IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002  # sent by the WebSocket layer: a malformed WebSocket frame
    INVALID_DATA = 1007  # sent by the WebSocket layer: a text frame that is not UTF-8
    POLICY_VIOLATION = 1008  # flood of frames
    MESSAGE_TOO_BIG = 1009  # a frame over max_frame (the WebSocket layer's limit, or the hub's)
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012  # the node is shutting down: reconnect and resume
    AUTH_FAILED = 4001  # bad token, or none in time
    TOKEN_EXPIRED = 4002
    TOKEN_REVOKED = 4003  # the device was revoked: pair it again
    SLOW_CONSUMER = 4008  # outgoing queue overflowed: reconnect and resume with since
    HEARTBEAT_TIMEOUT = 4010  # no frame from the peer within the heartbeat window


class Frame(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# client -> hub


class Sent(Frame):
    """A frame a client sends: taken as typed, not coerced (``"since": "5"`` or a msgpack ``id`` in bytes is
    INVALID_FRAME, as PROTOCOL.md says of a mistyped field), as the commands' data are."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Auth(Sent):
    op: Literal["auth"]
    token: Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class Subscribe(Sent):
    """Subscribe to one or more channels.

    Without ``since`` the hub answers with a snapshot. With ``since`` (the last
    offset the client saw, and the ``epoch`` it saw it in) the hub answers with
    exactly the events missed on those channels, or with a snapshot and
    ``recovered: false`` when that history is gone.
    """

    op: Literal["subscribe"]
    channels: Annotated[list[Channel], Field(min_length=1, max_length=64)]
    since: int | None = Field(default=None, ge=0, le=2**63 - 1)
    epoch: str | None = None


class Unsubscribe(Sent):
    op: Literal["unsubscribe"]
    channels: Annotated[list[Channel], Field(min_length=1, max_length=64)]


class Cmd(Sent):
    op: Literal["cmd"]
    id: CommandId
    type: CommandType
    data: dict[str, Any] = Field(default_factory=dict)


class Outcome(Sent):
    """Ask what a command id got, by the id alone: the hub answers with that command's ``ack``, exactly as first
    sent, or ``error`` NOT_FOUND when it never took effect (resending the command with the same id is then safe)."""

    op: Literal["outcome"]
    id: CommandId


class Ping(Sent):
    op: Literal["ping"]
    t: int | None = None


class Pong(Sent):
    op: Literal["pong"]
    t: int | None = None


class Position(Sent):
    """A rider's GPS fix, from RIDER devices only (others: ``error FORBIDDEN``). Fire and forget: no ack.

    Not an event: the hub keeps the latest fix and a short trail per rider and passes them on to
    dispatchers (``positions``); a fix sooner than ``FIREFLOW_POSITION_INTERVAL`` after the last one taken
    from this rider is dropped.
    """

    op: Literal["position"]
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    accuracy: float | None = Field(default=None, ge=0, le=100_000, description="metres (the phone's estimate)")
    at: int = Field(ge=0, le=2**53, description="when the fix was taken, ms since the epoch")


ClientFrame = Annotated[
    Auth | Subscribe | Unsubscribe | Cmd | Outcome | Ping | Pong | Position, Field(discriminator="op")
]
CLIENT_FRAME: TypeAdapter[Auth | Subscribe | Unsubscribe | Cmd | Outcome | Ping | Pong | Position] = TypeAdapter(
    ClientFrame
)
# Every op a client may send, read off the union above so the two cannot disagree.
CLIENT_OPS: frozenset[str] = frozenset(
    get_args(model.model_fields["op"].annotation)[0] for model in get_args(get_args(ClientFrame)[0])
)


# hub -> client


class Welcome(Frame):
    op: Literal["welcome"]
    protocol: int = PROTOCOL_VERSION
    restaurant: str
    role: str
    device: str
    stations: list[str]
    offset: int = Field(description="the restaurant stream's newest offset")
    epoch: str = Field(description="changes when the stream's history is reset")
    heartbeat: float = Field(
        description="seconds between hub pings; a client silent past 2x is closed 4010, "
        "and a client that hears nothing for 2.5x treats the hub as dead"
    )
    max_frame: int


class Subscribed(Frame):
    op: Literal["subscribed"]
    channels: list[str]
    offset: int = Field(description="events up to this offset are in the snapshot or the replay")
    epoch: str
    recovered: bool = Field(description="true when replayed holds every missed event")
    snapshot: dict[str, Any] | None = None
    replayed: list[EventFrame] | None = None


class Unsubscribed(Frame):
    op: Literal["unsubscribed"]
    channels: list[str]


class Ack(Frame):
    op: Literal["ack"]
    id: str
    offset: int = Field(description="offset of the last event the command committed (0: none)")
    result: dict[str, Any]


class ErrorFrame(Frame):
    op: Literal["error"]
    id: str | None = None
    code: ErrorCode
    message: str
    retryable: bool = False
    details: dict[str, Any] | None = None


class RiderFix(Frame):
    """One rider's latest fix as the hub took it."""

    rider: str = Field(description="the rider's device id")
    lat: float
    lon: float
    accuracy: float | None = Field(default=None, description="metres")
    at: int = Field(description="when the fix was taken, ms since the epoch (the rider's clock)")
    speed: float | None = Field(default=None, description="m/s from the rider's previous fix (null: unknown)")


class Positions(Frame):
    """Riders' latest fixes, to sockets subscribed to ``dispatch``: lossy, never replayed, no offset.

    Sent at most every ``FIREFLOW_POSITION_WINDOW`` seconds per restaurant with the newest fix of each rider
    that moved meanwhile; a socket whose outgoing queue is long misses it (the next one brings the news).
    """

    op: Literal["positions"]
    riders: list[RiderFix]


class EventFrame(Frame):
    op: Literal["event"]
    offset: int
    type: str
    channels: list[str]
    ts: int = Field(description="commit time, ms since the epoch")
    data: dict[str, Any]


ServerFrame = Annotated[
    Welcome | Subscribed | Unsubscribed | Ack | ErrorFrame | EventFrame | Positions | Ping | Pong,
    Field(discriminator="op"),
]
