"""An asyncio client for protocol v1: auth, subscribe (with resume), commands, events.

It keeps the last offset and epoch it saw, so ``resume()`` on a new
connection asks for exactly the missed events. Used by the tests, the load
generator and integrations.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
from typing import Any

import msgpack
import orjson
import websockets
from websockets.asyncio.client import ClientConnection

from schema.protocol import SUBPROTOCOL_JSON, SUBPROTOCOL_MSGPACK

__all__ = ["HubClient", "HubError"]


class HubError(Exception):
    def __init__(self, frame: dict[str, Any]) -> None:
        super().__init__(f"{frame.get('code')}: {frame.get('message')}")
        self.frame = frame
        self.code: str = frame.get("code", "")
        self.retryable: bool = bool(frame.get("retryable"))


class HubClient:
    def __init__(self, ws: ClientConnection, binary: bool) -> None:
        self.ws = ws
        self.binary = binary
        self.welcome: dict[str, Any] = {}
        self.offset = 0
        self.epoch = ""
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.errors: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._ids = itertools.count(1)
        self._prefix = secrets.token_hex(4)
        self.trace: list[dict[str, Any]] | None = None  # set to a list to record every frame in arrival order
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def connect(
        cls, url: str, token: str | None, *, encoding: str = "json", auth: bool = True, **kwargs: Any
    ) -> HubClient:
        binary = encoding == "msgpack"
        ws = await websockets.connect(
            url,
            subprotocols=[SUBPROTOCOL_MSGPACK if binary else SUBPROTOCOL_JSON],  # type: ignore[list-item]
            compression=None,
            max_size=None,
            **kwargs,
        )
        client = cls(ws, binary)
        if auth and token is not None:
            await client.send({"op": "auth", "token": token})
            client.welcome = await client.reply()
            if client.welcome.get("op") != "welcome":
                raise HubError(client.welcome)
            client.offset = client.welcome["offset"]
            client.epoch = client.welcome["epoch"]
        return client

    def encode(self, frame: dict[str, Any]) -> bytes | str:
        return msgpack.packb(frame) if self.binary else orjson.dumps(frame).decode()

    def decode(self, raw: bytes | str) -> dict[str, Any]:
        frame: dict[str, Any] = msgpack.unpackb(raw) if isinstance(raw, bytes) else orjson.loads(raw)
        return frame

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(self.encode(frame))

    async def send_raw(self, raw: bytes | str) -> None:
        await self.ws.send(raw)

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                frame = self.decode(raw)
                if self.trace is not None:
                    self.trace.append(frame)
                op = frame.get("op")
                if op == "event":
                    if frame["offset"] > self.offset:
                        self.offset = frame["offset"]
                    self.events.put_nowait(frame)
                elif op == "ping":
                    await self.send({"op": "pong", "t": frame.get("t")})
                elif op in ("ack", "error") and frame.get("id") in self._waiting:
                    self._waiting.pop(frame["id"]).set_result(frame)
                elif op == "subscribed":
                    # Replayed events go ahead of any live event read after this frame.
                    for event in frame.get("replayed") or ():
                        self.offset = max(self.offset, event["offset"])
                        self.events.put_nowait(event)
                    self._replies.put_nowait(frame)
                elif op == "error":
                    self.errors.put_nowait(frame)
                    self._replies.put_nowait(frame)
                else:
                    self._replies.put_nowait(frame)
        except websockets.ConnectionClosed:
            pass
        finally:
            rcvd = self.ws.protocol.close_rcvd
            self.close_code = rcvd.code if rcvd is not None else 1006
            self.closed.set()
            for fut in self._waiting.values():
                if not fut.done():
                    fut.set_exception(ConnectionError(f"closed {self.close_code}"))

    async def reply(self, timeout: float = 10) -> dict[str, Any]:
        """The next frame that is neither an event nor an answer to a command."""
        get = asyncio.ensure_future(self._replies.get())
        closed = asyncio.ensure_future(self.closed.wait())
        done, _ = await asyncio.wait({get, closed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        closed.cancel()
        if get in done:
            return get.result()
        get.cancel()
        if closed in done:
            raise ConnectionError(f"closed {self.close_code}")
        raise TimeoutError("no reply")

    async def subscribe(self, *channels: str, since: int | None = None, epoch: str | None = None) -> dict[str, Any]:
        frame: dict[str, Any] = {"op": "subscribe", "channels": list(channels)}
        if since is not None:
            frame["since"] = since
            frame["epoch"] = epoch if epoch is not None else self.epoch
        await self.send(frame)
        answer = await self.reply()
        if answer.get("op") != "subscribed":
            raise HubError(answer)
        self.offset = max(self.offset, answer["offset"])
        self.epoch = answer["epoch"]
        return answer

    async def command(
        self, command_type: str, data: dict[str, Any], *, id: str | None = None, timeout: float = 10
    ) -> dict[str, Any]:
        """Send a command and return its ack frame; raises HubError on an error frame."""
        command_id = id or f"{self._prefix}-{next(self._ids)}"
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[command_id] = fut
        await self.send({"op": "cmd", "id": command_id, "type": command_type, "data": data})
        answer = await asyncio.wait_for(fut, timeout)
        if answer["op"] == "error":
            raise HubError(answer)
        return answer

    async def next_event(self, timeout: float = 10) -> dict[str, Any]:
        return await asyncio.wait_for(self.events.get(), timeout)

    async def wait_closed(self, timeout: float = 10) -> int | None:
        await asyncio.wait_for(self.closed.wait(), timeout)
        return self.close_code

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await self._reader
