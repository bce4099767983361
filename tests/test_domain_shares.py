"""How the nodes share the background work's shards: stable shards, fair shares, and every shard held once."""

from __future__ import annotations

import collections
import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from fireflow.hub.domain.shares import SHARDS, fair_share, moves, shard_of


def test_a_restaurant_is_in_the_same_shard_in_every_process() -> None:
    assert shard_of("r-pizzeria") == zlib.crc32(b"r-pizzeria") % SHARDS
    assert shard_of("r-pizzeria", 7) == zlib.crc32(b"r-pizzeria") % 7


def test_restaurants_spread_over_the_shards() -> None:
    counts = collections.Counter(shard_of(f"r{n:06x}") for n in range(20_000))
    mean = 20_000 / SHARDS
    assert len(counts) == SHARDS
    assert all(0.8 * mean < count < 1.2 * mean for count in counts.values()), counts


def test_the_fair_share_rounds_up_so_the_shares_cover_every_shard() -> None:
    assert fair_share(64, 1) == 64
    assert fair_share(64, 3) == 22
    assert fair_share(64, 64) == 1
    assert fair_share(64, 100) == 1
    assert fair_share(64, 0) == 64  # never counted itself yet: everything


def test_a_node_over_its_share_gives_back_its_highest_shards() -> None:
    everything = frozenset(range(8))
    planned = moves(["a"] * 8, "a", everything, nodes=3)
    assert planned.give == (3, 4, 5, 6, 7) and planned.take == ()


def test_a_node_under_its_share_tries_only_free_shards_and_no_more_than_it_lacks() -> None:
    holders: list[str | None] = ["b", None, "b", None, None, None, "b", None]
    planned = moves(holders, "a", frozenset(), nodes=2)
    assert len(planned.take) == 4 and planned.give == ()
    assert all(holders[s] is None for s in planned.take)
    assert moves(["a", "a", "b", "b"], "a", frozenset({0, 1}), nodes=2) == moves([], "a", frozenset(), 1)


def test_nodes_starting_together_try_different_free_shards_first() -> None:
    free: list[str | None] = [None] * SHARDS
    firsts = {moves(free, f"node-{n}", frozenset(), nodes=4).take[0] for n in range(8)}
    assert len(firsts) > 4


def _round(holders: list[str | None], held: dict[str, set[int]], live: list[str]) -> None:
    """Each live node takes its turn, as the leases would let it: a take wins only a free shard."""
    for node in live:
        planned = moves(holders, node, frozenset(held[node]), nodes=len(live))
        for s in planned.give:
            holders[s] = None
            held[node].discard(s)
        for s in planned.take:
            if holders[s] is None:
                holders[s] = node
                held[node].add(s)


@settings(max_examples=300, deadline=None)
@given(
    shards=st.integers(1, 80),
    changes=st.lists(st.tuples(st.booleans(), st.integers(0, 9)), min_size=1, max_size=12),
)
def test_after_nodes_come_and_go_every_shard_is_held_once_and_fairly_within_three_rounds(
    shards: int, changes: list[tuple[bool, int]]
) -> None:
    """Nodes join (True) or die (False, their leases running out) between rounds; three quiet rounds later
    every shard has one holder, a live one, and no node holds more than its fair share."""
    holders: list[str | None] = [None] * shards
    held: dict[str, set[int]] = collections.defaultdict(set)
    live = ["node-0"]
    for joins, n in changes:
        node = f"node-{n}"
        if joins and node not in live:
            live.append(node)
        elif not joins and node in live and len(live) > 1:
            live.remove(node)
            for s in held.pop(node, set()):
                holders[s] = None
        _round(holders, held, live)
    for _ in range(3):
        _round(holders, held, live)
    assert all(holder in live for holder in holders)
    share = fair_share(shards, len(live))
    assert all(len(held[node]) <= share for node in live)
    assert sorted(s for node in live for s in held[node]) == list(range(shards))
