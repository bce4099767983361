"""Subscriptions: which socket hears which channels, what it missed, and which stations have screens.

The transport hands over a socket and the channels it asked for; everything
else happens here, on the fan-out side, so a second transport would subscribe
the same way: the role and tenant check (refusals audited), the reply (the
missed events while history has them, else a snapshot), the ordering of that
reply among live events, and the stations a kitchen screen counts for.

Ordering: from the moment a socket joins a feed until its reply is sent, live
events wait in ``conn.pending``. The reply names an offset; pending events of
channels the socket already held that are not later than it go first, then the
reply, then everything later. A client may resume from the reply's offset.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import RedisError

from fireflow.hub.books.audit import AuditTrail
from fireflow.hub.commands.tenancy import tenant_violation
from fireflow.hub.domain.actors import Actor, Role, can_read
from fireflow.hub.domain.errors import DomainError
from fireflow.hub.domain.orders import check_tenant
from fireflow.hub.domain.privacy import redact
from fireflow.hub.domain.views import channel_view, needs
from fireflow.hub.live.codec import EncodedEvent, Message, wire_of
from fireflow.hub.live.connection import Connection
from fireflow.hub.live.fanout import FanOut
from fireflow.hub.live.positions import DISPATCH, Positions, read_tracks
from fireflow.hub.live.presence import Presence, stations_of
from fireflow.hub.live.store import Store
from fireflow.hub.live.together import Together
from fireflow.schema.protocol import CloseCode, ErrorCode

__all__ = ["Subscriptions"]

logger = logging.getLogger(__name__)

_UNAVAILABLE = "live state is unavailable; subscribe again"
PRINTING = "printing"  # the channel a print agent follows


@dataclass
class _Reply:
    """A ``subscribed`` reply. One shared by the sockets that asked for it together is encoded once per encoding."""

    frame: dict[str, Any]
    _encoded: dict[bool, tuple[Message, bytes]] = field(default_factory=dict)

    @property
    def offset(self) -> int:
        return int(self.frame["offset"])

    def send(self, conn: Connection) -> None:
        binary = conn.codec.binary
        found = self._encoded.get(binary)
        if found is None:
            message = conn.codec.encode(self.frame)
            found = self._encoded[binary] = (message, wire_of(message, binary))
        conn.send_encoded(*found)


class Subscriptions:
    def __init__(
        self,
        store: Store,
        fanout: FanOut,
        presence: Presence,
        audit: AuditTrail | None,
        *,
        replay_limit: int,
        catch_up_timeout: float,
        print_agents: Presence | None = None,
        positions: Positions | None = None,
    ) -> None:
        self.store = store
        self.fanout = fanout
        self.presence = presence
        self.print_agents = print_agents  # a PRINTER following `printing` is a connected print agent
        self.audit = audit
        self.replay_limit = replay_limit
        self.catch_up_timeout = catch_up_timeout
        self.positions = positions  # riders' fixes: the dispatch snapshot shows them
        self.snapshots: Together[_Reply] = Together()

    def check(self, actor: Actor, channels: Sequence[str]) -> None:
        """Refuse the first channel ``actor`` may not read; another restaurant's is audited too."""
        for channel in channels:
            try:
                can_read(actor, channel)
                kind, _, param = channel.partition(":")
                if kind == "order":
                    check_tenant(actor, param)
            except DomainError as exc:
                if exc.code is ErrorCode.WRONG_TENANT:
                    tenant_violation(self.audit, logger, actor, "channel", channel)
                raise DomainError(exc.code, exc.message, {"channel": channel}) from None

    async def subscribe(self, conn: Connection, channels: Sequence[str], since: int | None, epoch: str | None) -> None:
        """Add ``channels`` to the socket and send its ``subscribed`` reply; refusals raise ``DomainError``."""
        actor = conn.actor
        assert actor is not None
        wanted = list(dict.fromkeys(channels))
        self.check(actor, wanted)
        rid = actor.restaurant_id
        old = frozenset(conn.channels)
        new = [c for c in wanted if c not in old]
        try:
            feed = await self.fanout.feed(rid)
        except (RedisError, OSError) as exc:
            logger.warning("subscribe failed: %s", exc)
            raise DomainError(ErrorCode.UNAVAILABLE, _UNAVAILABLE) from None
        conn.pending = []
        feed.add(conn, new)
        reply: _Reply | None = None
        caught_up = True
        try:
            reply = await self._state_since(rid, wanted, old, since, epoch, conn.sees_customers)
            # The feed may not have dispatched everything up to the reply's offset yet: keep buffering
            # until it has, so the reply follows every earlier event of the channels already held and
            # precedes every later one.
            caught_up = await feed.caught_up(reply.offset, self.catch_up_timeout)
        except (RedisError, OSError) as exc:
            self.fanout.release(rid, conn, new)
            logger.warning("subscribe failed on Redis: %s", exc)
            raise DomainError(ErrorCode.UNAVAILABLE, _UNAVAILABLE) from None
        finally:
            self._flush(conn, old, new, reply)
        if actor.role is Role.KITCHEN and (stations := stations_of(new)):
            await self._count_screens(rid, stations)
        if actor.role is Role.PRINTER and PRINTING in new and self.print_agents is not None:
            await self._count(self.print_agents, rid, [actor.device_id])
        if not caught_up:
            conn.close(CloseCode.SLOW_CONSUMER, "node fell behind; resume")

    @staticmethod
    def _flush(conn: Connection, old: frozenset[str], new: list[str], reply: _Reply | None) -> None:
        """Send what waited in ``conn.pending`` around the reply (or alone, when there is none), in order."""
        pending, conn.pending = conn.pending or [], None
        binary = conn.codec.binary
        offset = reply.offset if reply is not None else 1 << 63
        for event in pending:
            if event.offset <= offset and old.intersection(event.entry.channel_list()):
                conn.push(event.for_reader(conn.sees_customers).message(binary))
        if reply is None:
            return
        conn.channels.update(new)
        reply.send(conn)
        for event in pending:
            if event.offset > offset:
                conn.push(event.for_reader(conn.sees_customers).message(binary))

    async def _state_since(
        self,
        rid: str,
        channels: list[str],
        old: frozenset[str],
        since: int | None,
        epoch: str | None,
        sees_customers: bool = True,
    ) -> _Reply:
        """The subscribed reply: the missed events when history still has them, else a snapshot; either with
        delivery customers' details blanked for a reader who may not see them (``hub/domain/privacy.py``)."""
        reply: dict[str, Any] = {"op": "subscribed", "channels": channels}
        if since is not None:
            history = await self.store.history_since(rid, since, self.replay_limit)
            if history.entries is not None and epoch in (None, history.epoch):
                # The events of the channels asked for, except those that came live on a channel already held
                # and not asked for again. A held channel asked for again with `since` is being resynced
                # (PROTOCOL.md: "re-snapshotted or replayed"): its events come again, deduped by offset.
                wanted = frozenset(channels)
                resynced, live = wanted & old, old - wanted
                replayed = []
                for entry in history.entries:
                    on = set(entry.channel_list())
                    if on & resynced or (on & wanted and not on & live):
                        replayed.append(EncodedEvent(entry).for_reader(sees_customers).frame())
                return _Reply(
                    reply | {"offset": history.offset, "epoch": history.epoch, "recovered": True, "replayed": replayed}
                )
        key = (rid, tuple(channels), sees_customers)
        return await self.snapshots.read(key, lambda: self._snapshot(rid, channels, sees_customers))

    async def _snapshot(self, rid: str, channels: list[str], sees_customers: bool) -> _Reply:
        reply: dict[str, Any] = {"op": "subscribed", "channels": channels}
        parts = frozenset().union(*(needs(c) for c in channels))
        offset, at_epoch, state = await self.store.snapshot_state(rid, parts, int(time.time() * 1000))
        if DISPATCH in channels and self.positions is not None:  # not at the offset: fixes are not events
            state = dataclasses.replace(state, riders=await read_tracks(self.positions.redis, rid))
        snapshot = {c: channel_view(c, state) for c in channels}
        if not sees_customers:
            snapshot = redact(snapshot)
        return _Reply(reply | {"offset": offset, "epoch": at_epoch, "recovered": False, "snapshot": snapshot})

    async def _count_screens(self, rid: str, stations: list[str]) -> None:
        """A kitchen subscription is a live screen at its station (kept until it unsubscribes or leaves)."""
        await self._count(self.presence, rid, stations)

    @staticmethod
    async def _count(presence: Presence, rid: str, names: list[str]) -> None:
        try:
            await presence.add(rid, names)
        except (RedisError, OSError) as exc:
            logger.warning("could not record %s of %s as present: %s", names, rid, exc)

    def unsubscribe(self, conn: Connection, channels: Sequence[str]) -> None:
        """Drop ``channels`` from the socket (those it does not hold are ignored) and confirm."""
        gone = [c for c in channels if c in conn.channels]
        conn.channels.difference_update(gone)
        self._release(conn, gone)
        conn.send_frame({"op": "unsubscribed", "channels": list(channels)})

    def leave(self, conn: Connection) -> None:
        """The socket is gone: out of every feed, and its screens no longer count."""
        self._release(conn, list(conn.channels))

    def _release(self, conn: Connection, channels: list[str]) -> None:
        actor = conn.actor
        if actor is None or not channels:
            return
        self.fanout.release(actor.restaurant_id, conn, channels)
        if actor.role is Role.KITCHEN:
            self.presence.remove(actor.restaurant_id, stations_of(channels))
        if actor.role is Role.PRINTER and PRINTING in channels and self.print_agents is not None:
            self.print_agents.remove(actor.restaurant_id, [actor.device_id])
