"""An integrator's webhook receiver on loopback (Starlette under uvicorn), checking every signature it is sent.

It records every POST as it came (so a test sees a second copy of a delivery id, not only the set), answers
``status`` (200 unless told otherwise), can go down and come back on the same port (``down``/``up``: a real
outage, connections refused), and wakes waiters on each delivery, so tests await what arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fireflow.hub.domain.webhooks import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, BadSignature, verify
from tests.conftest import WAIT

__all__ = ["Got", "Receiver", "receiver"]


@dataclass(frozen=True)
class Got:
    """One POST as received: the path it came to, its headers' delivery id and type, the body, and whether its
    signature verified with the secret the test gave for that path (why not, if not)."""

    path: str
    delivery_id: str
    event_type: str
    body: dict[str, Any]
    signature_error: str | None
    answered: int

    @property
    def offset(self) -> int:
        return int(self.body["offset"])


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Receiver:
    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}  # path -> the secret its subscription was given
        self.got: list[Got] = []
        self.status = 200
        self.in_flight: dict[str, int] = {}
        self.most_at_once: dict[str, int] = {}  # path -> the most deliveries it had under way at one time
        self.port = 0
        self._changed = asyncio.Condition()
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.app = Starlette(routes=[Route("/{name}", self._hook, methods=["POST"])])

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    async def _hook(self, request: Request) -> Response:
        path = request.url.path
        self.in_flight[path] = self.in_flight.get(path, 0) + 1
        self.most_at_once[path] = max(self.most_at_once.get(path, 0), self.in_flight[path])
        try:
            body = await request.body()
            await asyncio.sleep(0)  # another delivery to this path would get in here if one were under way
            error: str | None = None
            try:
                verify(self.secrets.get(path, ""), request.headers.get(SIGNATURE_HEADER, ""), body, int(time.time()))
            except BadSignature as exc:
                error = str(exc)
            status = self.status
            got = Got(
                path,
                request.headers.get(DELIVERY_HEADER, ""),
                request.headers.get(EVENT_HEADER, ""),
                orjson.loads(body),
                error,
                status,
            )
            async with self._changed:
                self.got.append(got)
                self._changed.notify_all()
            return Response(status_code=status)
        finally:
            self.in_flight[path] -= 1

    def taken(self, path: str) -> list[Got]:
        """What ``path`` answered 2xx, in arrival order."""
        return [g for g in self.got if g.path == path and 200 <= g.answered < 300]

    async def until(self, done: Callable[[], bool], timeout: float = 10 * WAIT) -> None:
        async def wait() -> None:
            async with self._changed:
                await self._changed.wait_for(done)

        await asyncio.wait_for(wait(), timeout)

    async def up(self) -> None:
        """Serve (again) on its port; the first time on a free one."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_config=None, log_level="warning", access_log=False, lifespan="off")
        server = _Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                sock.close()
                task.result()
                raise RuntimeError("the webhook receiver stopped before it started")
            await asyncio.sleep(0.01)
        self._server, self._task = server, task

    async def down(self) -> None:
        """Stop listening: deliveries find the port closed until ``up``."""
        server, task = self._server, self._task
        self._server = self._task = None
        if server is not None and task is not None:
            server.should_exit = True
            await task


@contextlib.asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    await found.up()
    try:
        yield found
    finally:
        await found.down()
