"""Background work shared among the live nodes: which shards of restaurants a node takes and gives up.

The predictions, the self-healing sweeps and the due checks look at every restaurant: one node doing that
for all of them runs out of its one core long before the fleet does, and every node doing it for all of them
multiplies the work by the nodes (``hub/MEASUREMENTS.md``, items 5 and 6). So the restaurants
are cut into a fixed number of shards (by a stable hash of the id, the same in every process), each shard
is a lease that one node holds at a time, and every node aims at its fair share: the shards over the live
nodes, rounded up. A node above its share gives the surplus back; one below takes free shards; a dead
node's shards come free when its leases run out, and the others' shares grow to cover them.

Rounding up makes the shares add up to at least every shard, so no shard stays free once every node has
taken its turn; a node that joins is given room as the others see the count grow and hand shards back.

Pure: no clock, no I/O. The leases and the count of live nodes are ``hub/workers/shares.py``'s.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["SHARDS", "Moves", "fair_share", "moves", "shard_of"]

# Enough for the predictions of 100,000 restaurants to spread over the 30-odd nodes serving them (SCALING.md);
# few enough that a lone node renews them all in one write a tick.
SHARDS = 64


def shard_of(restaurant_id: str, shards: int = SHARDS) -> int:
    """The shard of a restaurant: CRC-32 of its id, not ``hash``, which differs from one process to the next."""
    return zlib.crc32(restaurant_id.encode()) % shards


def fair_share(shards: int, nodes: int) -> int:
    """How many shards each of ``nodes`` live nodes should hold: rounded up, so the shares cover them all."""
    return -(-shards // max(1, nodes))


@dataclass(frozen=True, slots=True)
class Moves:
    take: tuple[int, ...]  # free shards to try for (another node may win one first)
    give: tuple[int, ...]  # held shards over the fair share, to hand back


def moves(holders: Sequence[str | bytes | None], me: str, held: frozenset[int], nodes: int) -> Moves:
    """What this node does with the shards as it last saw them (``holders[s]``: who holds shard ``s``, None
    when free), holding ``held`` and counting ``nodes`` live nodes, itself among them.

    A node tries the free shards from a place of its own (from its name's hash on), so nodes that start
    together do not all race for the same few; it gives back its highest-numbered shards first.
    """
    count = len(holders)
    share = fair_share(count, nodes)
    mine = sorted(held)
    if len(mine) > share:
        return Moves((), tuple(mine[share:]))
    start = shard_of(me, count) if count else 0
    free = [s for s in (*range(start, count), *range(start)) if holders[s] is None and s not in held]
    return Moves(tuple(free[: share - len(mine)]), ())
