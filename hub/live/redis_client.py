"""One Redis or a Redis Cluster behind one client type, and reads grouped so none crosses a hash slot.

``REDIS_URL=redis+cluster://host:port`` (or ``rediss+cluster://``) names any node of a cluster; the
client learns the rest. It may name several, ``redis+cluster://a:7000,b:7001``, tried in turn, so a
process starts while one of them is down (a node hands its background process the nodes it knows,
``with_seeds``). Every key of a restaurant carries the hash tag ``{<restaurant id>}``
(``fireflow.hub.live.keys``), so one restaurant's commands and scripts touch one slot; what reads many
restaurants at once (the fan-out's offset poll, the durable writer) groups its keys by slot here.

A ``RedisCluster`` speaks the same commands as ``Redis`` for everything the hub sends, so the rest of
the hub is typed against ``Redis`` and asks ``is_cluster`` only where the two differ: pub/sub nodes,
pipelines that must stay on one node, and the replica acknowledgement of a commit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from contextvars import ContextVar
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import Connection, ConnectionPool, Redis, SSLConnection
from redis.asyncio.cluster import ClusterNode, ClusterPipeline, RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.driver_info import DriverInfo
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from fireflow.hub.live.multiplexed import STREAM_READS, MultiplexedRedis, packed_command

__all__ = [
    "CLUSTER_SCHEMES",
    "REDIS_RETRIES",
    "BoundedCluster",
    "FairPool",
    "cluster_seeds",
    "get_many",
    "is_cluster",
    "is_cluster_url",
    "plain_url",
    "redis_client",
    "seed_nodes",
    "slot_groups",
    "with_seeds",
]

REDIS_RETRIES = 3  # each on a fresh connection, after a jittered pause of at most 100, 200, 200 ms
CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
# A failover takes the cluster a node timeout or two: a command keeps being retried (on the new
# topology) for about that long before it is answered UNAVAILABLE.
CLUSTER_RETRIES = 12
_PLAIN = ("utf-8", "strict")  # an encoder that makes the same bytes of text as ``packed_command``
_IN_TURN: ContextVar[bool] = ContextVar("fireflow_redis_turn", default=False)
SUBSCRIPTION_CONNECTIONS = 8  # per cluster node: wake-ups, control, positions, with room to spare
# Made once: without it redis-py makes one per new connection, reading its own version from the installed
# packages' metadata (a scan of site-packages, 10-35 ms with the event loop stalled: every socket waits).
DRIVER = DriverInfo()


def is_cluster_url(url: str) -> bool:
    return urlsplit(url).scheme in CLUSTER_SCHEMES


def plain_url(url: str) -> str:
    """The URL with ``+cluster`` taken off the scheme: what redis-py and redis-cli understand."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme=CLUSTER_SCHEMES.get(parts.scheme, parts.scheme)))


def is_cluster(redis: Any) -> bool:
    return isinstance(redis, RedisCluster)


def cluster_seeds(url: str) -> list[str]:
    """Each node a cluster URL names, as a plain URL of its own with the same user, password and path:
    ``redis+cluster://u:p@a:1,b:2/0`` gives ``redis://u:p@a:1/0`` and ``redis://u:p@b:2/0``."""
    parts = urlsplit(plain_url(url))
    user, at, hosts = parts.netloc.rpartition("@")
    return [urlunsplit(parts._replace(netloc=f"{user}{at}{host}")) for host in hosts.split(",") if host]


def seed_nodes(url: str) -> list[tuple[str, int]]:
    """The (host, port) of each node a cluster URL names."""
    return [(seed.hostname or "localhost", seed.port or 6379) for seed in map(urlsplit, cluster_seeds(url))]


def with_seeds(url: str, nodes: Iterable[tuple[str, int]]) -> str:
    """``url`` naming ``nodes`` (host, port) as its seeds, its scheme, user, password and path kept."""
    parts = urlsplit(url)
    user, at, _hosts = parts.netloc.rpartition("@")
    hosts = ",".join(f"[{host}]:{port}" if ":" in host else f"{host}:{port}" for host, port in nodes)
    return urlunsplit(parts._replace(netloc=f"{user}{at}{hosts}"))


def redis_client(url: str, *, pool_size: int = 64, pool_timeout: float = 5.0) -> Redis:
    """A client whose commands outlive a dead connection and whose bursts queue for a connection.

    After Redis restarts, every idle pooled connection is dead, and the first command
    sent on one fails; each is retried on a new connection instead, which is safe
    because every write here is idempotent or goes through the commit script, which
    answers a repeated command id with its first result. While Redis is down, a command
    still fails (UNAVAILABLE) after the retries, within half a second. A burst of commands
    waits for one of ``pool_size`` connections, for ``pool_timeout`` at most.

    On a cluster the same holds per node, and a command that meets a failover is retried on
    the refreshed topology until a replica has taken over.
    """
    if is_cluster_url(url):
        first = cluster_seeds(url)[0]
        cluster = cast(
            BoundedCluster,
            BoundedCluster.from_url(
                first,
                startup_nodes=[ClusterNode(host, port) for host, port in seed_nodes(url)[1:]],
                # the subscriptions' connections come on top of the commands' (each holds one for good)
                max_connections=pool_size + SUBSCRIPTION_CONNECTIONS,
                retry=Retry(ExponentialWithJitterBackoff(cap=0.5, base=0.05), CLUSTER_RETRIES),
                socket_keepalive=True,
                socket_connect_timeout=1.0,
                driver_info=DRIVER,
            ),
        )
        cluster.bound(pool_size, pool_timeout)
        # Typed as Redis: the commands the hub sends are the same on both (see the module's docstring).
        return cast(Redis, cluster)
    retry = Retry(
        ExponentialWithJitterBackoff(cap=0.2, base=0.05),
        REDIS_RETRIES,
        supported_errors=(RedisConnectionError, RedisTimeoutError),
    )
    # A unix socket (``unix:///path?db=0``: a Redis on the same machine, with no TCP stack in between) has no
    # keepalive to ask for.
    tcp = {} if url.startswith("unix:") else {"socket_keepalive": True}
    pool = FairPool.from_url(
        url,
        max_connections=pool_size,
        timeout=pool_timeout,
        retry=retry,
        health_check_interval=30,
        driver_info=DRIVER,
        **tcp,
    )
    kwargs = pool.connection_kwargs
    if kwargs.get("decode_responses") or str(kwargs.get("protocol") or 2) != "2":
        return Redis.from_pool(pool)  # owns the pool: closing the client closes its connections
    # Plain commands on one pipelined connection, the rest on the pool (hub/live/multiplexed.py).
    return MultiplexedRedis.from_pool(pool)


class FairPool(ConnectionPool):
    """A bounded pool whose commands wait for a connection in the order they asked, for ``timeout`` at most.

    redis-py's ``BlockingConnectionPool`` is not fair: a released connection goes to whichever task asks
    next, so under a burst a command that has waited longest can keep losing to newcomers until its
    timeout (measured: commands answered UNAVAILABLE "No connection available" while Redis was healthy
    and the p99 was under the timeout). Here a released connection is handed to the first waiter
    directly, and a command takes a free one only when nobody waits; taking and giving back cost no lock
    and no condition (one event loop: each step is atomic).
    """

    def __init__(self, *args: Any, timeout: float = 5.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeout = timeout
        self._waiting: deque[asyncio.Future[AbstractConnection]] = deque()

    async def get_connection(self, command_name: Any = None, *keys: Any, **options: Any) -> AbstractConnection:
        waiting = self._waiting
        while waiting and waiting[0].done():  # gave up, and not yet out of the line
            waiting.popleft()
        if waiting or not self.can_get_connection():
            connection = await self._turn()
        else:
            connection = self.get_available_connection()  # type: ignore[no-untyped-call]
        try:
            await self.ensure_connection(connection)
        except BaseException:
            self._hand_on(connection)
            raise
        return connection

    async def _turn(self) -> AbstractConnection:
        turn: asyncio.Future[AbstractConnection] = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        try:
            async with asyncio.timeout(self.timeout):
                return await turn
        except BaseException as exc:
            if turn.done() and not turn.cancelled():  # handed one just as it gave up: pass it on
                self._hand_on(turn.result())
            turn.cancel()
            with contextlib.suppress(ValueError):
                self._waiting.remove(turn)
            if isinstance(exc, TimeoutError):
                raise RedisConnectionError("No connection available.") from None
            raise

    async def release(self, connection: AbstractConnection) -> None:
        if connection.should_reconnect():  # type: ignore[no-untyped-call]
            await connection.disconnect()
        self._hand_on(connection)

    def _hand_on(self, connection: AbstractConnection) -> None:
        """To the longest waiter (it stays in use), else back to the free ones."""
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(connection)
                return
        self._in_use_connections.discard(connection)
        self._available_connections.append(connection)


class _WriteGuard(Connection):
    """A connection whose write on a connection closed under it raises ConnectionError.

    In redis-py 8.1 a cluster node closes its idle connections after a connection error while another
    task may be about to write on one of them; the write then fails with ``AttributeError`` ('NoneType'
    object has no attribute 'writelines', redis-py #4287), which no retry catches and which reached
    screens as INTERNAL. As a ConnectionError it is retried on the refreshed topology like any other.
    """

    async def _send_packed_command(self, command: Iterable[bytes]) -> None:
        writer = self._writer
        if writer is None or writer.transport.is_closing():
            raise RedisConnectionError("the Redis connection was closed while a command was being sent")
        writer.writelines(command)
        await writer.drain()

    # The two below are what the cluster's clients spent most of their own CPU on in ``bench cluster`` (the
    # single Redis's commands go on ``MultiplexedRedis``'s line instead): redis-py packs each argument through
    # its encoder, and wraps every write in ``wait_for`` (a task each) to time out a drain that is needed only
    # when the kernel has stopped taking bytes.

    def pack_command(self, *args: Any) -> list[bytes]:
        """The hub's own arguments (text, bytes, whole numbers) packed as redis-py would, in a third of its time."""
        packed = packed_command(args) if (self.encoder.encoding, self.encoder.encoding_errors) == _PLAIN else None
        return list(packed) if packed is not None else super().pack_command(*args)

    async def send_packed_command(self, command: bytes | str | Iterable[bytes], check_health: bool = True) -> None:
        """Written at once while the connection is up and nothing waits in its buffer; else as redis-py does."""
        writer = self._writer
        if (
            writer is not None
            and not isinstance(command, str)
            and not (check_health and self.health_check_interval)
            and not writer.transport.is_closing()
            and not writer.transport.get_write_buffer_size()
        ):
            writer.writelines([command] if isinstance(command, bytes) else command)
            return
        await super().send_packed_command(command, check_health)


class _GuardedSSLConnection(_WriteGuard, SSLConnection):
    pass


class BoundedCluster(RedisCluster):
    """A RedisCluster whose bursts wait for a connection, as the one-Redis client's blocking pool makes them.

    redis-py's cluster client fails a command at once (MaxConnectionsError) when its node has no free
    connection; here at most ``in_flight`` commands and pipelines run at once, each taking at most one
    connection per node, so none is refused while Redis is healthy: the rest wait their turn, for
    ``timeout`` at most (then UNAVAILABLE, as with one Redis). Its connections are ``_WriteGuard``s.
    """

    _turns: asyncio.Semaphore
    _timeout: float

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # redis-py takes no connection class for a cluster: set it where every node's connections come from
        guarded = (
            _GuardedSSLConnection
            if issubclass(self.connection_kwargs["connection_class"], SSLConnection)
            else _WriteGuard
        )
        self.connection_kwargs["connection_class"] = guarded  # the dict the nodes manager makes nodes with
        for node in self.nodes_manager.startup_nodes.values():
            node.connection_class = guarded

    def bound(self, in_flight: int, timeout: float) -> None:
        self._turns = asyncio.Semaphore(in_flight)
        self._timeout = timeout

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold one of the ``in_flight`` turns (one connection per node at most) while the block runs.

        A command redis-py sends from inside a turn (a pipeline's redirected command, a retry) runs in
        that turn: it already has its connection's worth, and waiting for a second could deadlock."""
        if _IN_TURN.get():
            yield
            return
        if not self._turns.locked():
            await self._turns.acquire()  # a free turn is taken at once: no wait_for, which makes a task each time
        else:
            try:
                await asyncio.wait_for(self._turns.acquire(), self._timeout)
            except TimeoutError:
                raise RedisConnectionError("No connection available (every Redis Cluster connection is busy)") from None
        token = _IN_TURN.set(True)
        try:
            yield
        finally:
            _IN_TURN.reset(token)
            self._turns.release()

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self.turn():
            return await super().execute_command(*args, **kwargs)

    async def _determine_slot(self, command: str, *args: Any) -> int:
        """A stream read's slot, found here: redis-py asks the server for the keys of a command whose keys
        move (COMMAND GETKEYS, one round trip each, awaited one after the other in a pipeline), and the
        durable writer's pipeline of 1,000 XREADGROUPs (one per restaurant's slot) spent its whole time so."""
        if isinstance(command, str | bytes) and _name(command) in STREAM_READS:
            keys = _stream_keys(args)
            slots = {self.keyslot(key) for key in keys}
            if len(slots) == 1:
                return slots.pop()
        return await super()._determine_slot(command, *args)

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> ClusterPipeline:
        return _BoundedPipeline(self, transaction)  # type: ignore[abstract]  # as redis-py's own pipeline()


class _BoundedPipeline(ClusterPipeline):
    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> list[Any]:
        async with cast(BoundedCluster, self.cluster_client).turn():
            return await super().execute(raise_on_error, allow_redirections)


def _name(word: str | bytes) -> str:
    return (word.decode() if isinstance(word, bytes) else word).upper()


def _stream_keys(args: Sequence[Any]) -> list[Any]:
    """The keys of XREAD/XREADGROUP ``args``: the first half of what follows STREAMS."""
    for i, arg in enumerate(args):
        if isinstance(arg, str | bytes) and _name(arg) == "STREAMS":
            rest = args[i + 1 :]
            return list(rest[: len(rest) // 2])
    return []


def slot_groups(redis: Redis, keys: Sequence[str]) -> list[list[str]]:
    """``keys`` in groups a multi-key command may take: all of them on one Redis, one slot each on a cluster."""
    if not is_cluster(redis):
        return [list(keys)] if keys else []
    groups: dict[int, list[str]] = {}
    for key in keys:
        groups.setdefault(cast(RedisCluster, redis).keyslot(key), []).append(key)
    return list(groups.values())


async def get_many(redis: Redis, keys: Sequence[str]) -> list[Any]:
    """GET of every key, in order: one MGET on one Redis, one per slot (pipelined per node) on a cluster."""
    if not keys:
        return []
    if not is_cluster(redis):
        return list(await redis.mget(list(keys)))
    cluster = cast(BoundedCluster, redis)
    groups = slot_groups(redis, keys)
    found = await _mget_per_master(cluster, groups) if cluster.nodes_manager.slots_cache else None
    if found is None:  # the topology is moving (or not learned yet): redis-py follows it
        return list(await cluster.mget_nonatomic(list(keys)))
    values = {
        key: value
        for group, replies in zip(groups, found, strict=True)
        for key, value in zip(group, replies, strict=True)
    }
    return [values[key] for key in keys]


async def _mget_per_master(cluster: BoundedCluster, groups: list[list[str]]) -> list[list[Any]] | None:
    """An MGET per group (each one slot), written to each group's master at once and answered in order there.

    redis-py's cluster pipeline spent about 20 µs of the node's CPU on each command (its slot, node and
    bookkeeping, a task per node): the fan-out's tick reads each followed restaurant's head so, one slot, one
    command each (1,000 restaurants: 21 ms). None when a master redirects or fails on the way: the caller then
    reads redis-py's way, which follows the topology; nothing here is written, so reading again is safe."""
    packed = [packed_command(("MGET", *group)) for group in groups]
    if None in packed:  # a key that is not text or bytes: redis-py's encoder decides
        return None
    manager = cluster.nodes_manager
    per_node: dict[str, tuple[ClusterNode, list[int]]] = {}
    for index, group in enumerate(groups):
        node = manager.get_node_from_slot(cluster.keyslot(group[0]))
        per_node.setdefault(node.name, (node, []))[1].append(index)
    replies: list[list[Any]] = [[] for _ in groups]

    async def read(node: ClusterNode, indices: list[int]) -> None:
        connection = node.acquire_connection()
        whole = False  # every reply read: the connection may serve the next command
        try:
            await node.disconnect_if_needed(connection)
            await connection.send_packed_command([b"".join(cast(tuple[bytes], packed[index])) for index in indices])
            for index in indices:
                replies[index] = await connection.read_response()
            whole = True
        finally:
            if not whole:
                await connection.disconnect()
            node.release(connection)

    try:
        async with cluster.turn():
            await asyncio.gather(*(read(node, indices) for node, indices in per_node.values()))
    except (RedisError, OSError):
        return None
    return replies
