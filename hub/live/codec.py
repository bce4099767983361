"""The two wire encodings behind one small interface, plus the shared event encoder.

Frames are plain dicts; a codec turns them into the ASGI message to send and
back. Events are encoded once per encoding for all recipients
(``EncodedEvent``), with the JSON form spliced from the bytes already in the
stream rather than decoded and encoded again.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

import msgpack
import orjson

from fireflow.hub.domain.privacy import may_hold_customer, redact
from fireflow.hub.live.store import StreamEntry
from fireflow.schema.protocol import SUBPROTOCOL_JSON, SUBPROTOCOL_MSGPACK

__all__ = ["CODECS", "Codec", "DecodeError", "EncodedEvent", "JsonCodec", "MsgpackCodec", "ws_frame"]

Message = dict[str, Any]


class DecodeError(ValueError):
    pass


class Codec(Protocol):
    name: str
    binary: bool

    def encode(self, frame: dict[str, Any]) -> Message: ...

    def decode(self, message: Message) -> Any: ...


class JsonCodec:
    name = SUBPROTOCOL_JSON
    binary = False

    def encode(self, frame: dict[str, Any]) -> Message:
        return {"type": "websocket.send", "text": orjson.dumps(frame).decode()}

    def decode(self, message: Message) -> Any:
        raw = message.get("text")
        if raw is None:
            raw = message.get("bytes")
        try:
            return orjson.loads(raw)  # type: ignore[arg-type]
        except (orjson.JSONDecodeError, TypeError) as exc:
            raise DecodeError(f"not JSON: {exc}") from None


class MsgpackCodec:
    name = SUBPROTOCOL_MSGPACK
    binary = True

    def encode(self, frame: dict[str, Any]) -> Message:
        return {"type": "websocket.send", "bytes": msgpack.packb(frame, default=_parsed)}

    def decode(self, message: Message) -> Any:
        raw = message.get("bytes")
        if raw is None:
            raise DecodeError("msgpack frames are binary")
        try:
            return msgpack.unpackb(raw, strict_map_key=True)
        except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
            raise DecodeError(f"not msgpack: {str(exc) or 'a byte no msgpack value starts with'}") from None


def _parsed(value: Any) -> Any:
    """msgpack's hook for what it cannot pack: JSON already encoded (``orjson.Fragment``, a stored
    result) is packed as its parse, so both codecs carry the same values."""
    if isinstance(value, orjson.Fragment):
        return orjson.loads(orjson.dumps(value))  # (its bytes are not exposed otherwise)
    raise TypeError(f"cannot pack {type(value).__name__}")


CODECS: dict[str, Codec] = {SUBPROTOCOL_JSON: JsonCodec(), SUBPROTOCOL_MSGPACK: MsgpackCodec()}


class EncodedEvent:
    """One stream entry as an event frame, encoded at most once per encoding, and once more per encoding
    with delivery customers' details blanked (``fireflow.hub.domain.privacy``) if a reader needs that."""

    __slots__ = ("_json", "_msgpack", "_private", "_wire", "entry")

    def __init__(self, entry: StreamEntry) -> None:
        self.entry = entry
        self._json: Message | None = None
        self._msgpack: Message | None = None
        self._wire: list[bytes | None] = [None, None]  # the whole WebSocket frame: [text, binary]
        # As blanked readers see it; None until asked. Never ``self`` when there is nothing to blank (``_PLAIN``
        # instead): a reference to itself would be a cycle, left for the garbage collector, per event.
        self._private: EncodedEvent | None = None

    @property
    def offset(self) -> int:
        return self.entry.offset

    def for_reader(self, sees_customers: bool) -> EncodedEvent:
        """This event as a reader may see it: itself, or (made once) a copy with customers' details blanked."""
        if sees_customers:
            return self
        if self._private is None:  # looked at once per event, not per reader
            if may_hold_customer(self.entry.data):
                data = orjson.dumps(redact(orjson.loads(self.entry.data)))
                self._private = EncodedEvent(dataclasses.replace(self.entry, data=data))
            else:
                self._private = _PLAIN
        return self if self._private is _PLAIN else self._private

    def frame(self) -> dict[str, Any]:
        e = self.entry
        return {
            "op": "event",
            "offset": e.offset,
            "type": e.type.decode(),
            "channels": e.channel_list(),
            "ts": int(e.ts),
            "data": orjson.loads(e.data),
        }

    def wire(self, binary: bool) -> bytes:
        """The event as one whole WebSocket frame, made once for every recipient: a server's frames are
        not masked, so every socket without an extension (compression) gets exactly these bytes."""
        frame = self._wire[binary]
        if frame is None:
            frame = self._wire[binary] = wire_of(self.message(binary), binary)
        return frame

    def message(self, binary: bool) -> Message:
        if binary:
            if self._msgpack is None:
                self._msgpack = {"type": "websocket.send", "bytes": msgpack.packb(self.frame())}
            return self._msgpack
        if self._json is None:
            e = self.entry
            text = b"".join(
                (
                    b'{"op":"event","offset":',
                    str(e.offset).encode(),
                    b',"type":"',
                    e.type,
                    b'","channels":',
                    orjson.dumps(e.channel_list()),
                    b',"ts":',
                    e.ts,
                    b',"data":',
                    e.data,
                    b"}",
                )
            )
            self._json = {"type": "websocket.send", "text": text.decode()}
        return self._json


_PLAIN = EncodedEvent.__new__(EncodedEvent)  # marks "blanked readers see the event itself"


def wire_of(message: Message, binary: bool) -> bytes:
    """An ASGI send message as the whole WebSocket frame a socket without extensions gets."""
    return ws_frame(message["bytes"] if binary else message["text"].encode(), binary)


def ws_frame(payload: bytes, binary: bool) -> bytes:
    """A final, unmasked WebSocket data frame (RFC 6455 section 5.2) of ``payload``: text or binary."""
    first = 0x82 if binary else 0x81
    size = len(payload)
    if size < 126:
        header = bytes((first, size))
    elif size < 1 << 16:
        header = bytes((first, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((first, 127)) + size.to_bytes(8, "big")
    return header + payload
