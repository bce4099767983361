"""One Redis connection that carries every plain command of a node, pipelined: a reply answers the oldest request.

redis-py sends each command on a pooled connection of its own: it takes one from the pool, checks its
health, writes, reads under a timeout, gives it back, each step a coroutine. Measured on this machine
(one EVALSHA of a small script at a time), that is 103 µs of the client's CPU a command; 52 µs with 20
in flight. Here a command is packed (by redis-py's own connection, so arguments are encoded exactly as
before), queued, and written with the others of the same loop iteration in one ``write``; the replies
are parsed by hiredis as they arrive and each resolves the oldest waiting future: 47 µs alone and 6 µs
with 20 in flight. In ``bench kitchen`` this is most of what the hub spent in the Redis client.

A pipeline without a transaction goes on the line too (``_LinePipeline``). What stays on the pool
(``_OWN_CONNECTION``): what blocks a connection (``XREADGROUP … BLOCK``, ``BLPOP``, ``WAIT``), what changes
a connection's state (``SELECT``, ``CLIENT``, ``WATCH`` …), transactions and pub/sub. One connection
also runs its commands in the order they were sent, where several pooled ones ran them in any order:
stricter, never looser.

Failures are the pool's: a command whose connection dies is retried on a new one (the client's
``Retry``, ``REDIS_RETRIES`` times), which is safe for the same reason it was there (every write is
idempotent or goes through the commit script, which answers a repeated command id with its first result).
A lost connection fails every command waiting on it at once; the next command opens a new one.

Only a plain single Redis speaking RESP2 with byte replies (the hub's own clients) is multiplexed; a
cluster client routes per slot and is left as it is (``redis_client``).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import hiredis
from redis._parsers.base import BaseParser
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.client import EMPTY_RESPONSE, NEVER_DECODE
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse, NoScriptError, ResponseError
from redis.typing import ScriptTextT

__all__ = ["STREAM_READS", "MultiplexedRedis", "Names", "Quiet", "listen", "packed_command"]

logger = logging.getLogger(__name__)

# Commands that hold or change the connection they run on: these take a pooled connection of their own.
_OWN_CONNECTION = frozenset(
    {
        "AUTH",
        "BLMOVE",
        "BLMPOP",
        "BLPOP",
        "BRPOP",
        "BRPOPLPUSH",
        "BZMPOP",
        "BZPOPMAX",
        "BZPOPMIN",
        "CLIENT",
        "DEBUG",
        "DISCARD",
        "EXEC",
        "HELLO",
        "MONITOR",
        "MULTI",
        "PSUBSCRIBE",
        "PSYNC",
        "QUIT",
        "READONLY",
        "READWRITE",
        "RESET",
        "SELECT",
        "SHUTDOWN",
        "SSUBSCRIBE",
        "SUBSCRIBE",
        "SYNC",
        "UNWATCH",
        "WAIT",
        "WAITAOF",
        "WATCH",
        "XREAD",
        "XREADGROUP",
    }
)
STREAM_READS = frozenset({"XREAD", "XREADGROUP"})  # their keys follow STREAMS; they block only with BLOCK


_ONCE = Retry(NoBackoff(), 0)


def packed_command(args: tuple[Any, ...]) -> tuple[bytes] | None:
    """The command in RESP, for the hub's own arguments (text, bytes, whole numbers); None for anything else,
    which redis-py's ``pack_command`` encodes as it always did (and refuses what it refuses).

    The same bytes as ``pack_command`` for these, in a third of its time (6 against 18 µs for a commit's
    EVALSHA with its 24 keys): every command of the node is packed, a few on every fire."""
    if type(args[0]) is str and " " in args[0]:  # "SCRIPT LOAD" and the like: redis-py splits the name
        return None
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if type(arg) is str:
            arg = arg.encode()
        elif type(arg) is int:
            arg = b"%d" % arg
        elif type(arg) is not bytes:
            return None
        out.append(b"$%d\r\n%b\r\n" % (len(arg), arg))
    return (b"".join(out),)


class _Line(asyncio.Protocol):
    """One connected socket: requests written in batches, replies matched to them in order."""

    def __init__(self, connection: AbstractConnection) -> None:
        self.connection = connection  # its pack_command encodes the arguments; its socket is taken over
        self._reader = hiredis.Reader(protocolError=InvalidResponse, replyError=BaseParser.parse_error)
        self._waiting: deque[asyncio.Future[Any]] = deque()
        self._out: list[bytes] = []
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.lost: Exception | None = None
        encoder = connection.encoder
        # packed here (``packed_command``) only where redis-py would encode text the same way
        self.plain = (encoder.encoding, encoder.encoding_errors) == ("utf-8", "strict")

    @classmethod
    async def open(cls, connection: AbstractConnection) -> _Line:
        """Connect (redis-py's handshake: AUTH, HELLO, SELECT, CLIENT SETINFO), then read the socket here."""
        await connection.connect()  # type: ignore[no-untyped-call]
        writer = connection._writer  # the socket redis-py opened and greeted
        assert writer is not None
        line = cls(connection)
        line._writer = writer  # kept: a StreamWriter closes its transport when it is collected
        transport = writer.transport
        # The socket is the line's now: redis-py's connection keeps only its packing (and no claim to close it).
        connection._reader = connection._writer = None
        transport.set_protocol(line)
        line._transport = transport  # type: ignore[assignment]  # a selector or SSL transport: both write and close
        return line

    def call(self, packed: Sequence[bytes]) -> asyncio.Future[Any]:
        if self.lost is not None:
            raise RedisConnectionError(f"the Redis connection was lost: {self.lost}")
        if not self._out:
            self._loop.call_soon(self._flush)
        self._out.extend(packed)
        waiter: asyncio.Future[Any] = self._loop.create_future()
        self._waiting.append(waiter)
        return waiter

    def _flush(self) -> None:
        out, self._out = self._out, []
        if self._transport is not None and self.lost is None and out:
            self._transport.write(b"".join(out))

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        reader.feed(data)
        waiting = self._waiting
        try:
            while (reply := reader.gets()) is not False:
                waiter = waiting.popleft()
                if not waiter.done():  # its caller may have been cancelled: the reply is dropped, the order kept
                    waiter.set_result(reply)
        except (InvalidResponse, IndexError) as exc:  # a reply nobody asked for, or bytes that are not RESP
            self.close(RedisConnectionError(f"the Redis connection is out of step: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(RedisConnectionError(f"Redis closed the connection ({exc or 'end of stream'})"))

    def close(self, exc: Exception) -> None:
        self._fail(exc)
        if self._transport is not None:
            self._transport.close()

    def _fail(self, exc: Exception) -> None:
        if self.lost is None:
            self.lost = exc
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_exception(exc)


def _own_connection(args: tuple[Any, ...]) -> bool:
    """Whether a command needs a connection to itself: it blocks, or changes the connection's state. A stream read
    without BLOCK is an ordinary command (the durable writer's, several a second: through the pool, a connection
    taken and given back and its reply read in Python, it was 7 % of the background process's CPU in
    ``bench kitchen``)."""
    name = str(args[0]).split(" ", 1)[0].upper()
    if name not in STREAM_READS:
        return name in _OWN_CONNECTION
    for arg in args[1:]:  # the options come before the streams' names
        word = arg.upper() if isinstance(arg, str | bytes) else None
        if word in ("BLOCK", b"BLOCK"):
            return True
        if word in ("STREAMS", b"STREAMS"):
            return False
    return True


def _pack(line: _Line, args: tuple[Any, ...]) -> Sequence[bytes]:
    packed = packed_command(args) if line.plain else None
    return line.connection.pack_command(*args) if packed is None else packed


class _LinePipeline(Pipeline):
    """A pipeline without a transaction whose commands go on the node's line, written with whatever else is
    queued there: redis-py's own packs each command and reads each reply under a timeout of its own, on a
    pooled connection (the due checks' two reads a restaurant: 37 µs of the node's CPU that way, 25 on the line).
    What it cannot carry goes the usual way: a command that holds its connection, WATCH, scripts to load."""

    def __init__(self, client: MultiplexedRedis) -> None:
        super().__init__(client.connection_pool, client.response_callbacks, False, None)
        self._client = client

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        stack = self.command_stack
        if self.watching or self.scripts or self.explicit_transaction or any(_own_connection(a) for a, _ in stack):
            return await super().execute(raise_on_error)
        try:
            return await self._client.execute_many(stack, raise_on_error) if stack else []
        finally:
            await self.reset()  # type: ignore[no-untyped-call]


class MultiplexedRedis(Redis):
    """``Redis`` whose plain commands share one pipelined connection; the rest use the pool as before."""

    _line: _Line | None = None
    _opening: asyncio.Future[_Line] | None = None

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        if _own_connection(args):
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        try:
            response = await self._retry().call_with_retry(lambda: self._send(args), self._drop)
        except ResponseError:
            if EMPTY_RESPONSE in options:
                return options[EMPTY_RESPONSE]
            raise
        return await self._parsed(args[0], response, options)

    def register_script(self, script: ScriptTextT) -> AsyncScript:  # type: ignore[override]
        return _LineScript(self, script)

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        """Without a transaction, a pipeline's commands go on the line too (``_LinePipeline``)."""
        if transaction or shard_hint is not None:
            return super().pipeline(transaction, shard_hint)
        return _LinePipeline(self)

    async def execute_many(
        self, stack: Sequence[tuple[tuple[Any, ...], Mapping[str, Any]]], raise_on_error: bool
    ) -> list[Any]:
        """A pipeline's commands (``(args, options)``, as redis-py stacks them) on the line, written together; their
        replies in order, an error reply in its place (or raised, the first, with ``raise_on_error``)."""
        replies = await self._retry().call_with_retry(lambda: self._send_many([args for args, _ in stack]), self._drop)
        results: list[Any] = []
        for (args, options), reply in zip(stack, replies, strict=True):
            if isinstance(reply, ResponseError):
                results.append(options[EMPTY_RESPONSE] if EMPTY_RESPONSE in options else reply)
            else:
                results.append(await self._parsed(args[0], reply, dict(options)))
        if raise_on_error:
            for result in results:
                if isinstance(result, ResponseError):
                    raise result
        return results

    def _retry(self) -> Retry:
        retry: Retry | None = self.connection_pool.connection_kwargs.get("retry")
        return retry or _ONCE

    async def _parsed(self, name: Any, response: Any, options: dict[str, Any]) -> Any:
        """A reply as redis-py's callback for the command makes it (``Redis.parse_response``)."""
        options.pop(EMPTY_RESPONSE, None)
        options.pop(NEVER_DECODE, None)  # replies are bytes here already
        options.pop("keys", None)
        callback = self.response_callbacks.get(name)
        if callback is None:
            return response
        parsed = callback(response, **options)
        return await parsed if inspect.isawaitable(parsed) else parsed

    async def _line_now(self) -> _Line:
        line = self._line
        if line is None or line.lost is not None:
            line = await self._open()
        return line

    async def _send(self, args: tuple[Any, ...]) -> Any:
        line = await self._line_now()
        reply = await line.call(_pack(line, args))
        if isinstance(reply, ResponseError):
            raise reply
        return reply

    async def _send_many(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Every command queued before the line writes (one write for them all); a lost connection raised for the
        retry, once every reply has been waited for (none left unread to warn of)."""
        line = await self._line_now()
        replies = await asyncio.gather(*[line.call(_pack(line, args)) for args in commands], return_exceptions=True)
        for reply in replies:
            if isinstance(reply, BaseException) and not isinstance(reply, ResponseError):
                raise reply
        return replies

    async def _open(self) -> _Line:
        """One connection at a time: the commands that found none all wait for the same one."""
        if self._opening is None:
            self._opening = asyncio.ensure_future(_Line.open(self.connection_pool.make_connection()))  # type: ignore[no-untyped-call]
        opening = self._opening
        try:
            line = await asyncio.shield(opening)
        finally:
            if self._opening is opening and opening.done():
                self._opening = None
        self._line = line
        return line

    async def _drop(self, error: Exception) -> None:
        """Between retries: forget the line if it is lost. One still up is another command's new line, opened
        after this one failed on the old: closing it would fail every command on it in turn."""
        line = self._line
        if line is not None and line.lost is not None:
            self._line = None

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        line, self._line = self._line, None
        if line is not None:
            line.close(RedisConnectionError("the client was closed"))
        await super().aclose(close_connection_pool)


class _LineScript(AsyncScript):
    """A script called straight on the node's line.

    redis-py's ``AsyncScript`` imports its pipeline class and asks ``isinstance(client, Pipeline)`` on every
    call, a check against a typing protocol that runs in Python: 1.5 % of the node's CPU in ``bench kitchen``
    (sampled on CPU time), where every command is one or two script calls. A pipeline given as ``client``
    still goes redis-py's way (it loads the script first).
    """

    async def __call__(self, keys: Any = None, args: Any = None, client: Any = None) -> Any:
        own = self.registered_client
        if client is not None and client is not own:
            return await super().__call__(keys, args, client)
        keys, args = keys or (), args or ()
        try:
            return await own.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)
        except NoScriptError:  # a Redis restarted (or flushed) since: load it again
            self.sha = await own.script_load(self.script)
            return await own.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)


class Names:
    """The channels and patterns a subscription asks for: stands in for redis-py's ``PubSub`` while it is named."""

    def __init__(self) -> None:
        self.channels: list[str] = []
        self.patterns: list[str] = []

    async def subscribe(self, *channels: str) -> None:
        self.channels += channels

    async def psubscribe(self, *patterns: str) -> None:
        self.patterns += patterns


class Quiet:
    """A subscription's socket left unread while its follower rests, then read at once.

    The durable writer acts on the commits' wake-ups only between rests (it reads the streams they name five
    times a second), yet each wake-up woke its process as it came: a read, a parse and a loop turn for every
    commit of every restaurant. Held, the kernel keeps the messages and a rest's wake-ups come in one read.
    """

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self.held = False

    def attach(self, transport: asyncio.Transport | None) -> None:
        """The subscription's socket now (None: it has none), held at once if its follower rests."""
        self._transport = transport
        if self.held:
            self.hold()

    def hold(self) -> None:
        self.held = True
        if (transport := self._open()) is not None:
            transport.pause_reading()

    def release(self) -> None:
        """Read again: what came during the rest is handed on over the loop's next turns."""
        self.held = False
        if (transport := self._open()) is not None:
            transport.resume_reading()

    def _open(self) -> asyncio.Transport | None:
        """The socket, unless there is none or it is closing (a closing one is left alone)."""
        transport = self._transport
        return transport if transport is not None and not transport.is_closing() else None


class _Listener(asyncio.Protocol):
    """A subscribed socket: each message handed on as it is parsed, as a ``PubSub`` message dict.

    redis-py's ``PubSub.listen`` costs a few coroutines per message (a read under a timeout, a health check);
    a node receives one wake-up per commit of every restaurant, so here a message is one call. Messages that
    arrive while the subscriber catches up are held and handed on, in order, once it has."""

    def __init__(self, expected: int, on_message: Callable[[dict[str, Any]], None]) -> None:
        self._reader = hiredis.Reader(protocolError=InvalidResponse, replyError=BaseParser.parse_error)
        self._on_message = on_message
        self._expected = expected  # subscription confirmations still to come
        loop = asyncio.get_running_loop()
        self.subscribed: asyncio.Future[None] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()
        self._held: list[dict[str, Any]] | None = []

    def release(self) -> None:
        held, self._held = self._held or [], None
        for message in held:
            self._hand_on(message)

    def _hand_on(self, message: dict[str, Any]) -> None:
        """One message to its handler; a handler that fails on one is logged, and the next still reaches it."""
        try:
            self._on_message(message)
        except Exception:
            logger.exception("a subscription's handler failed on %r; following on", message.get("channel"))

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        try:
            while (reply := self._reader.gets()) is not False:
                self._received(reply)
        except InvalidResponse as exc:
            self._end(RedisConnectionError(f"the subscription is out of step: {exc}"))

    def _received(self, reply: Any) -> None:
        kind = reply[0] if isinstance(reply, list) and reply else None
        if kind == b"message":
            message = {"type": "message", "pattern": None, "channel": reply[1], "data": reply[2]}
        elif kind == b"pmessage":
            message = {"type": "pmessage", "pattern": reply[1], "channel": reply[2], "data": reply[3]}
        else:
            if kind in (b"subscribe", b"psubscribe"):
                self._expected -= 1
                if self._expected <= 0 and not self.subscribed.done():
                    self.subscribed.set_result(None)
            elif isinstance(reply, Exception):
                self._end(RedisConnectionError(f"the subscription was refused: {reply}"))
            return
        if self._held is not None:
            self._held.append(message)
        else:
            self._hand_on(message)

    def connection_lost(self, exc: Exception | None) -> None:
        self._end(RedisConnectionError(f"Redis closed the subscription ({exc or 'end of stream'})"))

    def _end(self, exc: Exception) -> None:
        for waiter in (self.subscribed, self.lost):
            if not waiter.done():
                waiter.set_exception(exc)


async def listen(
    redis: MultiplexedRedis,
    names: Names,
    on_message: Callable[[dict[str, Any]], None],
    caught_up: Callable[[], Awaitable[None]],
    quiet: Quiet | None = None,
) -> None:
    """Subscribe to ``names`` on a connection of its own, run ``caught_up``, then hand every message to
    ``on_message`` until the connection is lost (raised as a ``ConnectionError``, for the caller to retry).
    ``quiet``: left unread while its follower says so, once subscribed."""
    connection = redis.connection_pool.make_connection()  # type: ignore[no-untyped-call]
    await connection.connect()
    writer = connection._writer
    assert writer is not None
    connection._reader = connection._writer = None  # the socket is the listener's (see _Line.open)
    listener = _Listener(len(names.channels) + len(names.patterns), on_message)
    transport = writer.transport
    transport.set_protocol(listener)
    try:
        if names.channels:
            writer.writelines(connection.pack_command("SUBSCRIBE", *names.channels))
        if names.patterns:
            writer.writelines(connection.pack_command("PSUBSCRIBE", *names.patterns))
        await listener.subscribed
        await caught_up()  # whatever was sent before the subscription took: messages wait meanwhile
        listener.release()
        if quiet is not None:
            quiet.attach(transport)
        await listener.lost
    finally:
        if quiet is not None:
            quiet.attach(None)
        transport.close()
        for ended in (listener.subscribed, listener.lost):  # read, so an unawaited loss is not reported as unseen
            if ended.done() and not ended.cancelled():
                ended.exception()
