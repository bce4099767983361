"""Live state in Redis: load aggregates, commit decisions, read snapshots and history.

This is the only module that knows how aggregates are laid out in Redis; the
layout itself (key names) lives in ``fireflow.hub.live.keys`` and the atomic commit in
``hub/live/lua/commit.lua``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from importlib import resources
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from pydantic import BaseModel
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import (
    AskError,
    ClusterDownError,
    MovedError,
    NoScriptError,
    RedisError,
    ResponseError,
    TryAgainError,
    WatchError,
)
from redis.exceptions import ConnectionError as RedisConnectionError

from fireflow.hub.domain.actors import Actor
from fireflow.hub.domain.decision import Decision, Due
from fireflow.hub.domain.printing import on_manual_list
from fireflow.hub.domain.privacy import may_hold_customer, sees_every_customer, shown_to
from fireflow.hub.domain.setup import LiveSetup
from fireflow.hub.domain.views import LiveState
from fireflow.hub.live.control import SETUP_CHANNEL
from fireflow.hub.live.keys import (
    DAY_MS,
    KEY_CLOSED_ORDERS,
    KEY_COUNTERS,
    KEY_MENU,
    KEY_OPEN_ORDERS,
    KEY_PINS,
    KEY_PRINT_JOBS,
    KEY_PRINT_MANUAL,
    KEY_PRINTER_HEALTH,
    KEY_RESTAURANT,
    KEY_STAFF,
    KEY_STOCK,
    KEY_TABLES,
    KEY_VERSIONS,
    PREP_WINDOW_DAYS,
    RESTAURANTS,
    Keys,
    due_member,
    parse_due_member,
)
from fireflow.hub.live.redis_client import BoundedCluster, get_many, is_cluster
from fireflow.hub.supervise import reraise_if_cancelled
from fireflow.schema.events import OrderChanged
from fireflow.schema.records import (
    Counters,
    KitchenSettings,
    Menu,
    Order,
    OrderStatus,
    PrinterHealth,
    PrintJob,
    Restaurant,
    Stock,
    Table,
    TableStatus,
)
from fireflow.schema.setup import StaffMember

__all__ = [
    "CLAIMED",
    "NESTED_ORDER_IDS",
    "ORDER_ID_FIELDS",
    "Claim",
    "Claimed",
    "CommitOutcome",
    "History",
    "OrderInputs",
    "PrepStat",
    "Refusal",
    "ReplicaTimeout",
    "Store",
    "StoredResult",
    "StreamEntry",
    "acting_as",
    "order_ids_of",
    "visible_head",
]

logger = logging.getLogger(__name__)

_OPEN = (OrderStatus.ACTIVE, OrderStatus.READY)
RESTAURANT_TTL = 5.0
# The device whose command is being committed: each event records it (an order's history says who did what).
ACTING: ContextVar[str] = ContextVar("fireflow_acting", default="")
# How long a command keeps looking for its shard's master while a replica takes over (cluster-node-timeout
# and the election), before it is answered UNAVAILABLE.
FAILOVER_WAIT_S = 15.0
TOPOLOGY_EVERY_S = 5.0
PARSED_MENUS = 2_000  # restaurants whose parsed menu a node keeps (records are frozen: shared safely)
ARCHIVED_READS = 10_000  # orders read from the archive and not yet committed, remembered per node
# Open orders this node committed last, kept for the commands that follow them at once (``Store.committed_order``):
# a fire's 8 acknowledgements come within milliseconds: 512 is two and a half seconds of fires at 200 a second. Few,
# as every order kept is some hundreds of objects the collector walks (4,096 took the node's RSS up by 80 MiB and
# its p99 fire->screen from 11 to 58 ms in ``bench kitchen``).
COMMITTED_ORDERS = 512
SNAPSHOT_ATTEMPTS = 50  # 2 ms apart: a snapshot waits this long at most for a command's replica
SETUP_ATTEMPTS = 20  # a whole-setup write retried while commands keep landing in between


@dataclass(slots=True)
class Claimed:
    """The claim a copy of a command holds while it runs (bus.one_copy_at_a_time): the commit that stores the
    command's answer lets go of it too, and says so in ``released``."""

    rid: str
    command_id: str
    token: str
    released: bool = False


CLAIMED: ContextVar[Claimed | None] = ContextVar("fireflow_claimed", default=None)


@contextlib.contextmanager
def acting_as(device: str) -> Iterator[None]:
    """Every commit inside this block (in this task) records ``device`` on its events."""
    token = ACTING.set(device)
    try:
        yield
    finally:
        ACTING.reset(token)


@dataclass(frozen=True, slots=True)
class StoredResult:
    """A command's first result, as every retry of it will see it."""

    fingerprint: str
    offset: int
    result_json: bytes  # as committed: an answer embeds it (``answer``), neither parsed nor encoded again

    @property
    def result(self) -> dict[str, Any]:
        return cast(dict[str, Any], orjson.loads(self.result_json))

    def answer(self) -> orjson.Fragment:
        """The result for a frame: JSON as it is, msgpack from its parse (``fireflow.hub.live.codec``)."""
        return orjson.Fragment(self.result_json)

    def answer_to(self, actor: Actor) -> Any:
        """The result as ``actor`` may see it (``hub/domain/privacy.py``): as committed, unless it names a delivery
        customer that reader may not see, which is blanked. The look is a substring search; a parse only then."""
        if sees_every_customer(actor.role) or not may_hold_customer(self.result_json):
            return self.answer()
        return shown_to(actor, self.result)

    @classmethod
    def parse(cls, raw: bytes) -> StoredResult:
        doc = orjson.loads(raw)
        return cls(doc["fp"], doc["offset"], orjson.dumps(doc["result"]))


@dataclass(frozen=True, slots=True)
class Refusal:
    """How a copy of a command id was refused, kept a few seconds for its twins."""

    fingerprint: str
    code: str
    message: str
    details: dict[str, Any] | None

    @classmethod
    def parse(cls, raw: bytes) -> Refusal:
        doc = orjson.loads(raw)
        return cls(doc["fp"], doc["code"], doc["message"], doc["details"])

    def dump(self) -> bytes:
        return orjson.dumps(
            {"fp": self.fingerprint, "code": self.code, "message": self.message, "details": self.details}
        )


@dataclass(frozen=True, slots=True)
class Claim:
    """What claiming a command id found: whether this copy holds it, and what a twin already answered."""

    held: bool
    stored: StoredResult | None
    refusal: Refusal | None


@dataclass(frozen=True, slots=True)
class CommitOutcome:
    stored: StoredResult | None  # None on a version conflict
    duplicate: bool = False
    conflict: str | None = None


@dataclass(frozen=True, slots=True)
class StreamEntry:
    """One committed event as it sits in the stream; ``data`` is JSON bytes, never re-encoded."""

    offset: int
    type: bytes
    channels: bytes  # space-separated
    data: bytes
    ts: bytes
    actor: bytes = b""  # the device whose command committed it ("hub" for the hub's own timers)
    order_ids: bytes | None = None  # space-separated (``order_ids_of``); None in an entry an older hub wrote

    @classmethod
    def from_redis(cls, entry_id: bytes, fields: dict[bytes, bytes]) -> StreamEntry:
        offset = int(entry_id.partition(b"-")[0])
        return cls(
            offset, fields[b"t"], fields[b"c"], fields[b"d"], fields[b"ts"], fields.get(b"a", b""), fields.get(b"o")
        )

    def channel_list(self) -> list[str]:
        return self.channels.decode().split(" ")


@dataclass(frozen=True, slots=True)
class OrderInputs:
    """An order (None: there is none) and what a command on it read with it (``Store.order_inputs``)."""

    order: Order | None
    counters: Counters
    stock: dict[str, Stock]
    live_stations: set[str]
    menu: Menu | None


@dataclass(frozen=True, slots=True)
class PrepStat:
    station: str
    menu_item_id: str
    count: int
    mean_ms: int
    min_ms: int
    max_ms: int


@dataclass(frozen=True, slots=True)
class History:
    offset: int
    epoch: str
    entries: list[StreamEntry] | None  # None when the requested history is gone


def _when(raw: bytes | None) -> int | None:
    """A due set's score as the script answers it (text), or None for an empty set."""
    return None if raw is None else int(float(raw))


def _text(raw: bytes | str | None) -> str:
    if raw is None:
        return ""
    return raw.decode() if isinstance(raw, bytes) else raw


def visible_head(seq: Any, acked: Any) -> int:
    """The offset readers may see: the acknowledged one, or the sequence where none is kept yet."""
    return int(acked) if acked is not None else int(seq or 0)


async def _then_wait(cluster: BoundedCluster, node: Any, command: tuple[Any, ...], wait: tuple[Any, ...]) -> Any:
    """``command`` then WAIT on one connection of ``node``, in one of the client's turns: both replies."""
    async with cluster.turn():
        conn = node.acquire_connection()
        try:
            await conn.send_packed_command(conn.pack_commands([command, wait]))
            refused: ResponseError | None = None
            try:
                reply = await conn.read_response()
            except ResponseError as exc:  # Redis answered with an error: WAIT's answer still follows
                refused = exc
            # Only after an answer: a cancelled or broken read must surface as itself, not be replaced by
            # this second read's failure (a cancellation turned ConnectionError would be retried for good).
            held = await conn.read_response()
        except BaseException:
            await conn.disconnect()  # it failed, or a reply may be left unread on it
            raise
        finally:
            node.release(conn)
        if refused is not None:
            raise refused  # both replies read: the connection is clean
        return reply, held


def _merge_stat(what: str, before: int | None, value: int) -> int:
    """Two days' ``n``, ``sum``, ``min`` or ``max`` of one station and item, as one."""
    if before is None:
        return value
    if what == "min":
        return min(before, value)
    if what == "max":
        return max(before, value)
    return before + value


def _pairs(fields: list[bytes]) -> dict[bytes, bytes]:
    """A stream entry's fields as a script returns them (a flat list) as redis-py's XRANGE gives them."""
    return dict(zip(fields[::2], fields[1::2], strict=True))


def _stations(members: Any) -> set[str]:
    """Station names of ``screens`` members (``<station>|<node>``)."""
    return {_text(m).partition("|")[0] for m in members}


def _entries(events: list[tuple[str, str, bytes, str]], last: int, now: int, actor: str) -> list[StreamEntry]:
    """The stream entries commit.lua made of ``events`` (the last at offset ``last``), byte for byte."""
    first = last - len(events) + 1
    ts, by = str(now).encode(), actor.encode()
    return [
        StreamEntry(first + i, kind.encode(), channels.encode(), data, ts, by, ids.encode())
        for i, (kind, channels, data, ids) in enumerate(events)
    ]


# Where an event's data names the orders it is about: here on the typed record, in ``durable.orders_in`` on
# the JSON of an entry an older hub wrote. One rule for both.
ORDER_ID_FIELDS = ("order_id", "into_order_id", "from_order_id")  # an order's id, as the event's own field
NESTED_ORDER_IDS = (("order", "id"), ("ticket", "order_id"), ("alert", "order_id"))  # ... or a record's in it
_ID_PLANS: dict[type, tuple[tuple[str, str], ...]] = {}


def _id_plan(cls: type[BaseModel]) -> tuple[tuple[str, str], ...]:
    """Where an event type holds order ids: (field, "") for a field, (field, "*") for a list, (field, inner)."""
    fields = cls.model_fields
    plan = [(name, "") for name in ORDER_ID_FIELDS if name in fields]
    plan += [("order_ids", "*")] if "order_ids" in fields else []
    plan += [(name, inner) for name, inner in NESTED_ORDER_IDS if name in fields]
    return tuple(plan)


def order_ids_of(data: BaseModel) -> str:
    """The ids of the orders an event is about (an order, a ticket's, a payment's, a bill's), sorted and
    space-separated: the events table's ``order_ids``. Read off the record at commit, where it is typed: the
    durable writer parsed every event's JSON for them, two fifths of its CPU in ``bench kitchen``."""
    cls = type(data)
    plan = _ID_PLANS.get(cls)
    if plan is None:
        plan = _ID_PLANS[cls] = _id_plan(cls)
    found: set[str] = set()
    for name, inner in plan:
        value = getattr(data, name)
        if inner == "":
            if isinstance(value, str):
                found.add(value)
        elif inner == "*":
            if isinstance(value, list | tuple):
                found.update(v for v in value if isinstance(v, str))
        else:
            nested = getattr(value, inner, None) if isinstance(value, BaseModel) else None
            if isinstance(nested, str):
                found.add(nested)
    return " ".join(sorted(found))


def _json(model: Any) -> str:
    return str(model.model_dump_json())


def _json_bytes(model: Any) -> bytes:
    """``model_dump_json`` without its decode: a commit hands Redis and the fan-out bytes."""
    return bytes(model.__pydantic_serializer__.to_json(model))


def _event_json(data: Any, bodies: Mapping[int, bytes]) -> bytes:
    """An event's data as JSON. The whole order an event carries (ORDER_UPDATED, ORDER_FIRED...) is
    spliced in as this commit already encoded it for its hash: the largest event, encoded once."""
    if type(data) is OrderChanged:
        body = bodies.get(id(data.order))
        if body is not None:
            return b'{"order":' + body + b"}"
    return _json_bytes(data)


# What a decision may write or tell besides its answer: every field of Decision but the answer and how it is kept.
_WRITES = tuple(f.name for f in dataclasses.fields(Decision) if f.name not in ("result", "result_ttl", "noted"))


def answers_only(decision: Decision) -> bool:
    """Whether ``decision`` changes nothing and tells nothing: its commit is its answer alone (``lua/answer.lua``)."""
    return not any(getattr(decision, name) for name in _WRITES)


def _held_claim(rid: str, command_id: str) -> Claimed | None:
    """The running copy's claim, which this commit's answer lets go of; None for another command's commit (a
    payment's lock, its revenue), whose claim stays."""
    held = CLAIMED.get()
    return held if held is not None and (held.rid, held.command_id) == (rid, command_id) else None


def _encoder(bodies: Mapping[int, bytes]) -> Callable[[Any], Any]:
    """orjson's hook for a result's records (a decision's result holds the order itself, not its dump):
    the order as this commit encoded it for its hash, any other record encoded now."""

    def encoded(value: Any) -> Any:
        if isinstance(value, BaseModel):
            return orjson.Fragment(bodies.get(id(value)) or _json_bytes(value))
        raise TypeError(f"a result cannot hold {type(value).__name__}")

    return encoded


class ReplicaTimeout(RedisError):
    """The command is on the master but no replica confirmed it in time: it is not acknowledged (UNAVAILABLE).

    A retry with the same id is answered from the stored result once a replica holds it."""


class Store:
    def __init__(
        self,
        redis: Redis,
        *,
        history: int = 10_000,
        result_ttl: int = 86_400,
        durable: bool = True,
        replicas: int = 1,
        replica_wait_ms: int = 500,
        archived: Callable[[str, str], Awaitable[Order | None]] | None = None,
    ) -> None:
        self.redis = redis
        # Where an order that has left Redis is read (the archive in Postgres), and which were read there.
        self.archived = archived
        self._from_archive: dict[tuple[str, str], int] = {}
        self._committed: OrderedDict[tuple[str, str], Order] = OrderedDict()
        # On a cluster, a command is acknowledged once this many replicas of its shard hold it.
        self.replicas = replicas if is_cluster(redis) else 0
        self.replica_wait_ms = replica_wait_ms
        self.unreplicated = 0  # commands acknowledged with fewer replicas than asked (a shard's replica failed)
        self._topology_at = 0.0
        self._replicas_of: dict[str, int] | None = None  # master host:port -> replicas serving with it
        # With a durable writer, history is only trimmed below what it has stored in Postgres.
        self.durable = durable
        # Told when each commit of this node starts (``on_commit``) and, when it ends however it ends, the events
        # readers may now see (``on_visible``: none for a conflict, a repeated id or a failure). The node's fan-out
        # delivers them without reading them back, and holds a read woken meanwhile until then. Neither may raise.
        self.on_commit: Callable[[str], None] | None = None
        self.on_visible: Callable[[str, list[StreamEntry]], None] | None = None
        self._restaurants: dict[str, tuple[float, bytes | None, Restaurant | None]] = {}  # read at, as stored, parsed
        self._menus: dict[str, tuple[bytes | str, Menu]] = {}  # rid -> the stored bytes and their parse
        self.history = history
        self.result_ttl = result_ttl
        source = resources.files("fireflow.hub.live").joinpath("lua/commit.lua").read_text()
        self._commit = redis.register_script(source)
        self._ack = redis.register_script(resources.files("fireflow.hub.live").joinpath("lua/ack.lua").read_text())
        self._answer = redis.register_script(
            resources.files("fireflow.hub.live").joinpath("lua/answer.lua").read_text()
        )
        self._unclaim = redis.register_script(
            resources.files("fireflow.hub.live").joinpath("lua/unclaim.lua").read_text()
        )
        self._claim = redis.register_script(resources.files("fireflow.hub.live").joinpath("lua/claim.lua").read_text())
        self._order_inputs = redis.register_script(
            resources.files("fireflow.hub.live").joinpath("lua/order_inputs.lua").read_text()
        )
        self._reads = redis.register_script(resources.files("fireflow.hub.live").joinpath("lua/reads.lua").read_text())
        self._due = redis.register_script(resources.files("fireflow.hub.live").joinpath("lua/due.lua").read_text())

    # -- restaurants ------------------------------------------------------

    async def put_restaurant(self, restaurant: Restaurant, menu: Menu, tables: list[Table]) -> None:
        """Create or replace a restaurant's setup; open orders and their tables' states are kept."""
        k = Keys(restaurant.id)
        self._restaurants.pop(restaurant.id, None)  # other nodes see the change within RESTAURANT_TTL
        existing = {t.id: t for t in await self.tables(restaurant.id)}
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(k.restaurant, _json(restaurant))
            pipe.hset(k.versions, "restaurant", restaurant.version)
            pipe.set(k.menu, _json(menu))
            for table in tables:
                keep = existing.get(table.id)
                if keep is None:
                    pipe.hset(k.tables, table.id, _json(table))
                    pipe.hset(k.versions, f"table:{table.id}", table.version)
            pipe.set(k.epoch, secrets.token_hex(8), nx=True)
            await pipe.execute()
        await self.redis.sadd(RESTAURANTS, restaurant.id)  # global, so in a slot of its own on a cluster

    async def put_setup(self, setup: LiveSetup, pin_hashes: Mapping[str, str]) -> list[str]:
        """Replace a restaurant's whole setup at once; open orders and tables' live states are kept.

        A table keeps its status, order and version and takes its new name, seats and place. A table
        the setup no longer has is removed, unless it is in use: then nothing is written and the
        tables in use are returned. The staff and their PIN hashes are replaced, so a person no
        longer in the setup can no longer approve. Tables are read and written under WATCH: a
        command committed in between (a table taken) makes it read again, never overwrites it.
        """
        rid = setup.restaurant.id
        k = Keys(rid)
        wanted = {t.id for t in setup.tables}
        async with self.redis.pipeline(transaction=True) as pipe:
            for _ in range(SETUP_ATTEMPTS):
                try:
                    await pipe.watch(k.versions, k.tables)
                    existing = {t.id: t for t in (Table.model_validate_json(v) for v in await pipe.hvals(k.tables))}
                    gone = sorted(existing.keys() - wanted)
                    in_use = [i for i in gone if existing[i].order_id or existing[i].status is not TableStatus.FREE]
                    if in_use:
                        await pipe.reset()  # type: ignore[no-untyped-call]
                        return in_use
                    pipe.multi()  # type: ignore[no-untyped-call]
                    self._setup_writes(pipe, k, setup, existing, gone, pin_hashes)
                    await pipe.execute()
                    await self.redis.sadd(RESTAURANTS, rid)
                    break
                except WatchError:
                    continue
            else:
                raise ConnectionError(f"the setup of {rid} kept changing under {SETUP_ATTEMPTS} attempts; try again")
        self._restaurants.pop(rid, None)
        await self.redis.publish(SETUP_CHANNEL, rid)  # every node drops its cached settings (hub.live.control)
        return []

    @staticmethod
    def _setup_writes(
        pipe: Any, k: Keys, setup: LiveSetup, existing: dict[str, Table], gone: list[str], pins: Mapping[str, str]
    ) -> None:
        pipe.set(k.restaurant, _json(setup.restaurant))
        pipe.hset(k.versions, "restaurant", setup.restaurant.version)
        pipe.set(k.menu, _json(setup.menu))
        pipe.hset(k.versions, "menu", setup.menu.version)
        for table in setup.tables:
            old = existing.get(table.id)
            if old is not None:
                place = {"name": table.name, "seats": table.seats, "area": table.area, "x": table.x, "y": table.y}
                table = old.model_copy(update=place | {"version": old.version + 1})
            pipe.hset(k.tables, table.id, _json(table))
            pipe.hset(k.versions, f"table:{table.id}", table.version)
        for table_id in gone:
            pipe.hdel(k.tables, table_id)
            pipe.hdel(k.versions, f"table:{table_id}")
        pipe.delete(k.staff, k.pins)
        if setup.staff:
            pipe.hset(k.staff, mapping={s.id: _json(s) for s in setup.staff})
        if pins:
            pipe.hset(k.pins, mapping={person: hashed for person, hashed in pins.items()})
        pipe.set(k.epoch, secrets.token_hex(8), nx=True)

    async def print_job(self, rid: str, job_id: str) -> PrintJob | None:
        raw = await self.redis.hget(Keys(rid).print_jobs, job_id)
        return PrintJob.model_validate_json(raw) if raw else None

    async def printer_health(self, rid: str) -> dict[str, PrinterHealth]:
        """Printer id -> what a print agent last said of it (printers never reported have none)."""
        values = await self.redis.hvals(Keys(rid).printer_health)
        return {h.printer: h for h in (PrinterHealth.model_validate_json(v) for v in values)}

    async def print_agent_connected(self, rid: str, agent: str, now_ms: int) -> bool:
        """Whether the print agent ``agent`` has a socket on any node (``print_agents`` members still live)."""
        members: Any = await self.redis.zrangebyscore(Keys(rid).print_agents, now_ms, "+inf")
        return any(_text(m).rpartition("|")[0] == agent for m in members)

    async def staff(self, rid: str) -> list[StaffMember]:
        values = await self.redis.hvals(Keys(rid).staff)
        return sorted((StaffMember.model_validate_json(v) for v in values), key=lambda s: s.id)

    async def pin_hashes(self, rid: str) -> dict[str, str]:
        """Staff id -> the argon2 hash of their PIN (what an export carries; never a PIN)."""
        stored: dict[bytes, bytes] = await self.redis.hgetall(Keys(rid).pins)  # type: ignore[assignment]
        return {k.decode(): v.decode() for k, v in stored.items()}

    def forget(self, rid: str | None = None) -> None:
        """Drop this node's cached settings of ``rid`` (every restaurant's without one): they changed elsewhere."""
        if rid is None:
            self._restaurants.clear()
        else:
            self._restaurants.pop(rid, None)

    async def restaurant_ids(self) -> list[str]:
        members = await self.redis.smembers(RESTAURANTS)
        return sorted(m.decode() if isinstance(m, bytes) else m for m in members)

    async def restaurant(self, rid: str, *, fresh: bool = False) -> Restaurant | None:
        """A restaurant's settings, cached for a few seconds: read on every open and fire, changed rarely.

        Read again after that, they are parsed again only when their bytes changed (a restaurant's settings, with
        their validators, cost more to parse than an order: 1 % of the node in ``bench kitchen`` when parsed on
        every read)."""
        if not fresh and not self._restaurant_due(rid):
            return self._restaurants[rid][2]
        return self._keep_restaurant(rid, await self.redis.get(Keys(rid).restaurant))

    def _restaurant_due(self, rid: str) -> bool:
        """Whether this node's copy of ``rid``'s settings is missing or old enough to be read again."""
        cached = self._restaurants.get(rid)
        return cached is None or time.monotonic() - cached[0] >= RESTAURANT_TTL

    def _keep_restaurant(self, rid: str, raw: Any) -> Restaurant | None:
        """Settings as just read (bytes, or None for a restaurant never set up), kept; parsed if they changed."""
        cached = self._restaurants.get(rid)
        if cached is not None and raw == cached[1]:
            restaurant = cached[2]
        else:
            restaurant = Restaurant.model_validate_json(raw) if raw else None
        self._restaurants[rid] = (time.monotonic(), raw, restaurant)
        return restaurant

    async def zone(self, rid: str) -> ZoneInfo:
        """The restaurant's timezone (UTC for one never set up, or named a zone this machine does not know)."""
        restaurant = await self.restaurant(rid)
        try:
            return ZoneInfo(restaurant.timezone if restaurant else "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")

    async def menu(self, rid: str) -> Menu | None:
        """The menu as stored now; parsed only when its bytes changed (a menu is read by most commands)."""
        return self._menu_of(rid, await self.redis.get(Keys(rid).menu))

    def _menu_of(self, rid: str, raw: bytes | str | None) -> Menu | None:
        if not raw:
            return None
        cached = self._menus.get(rid)
        if cached is not None and cached[0] == raw:
            return cached[1]
        if len(self._menus) >= PARSED_MENUS:
            self._menus.clear()
        menu = Menu.model_validate_json(raw)
        self._menus[rid] = (raw, menu)
        return menu

    # -- aggregates -------------------------------------------------------

    async def order(self, rid: str, order_id: str) -> Order | None:
        """An order from Redis, or from the archive once it has left (``fireflow.hub.books.archive``)."""
        k = Keys(rid)
        raw = await self.redis.hget(k.open_orders, order_id)
        if raw is None:
            raw = await self.redis.hget(k.closed_orders, order_id)
        if raw:
            return Order.model_validate_json(raw)
        if self.archived is None:
            return None
        order = await self.archived(rid, order_id)
        if order is not None:
            if len(self._from_archive) > ARCHIVED_READS:
                self._from_archive.clear()  # reads never followed by a commit; a commit after this conflicts
            self._from_archive[(rid, order.id)] = order.revision
        return order

    def committed_order(self, rid: str, order_id: str) -> Order | None:
        """The order as this node last committed it, if it did lately: maybe no longer the latest (another node's
        command, or one of this node's still committing), so only for a decision that writes the order, whose
        commit checks its revision and answers a conflict (which forgets it here: the retry reads Redis)."""
        return self._committed.get((rid, order_id))

    def _note_committed(self, rid: str, orders: Sequence[Order], kept: bool) -> None:
        for order in orders:
            key = (rid, order.id)
            if kept and order.status in _OPEN:
                self._committed[key] = order
                self._committed.move_to_end(key)
            else:
                self._committed.pop(key, None)
        while len(self._committed) > COMMITTED_ORDERS:
            self._committed.popitem(last=False)

    async def order_inputs(
        self,
        rid: str,
        order_id: str,
        now_ms: int,
        *,
        kitchen: bool = False,
        menu: bool = False,
        items: Sequence[str] = (),
    ) -> OrderInputs:
        """An order and what a command on it reads besides, in one round trip (``lua/order_inputs.lua``).

        ``kitchen``: the day's counters, the stations with a live screen and the stock of the order's
        items; ``menu``: the menu; ``items``: more menu items whose stock to read. The restaurant's settings
        come with them when this node's copy is due to be read again (``restaurant``): a restaurant firing
        less often than that, as every real one does, would otherwise read them in a round trip of their own.
        """
        k = Keys(rid)
        keys = [k.open_orders, k.closed_orders, k.counters, k.stock, k.screens, k.menu, k.restaurant]
        settings = self._restaurant_due(rid)
        args = [order_id, now_ms, "1" if kitchen else "0", "1" if menu else "0", "1" if settings else "0", *items]
        raw, counters, stock, screens, menu_raw, settings_raw = await self._order_inputs(keys=keys, args=args)
        if settings:
            self._keep_restaurant(rid, settings_raw)
        order = Order.model_validate_json(raw) if raw else None
        records = {r.menu_item_id: r for r in (Stock.model_validate_json(v) for v in stock)}
        if order is None and self.archived is not None:  # left Redis: read back from the archive (rare)
            order = await self.order(rid, order_id)
            if order is not None and kitchen:
                records |= await self.stock(rid, [i.menu_item_id for i in order.items])
        return OrderInputs(
            order,
            Counters.model_validate_json(counters) if counters else Counters(),
            records,
            _stations(screens),
            self._menu_of(rid, menu_raw) if menu else None,
        )

    async def open_orders(self, rid: str) -> list[Order]:
        values = await self.redis.hvals(Keys(rid).open_orders)
        return sorted((Order.model_validate_json(v) for v in values), key=lambda o: (o.created_at, o.number))

    async def open_orders_of(self, rid: str, order_ids: Sequence[str]) -> list[Order]:
        """Those of ``order_ids`` that are open (one HMGET: a few orders of a busy restaurant, not all of them)."""
        if not order_ids:
            return []
        values = await self.redis.hmget(Keys(rid).open_orders, list(order_ids))
        return [Order.model_validate_json(v) for v in values if v]

    async def table(self, rid: str, table_id: str) -> Table | None:
        raw = await self.redis.hget(Keys(rid).tables, table_id)
        return Table.model_validate_json(raw) if raw else None

    async def tables(self, rid: str) -> list[Table]:
        values = await self.redis.hvals(Keys(rid).tables)
        return sorted((Table.model_validate_json(v) for v in values), key=lambda t: t.id)

    async def stock(self, rid: str, menu_item_ids: list[str] | None = None) -> dict[str, Stock]:
        """The stock records of these items (those that have one), or of every item."""
        k = Keys(rid)
        if menu_item_ids is None:
            values = list((await self.redis.hgetall(k.stock)).values())
        elif menu_item_ids:
            values = [v for v in await self.redis.hmget(k.stock, sorted(set(menu_item_ids))) if v]
        else:
            values = []
        return {s.menu_item_id: s for s in (Stock.model_validate_json(v) for v in values)}

    async def live_stations(self, rid: str, now_ms: int) -> set[str]:
        """Stations with at least one live screen on any node."""
        return _stations(await self.redis.zrangebyscore(Keys(rid).screens, now_ms, "+inf"))

    async def due(self, rids: list[str], now_ms: int, limit: int = 100) -> dict[str, list[Due]]:
        """Checks that are due now, per restaurant (one round trip for all of them)."""
        found, _ = await self.due_and_next(rids, now_ms, limit)
        return found

    async def _due_now(
        self, rids: list[str], now_ms: int, limit: int
    ) -> list[tuple[list[tuple[bytes, int]], int | None]]:
        """Per restaurant: its checks due now (member, when), and when its first falls due (None: it has none).

        One call of ``lua/due.lua`` on one Redis: the pipeline of two reads a restaurant it replaced cost the
        node 37 µs a restaurant (redis-py packing each command and reading each reply under a timeout of its
        own), every due tick, for every restaurant a commit woke. On a cluster a script's keys share one slot,
        so there the reads stay pipelined, per node."""
        if not rids:
            return []
        if not is_cluster(self.redis):
            replies = await self._due(keys=[Keys(rid).due for rid in rids], args=[now_ms, limit])
            return [
                ([(flat[i], int(float(flat[i + 1]))) for i in range(0, len(flat), 2)], _when(earliest))
                for flat, earliest in replies
            ]
        async with self.redis.pipeline(transaction=False) as pipe:
            for rid in rids:
                pipe.zrangebyscore(Keys(rid).due, "-inf", now_ms, start=0, num=limit, withscores=True)
                pipe.zrange(Keys(rid).due, 0, 0, withscores=True)
            piped = await pipe.execute()
        return [
            ([(raw, int(score)) for raw, score in members], int(earliest[0][1]) if earliest else None)
            for members, earliest in zip(piped[::2], piped[1::2], strict=True)
        ]

    async def due_and_next(
        self, rids: list[str], now_ms: int, limit: int = 100
    ) -> tuple[dict[str, list[Due]], dict[str, int]]:
        """Checks due now per restaurant, and when each restaurant's first check falls due (none: absent).

        A member this hub cannot read (written by a newer one, or damaged) is logged and dropped.
        """
        found: dict[str, list[Due]] = {}
        first: dict[str, int] = {}
        for rid, (members, earliest) in zip(rids, await self._due_now(rids, now_ms, limit), strict=True):
            if earliest is not None:
                first[rid] = earliest
            for raw, score in members:
                member = _text(raw)
                parsed = parse_due_member(member)
                if parsed is None:
                    logger.error("unknown due check %r of %s; dropping it", member, rid)
                    await self.redis.zrem(Keys(rid).due, member)
                    continue
                found.setdefault(rid, []).append(Due(*parsed, int(score)))
        return found, first

    async def drop_due(self, rid: str, due: Due) -> None:
        """Forget a due check outside a commit (what it was about is gone)."""
        await self.redis.zrem(Keys(rid).due, due_member(due.kind, due.subject))

    async def prep_stats(self, rid: str, now_ms: int | None = None) -> list[PrepStat]:
        """Fire-to-done statistics of the last PREP_WINDOW_DAYS days, per station and menu item."""
        k = Keys(rid)
        today = (int(time.time() * 1000) if now_ms is None else now_ms) // DAY_MS
        async with self.redis.pipeline(transaction=False) as pipe:
            for day in range(today - PREP_WINDOW_DAYS + 1, today + 1):
                pipe.hgetall(k.prep(day))
            days: list[dict[bytes, bytes]] = await pipe.execute()
        fields: dict[tuple[str, str], dict[str, int]] = {}
        for raw in days:
            for key, value in raw.items():
                station, item, what = _text(key).split("|")
                found = fields.setdefault((station, item), {})
                found[what] = _merge_stat(what, found.get(what), int(value))
        return [
            PrepStat(station, item, f["n"], f["sum"] // max(f["n"], 1), f.get("min", 0), f.get("max", 0))
            for (station, item), f in sorted(fields.items())
        ]

    async def counters(self, rid: str) -> Counters:
        raw = await self.redis.get(Keys(rid).counters)
        return Counters.model_validate_json(raw) if raw else Counters()

    # -- commands ---------------------------------------------------------

    async def stored_result(self, rid: str, command_id: str) -> StoredResult | None:
        k = Keys(rid)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(k.command(command_id))
            pipe.get(k.acked)
            raw, acked = await pipe.execute()
        return await self._confirmed(k, command_id, raw, acked)

    async def _confirmed(self, k: Keys, command_id: str, raw: Any, acked: Any) -> StoredResult | None:
        """A stored result, acknowledged before it is answered: one whose command no replica had confirmed
        (its first answer was UNAVAILABLE) is confirmed now and its events made visible."""
        if not isinstance(raw, bytes):
            return None
        stored = StoredResult.parse(raw)
        if self.replicas > 0 and acked is not None and stored.offset > int(acked):
            await self._replicated(k, ("SET", k.command(command_id), raw, "KEEPTTL"))  # a write for WAIT to count
            await self._ack(keys=[k.acked], args=[stored.offset, k.wake])
        return stored

    async def claim(self, rid: str, command_id: str, token: str, ms: int) -> Claim:
        """Claim a command id for one running copy, for ``ms`` at most, and read what its twins answered.

        One round trip (``lua/claim.lua``). ``held`` is False while another copy holds the id; a claim of
        ours whose first reply was lost (and the command retried) is still ours.
        """
        k = Keys(rid)
        holder, stored, refused, acked = await self._claim(
            keys=[k.running(command_id), k.command(command_id), k.refused(command_id), k.acked], args=[token, ms]
        )
        return Claim(
            held=holder == token.encode(),
            stored=await self._confirmed(k, command_id, stored, acked),
            refusal=Refusal.parse(refused) if isinstance(refused, bytes) else None,
        )

    async def unclaim(
        self, rid: str, command_id: str, token: str, refusal: Refusal | None = None, refusal_ms: int = 0
    ) -> None:
        """Let go of a claim taken with ``token`` (another copy's is left alone), leaving ``refusal`` for the twins."""
        k = Keys(rid)
        if refusal is not None:  # first, so a twin that claims next finds it
            await self.redis.set(k.refused(command_id), refusal.dump(), px=refusal_ms)
        await self._unclaim(keys=[k.running(command_id)], args=[token])

    async def commit(self, rid: str, command_id: str, fingerprint: str, decision: Decision, now: int) -> CommitOutcome:
        on_visible = self.on_visible
        if on_visible is None:
            return (await self._commit_decision(rid, command_id, fingerprint, decision, now))[0]
        if self.on_commit is not None:
            self.on_commit(rid)
        handed: list[StreamEntry] = []
        try:
            outcome, handed = await self._commit_decision(rid, command_id, fingerprint, decision, now)
            return outcome
        finally:
            try:
                on_visible(rid, handed)
            except Exception:  # committed all the same: the feed reads them back (its wake-up and tick)
                logger.exception("handing %s's committed events to the fan-out failed", rid)

    async def _commit_decision(
        self, rid: str, command_id: str, fingerprint: str, decision: Decision, now: int
    ) -> tuple[CommitOutcome, list[StreamEntry]]:
        """The commit, and the stream entries it made (none for a conflict or a repeated id)."""
        if not self.replicas and answers_only(decision):
            return await self._store_answer(rid, command_id, fingerprint, decision), []
        k = Keys(rid)
        checks: list[tuple[str, int] | tuple[str, int, int]] = []  # field, expected[, archived]
        hset: list[tuple[int, str, int, str, int]] = []  # key, field, ARGV index, version field, version
        hdel: list[tuple[int, str]] = []
        sets: list[tuple[int, int, str, int]] = []  # key, ARGV index, version field, version
        bodies: dict[int, bytes] = {}  # id(order) -> its JSON, for the events that carry it
        blobs: list[bytes] = []  # records' and events' JSON: ARGV[3...], each passed to Redis as it is

        def blob(data: bytes) -> int:
            """``data`` as an argument of its own, by its ARGV index: the script's JSON holds only the small
            parts, so Redis decodes no record twice and the hub escapes none into a string."""
            blobs.append(data)
            return len(blobs) + 2

        for order in decision.orders:
            field = f"order:{order.id}"
            # an order read back from the archive has no version in Redis: its check passes on that alone
            archived = self._from_archive.pop((rid, order.id), None) == order.revision - 1
            checks.append((field, order.revision - 1, 1 if archived else 0))
            is_open = order.status in _OPEN
            body = bodies[id(order)] = _json_bytes(order)
            hset.append(
                (KEY_OPEN_ORDERS if is_open else KEY_CLOSED_ORDERS, order.id, blob(body), field, order.revision)
            )
            hdel.append((KEY_CLOSED_ORDERS if is_open else KEY_OPEN_ORDERS, order.id))
        for table in decision.tables:
            field = f"table:{table.id}"
            checks.append((field, table.version - 1))
            hset.append((KEY_TABLES, table.id, blob(_json_bytes(table)), field, table.version))
        for stock in decision.stock:
            field = f"stock:{stock.menu_item_id}"
            checks.append((field, stock.version - 1))
            hset.append((KEY_STOCK, stock.menu_item_id, blob(_json_bytes(stock)), field, stock.version))
        for table in decision.dropped_tables:  # the record and its version go: an id used again starts over
            checks.append((f"table:{table.id}", table.version))  # as it was when found free
            hdel.append((KEY_TABLES, table.id))
            hdel.append((KEY_VERSIONS, f"table:{table.id}"))
        for job in decision.print_jobs:  # version 1 is made only if no job has this id: one per ticket
            field = f"job:{job.id}"
            checks.append((field, job.version - 1))
            arg = blob(_json_bytes(job))
            hset.append((KEY_PRINT_JOBS, job.id, arg, field, job.version))
            if on_manual_list(job):  # mirrored where the screens' snapshots read it, while it stands
                hset.append((KEY_PRINT_MANUAL, job.id, arg, field, job.version))
            elif job.manual_since is not None:
                hdel.append((KEY_PRINT_MANUAL, job.id))
        hdel += [(KEY_PRINT_JOBS, job_id) for job_id in decision.dropped_print_jobs]  # the version stays: no reuse
        for health in decision.printer_health:
            field = f"health:{health.printer}"
            checks.append((field, health.version - 1))
            hset.append((KEY_PRINTER_HEALTH, health.printer, blob(_json_bytes(health)), field, health.version))
        if decision.menu is not None:
            checks.append(("menu", decision.menu.version - 1))
            sets.append((KEY_MENU, blob(_json_bytes(decision.menu)), "menu", decision.menu.version))
        if decision.restaurant is not None:
            checks.append(("restaurant", decision.restaurant.version - 1))
            sets.append(
                (KEY_RESTAURANT, blob(_json_bytes(decision.restaurant)), "restaurant", decision.restaurant.version)
            )
            self._restaurants.pop(rid, None)  # other nodes drop theirs on the script's message (hub.live.control)
            # staff changes ride on the restaurant's version: its check above guards them
            version = decision.restaurant.version
            hset += [(KEY_STAFF, p.id, blob(_json_bytes(p)), "restaurant", version) for p in decision.staff]
            hset += [
                (KEY_PINS, who, blob(hashed.encode()), "restaurant", version)
                for who, hashed in decision.pin_hashes.items()
            ]
            hdel += [(key, who) for who in decision.dropped_staff for key in (KEY_STAFF, KEY_PINS)]
            hdel += [(KEY_PINS, who) for who in decision.dropped_pins]
        if decision.counters is not None:
            checks.append(("counters", decision.counters.version - 1))
            sets.append((KEY_COUNTERS, blob(_json_bytes(decision.counters)), "counters", decision.counters.version))
        events = [
            (ev.type, " ".join(ev.channels), _event_json(ev.data, bodies), order_ids_of(ev.data))
            for ev in decision.events
        ]
        result = orjson.dumps(decision.result, default=_encoder(bodies))
        actor = ACTING.get()
        held = _held_claim(rid, command_id)
        payload = {
            "checks": checks,
            "hset": hset,
            "hdel": hdel,
            "set": sets,
            "events": [(kind, channels, blob(data), ids) for kind, channels, data, ids in events],
            "zadd": [(due_member(d.kind, d.subject), d.at) for d in decision.due if d.at is not None],
            "zrem": [due_member(d.kind, d.subject) for d in decision.due if d.at is None],
            "prep": [(f"{p.station}|{p.menu_item_id}", p.ms) for p in decision.prep],
            "prep_ttl": (PREP_WINDOW_DAYS + 1) * DAY_MS,
            "ts": now,
            "fp": fingerprint,
            "ttl": decision.result_ttl or self.result_ttl,
            "maxlen": self.history,
            "durable": self.durable,
            "wake": k.wake,
            "epoch": f"{random.getrandbits(64):016x}",  # used only if the stream is new; no system call for it
            "setup": f"{SETUP_CHANNEL} {rid}" if decision.restaurant is not None else "",
            "actor": actor,
            "replicated": self.replicas > 0,
            "claim": "" if held is None else held.token,
            "latest": [] if decision.latest is None else [decision.latest[0], str(decision.latest[1])],
            "noted": 1 if decision.noted else 0,
        }
        keys, args = k.commit_keys(command_id, now // DAY_MS), [orjson.dumps(payload), result, *blobs]
        if self.replicas > 0:
            reply = await self._replicated(k, ("EVALSHA", self._commit.sha, len(keys), *keys, *args))
        else:
            reply = await self._commit(keys=keys, args=args)
        status = reply[0]
        self._note_committed(rid, decision.orders, kept=status not in (b"conflict", b"dup"))
        if status == b"conflict":
            return CommitOutcome(None, conflict=reply[1].decode()), []
        if status == b"dup":
            outcome = CommitOutcome(StoredResult.parse(reply[1]), duplicate=True)
        else:  # the script stored {fp, offset, result} and answers the offset: the rest is in hand
            outcome = CommitOutcome(StoredResult(fingerprint, int(reply[1]), result))
        if len(reply) > 2 and int(reply[2]):
            events.pop()  # a reading overtaken by a later one (Decision.latest): not told
        if held is not None:
            held.released = True
        if self.replicas > 0 and outcome.stored is not None:
            await self._ack(keys=[k.acked], args=[outcome.stored.offset, k.wake])
        if not events or outcome.duplicate or outcome.stored is None:
            return outcome, []
        return outcome, _entries(events, outcome.stored.offset, now, actor)

    async def _store_answer(self, rid: str, command_id: str, fingerprint: str, decision: Decision) -> CommitOutcome:
        """A decision's answer alone (``answers_only``), stored as a commit stores it (``lua/answer.lua``): half of a
        fire's acknowledgements find their ticket acknowledged by the station's other screen, and every payment
        begins with a preview."""
        k = Keys(rid)
        result = orjson.dumps(decision.result, default=_encoder({}))
        held = _held_claim(rid, command_id)
        reply = await self._answer(
            keys=[k.command(command_id), k.seq, k.epoch, k.running(command_id)],
            args=[
                fingerprint,
                result,
                decision.result_ttl or self.result_ttl,
                f"{random.getrandbits(64):016x}",
                "" if held is None else held.token,
            ],
        )
        if held is not None:
            held.released = True
        if reply[0] == b"dup":
            return CommitOutcome(StoredResult.parse(reply[1]), duplicate=True)
        return CommitOutcome(StoredResult(fingerprint, int(reply[1]), result))

    async def _read_replicas(self, cluster: RedisCluster) -> None:
        """Master ``host:port`` -> its replicas not marked failed, from CLUSTER SHARDS (CLUSTER SLOTS
        hides a replica until it has data, so a new cluster would look unreplicated)."""
        self._topology_at = time.monotonic()
        try:
            shards = await cluster.execute_command("CLUSTER SHARDS", target_nodes=RedisCluster.RANDOM)
        except Exception as exc:  # advisory: the last answer stands (redis-py can fail oddly mid-failover)
            logger.warning("cannot read the cluster's replicas: %r", exc)
            return
        found: dict[str, int] = {}
        for shard in shards:
            nodes = [{_text(k): v for k, v in node.items()} for node in shard["nodes"]]
            live = [n for n in nodes if _text(n["health"]) != "failed"]
            replicas = sum(1 for n in live if _text(n["role"]) == "replica")
            for master in (n for n in live if _text(n["role"]) == "master"):
                found[f"{_text(master['ip'])}:{master['port']}"] = replicas
        self._replicas_of = found

    async def _replicated(self, k: Keys, command: tuple[Any, ...]) -> Any:
        """A write (the commit script, or a touch of a stored result), then WAIT, on one connection to
        the master of the restaurant's shard; the write's reply once the replicas hold it.

        WAIT counts the replicas holding the writes of the connection it is sent on, so both go on
        one connection taken from the node that owns the restaurant's slot; a redirection or a dead
        master (a failover under way) refreshes the topology and sends the write again, which is safe:
        the script answers a command id it has seen from the stored result (touching it, so the WAIT
        covers the answer too).
        """
        cluster = cast(BoundedCluster, self.redis)
        deadline = time.monotonic() + FAILOVER_WAIT_S
        pause = 0.05
        while True:
            if not cluster.nodes_manager.slots_cache:
                await cluster.initialize()
            if self._replicas_of is None or time.monotonic() - self._topology_at > TOPOLOGY_EVERY_S:
                # which replicas serve each master, asked again now and then: a failed replica drops out
                # (and a rejoined one comes back) without waiting for a command to stumble on it
                await self._read_replicas(cluster)
            node = cluster.nodes_manager.slots_cache[cluster.keyslot(k.stream)][0]
            # Every replica serving with the master, up to the setting: a shard whose replica has failed
            # (until one is back) is acknowledged by its master alone, and counted, rather than refused.
            wanted = min(self.replicas, (self._replicas_of or {}).get(node.name, self.replicas))
            if wanted < self.replicas:
                self.unreplicated += 1
            try:
                reply, held = await _then_wait(cluster, node, command, ("WAIT", wanted, self.replica_wait_ms))
            except NoScriptError:
                await cluster.script_load(self._commit.script)
                continue
            except (MovedError, AskError, TryAgainError, ClusterDownError, RedisConnectionError, OSError) as exc:
                reraise_if_cancelled()  # redis-py can turn a cancellation into a ConnectionError
                if time.monotonic() > deadline:
                    raise RedisConnectionError(f"no master for {k.restaurant_id}'s shard: {exc}") from exc
                await asyncio.sleep(pause)
                pause = min(pause * 2, 0.5)
                with contextlib.suppress(RedisError, OSError):  # the cluster may still be electing
                    await cluster.nodes_manager.initialize()
                await self._read_replicas(cluster)
                continue
            if int(held) < wanted:
                raise ReplicaTimeout(
                    f"no replica confirmed the command within {self.replica_wait_ms} ms; retry with the same id"
                )
            return reply

    # -- reading the stream -----------------------------------------------

    async def position(self, rid: str) -> tuple[int, str]:
        """The restaurant's visible head (``Keys.acked``) and epoch."""
        k = Keys(rid)
        seq, acked, epoch = await self.redis.mget(k.seq, k.acked, k.epoch)
        return visible_head(seq, acked), _text(epoch)

    async def heads(self, rids: list[str]) -> list[int]:
        """Each restaurant's visible head, in order; grouped by slot on a cluster."""
        found = await get_many(self.redis, [key for rid in rids for key in (Keys(rid).seq, Keys(rid).acked)])
        return [visible_head(seq, acked) for seq, acked in zip(found[::2], found[1::2], strict=True)]

    async def snapshot_state(self, rid: str, parts: frozenset[str], now: int) -> tuple[int, str, LiveState]:
        """Open orders, and the other ``parts`` asked for, exactly as of the returned offset (one MULTI/EXEC)."""
        k = Keys(rid)
        for _ in range(SNAPSHOT_ATTEMPTS):
            seq, acked, epoch, state = await self._snapshot_once(k, parts, now)
            if acked is None or int(acked) >= seq:
                break
            # A command is on the master and not yet on a replica: its effects are in this state, so
            # wait for its acknowledgement (a failover would take it back) rather than show it early.
            await asyncio.sleep(0.002)
        return seq, epoch, state

    async def _snapshot_once(self, k: Keys, parts: frozenset[str], now: int) -> tuple[int, Any, str, LiveState]:
        def read(part: str, how: str) -> str:
            return how if part in parts else "none"

        reads = {
            k.seq: "get",
            k.acked: "get",
            k.epoch: "get",
            k.open_orders: "hvals",
            k.tables: read("tables", "hvals"),
            k.menu: read("menu", "get"),
            k.stock: read("stock", "hvals"),
            k.restaurant: "get",  # here, not from the node's cache: settings as of the same offset
            k.staff: read("staff", "hvals"),
            k.print_jobs: read("print_jobs", "hvals"),
            k.print_manual: read("print_manual", "hvals"),
            k.printer_health: read("printer_health", "hvals"),
        }
        (
            seq,
            acked,
            epoch,
            orders,
            tables,
            menu,
            stock,
            raw_restaurant,
            staff,
            jobs,
            manual,
            health,
        ) = await self._reads(keys=list(reads), args=list(reads.values()))
        restaurant = Restaurant.model_validate_json(raw_restaurant) if raw_restaurant else None
        state = LiveState(
            now=now,
            orders=[Order.model_validate_json(v) for v in orders],
            tables=[Table.model_validate_json(v) for v in tables] if "tables" in parts else [],
            menu=Menu.model_validate_json(menu) if "menu" in parts and menu else None,
            stock=[Stock.model_validate_json(v) for v in stock] if "stock" in parts else [],
            kitchen=restaurant.kitchen if restaurant else KitchenSettings(),
            areas=restaurant.areas if restaurant else (),
            restaurant=restaurant,
            staff=[StaffMember.model_validate_json(v) for v in staff] if "staff" in parts else [],
            print_jobs=[PrintJob.model_validate_json(v) for v in jobs] if "print_jobs" in parts else [],
            manual_jobs=[PrintJob.model_validate_json(v) for v in manual] if "print_manual" in parts else [],
            printer_health=[PrinterHealth.model_validate_json(v) for v in health] if "printer_health" in parts else [],
        )
        return int(seq or 0), acked, _text(epoch), state

    async def history_since(self, rid: str, since: int, limit: int) -> History:
        """Every entry after ``since``, or ``entries=None`` when some of them were trimmed away."""
        k = Keys(rid)
        seq_raw, acked_raw, epoch_raw, first, rest = await self._reads(
            keys=[k.seq, k.acked, k.epoch, k.stream, k.stream],
            args=["get", "get", "get", "xfirst", "xfrom", f"{since + 1}-0", limit + 1],
        )
        seq = visible_head(seq_raw, acked_raw)
        epoch = _text(epoch_raw)
        rest = [(i, f) for i, f in rest if int(i.partition(b"-")[0]) <= seq]  # none a reader may not see yet
        if since > seq or len(rest) > limit:
            return History(seq, epoch, None)
        if since < seq:
            oldest = int(first[0][0].partition(b"-")[0]) if first else seq + 1
            if oldest > since + 1:
                return History(seq, epoch, None)
        return History(seq, epoch, [StreamEntry.from_redis(i, _pairs(f)) for i, f in rest])

    async def read_after(self, rid: str, after: int, upto: int, count: int = 1000) -> list[StreamEntry]:
        """Entries after ``after`` up to ``upto`` (a visible head: never past what readers may see)."""
        entries: Any = await self.redis.xrange(Keys(rid).stream, f"{after + 1}-0", f"{upto}-0", count=count)
        return [StreamEntry.from_redis(i, f) for i, f in entries]
