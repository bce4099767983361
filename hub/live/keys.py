"""Every Redis key and channel name the hub uses, in one place.

All keys of one restaurant share the hash tag ``{<restaurant id>}``, so a
restaurant lives on one Redis Cluster shard and its commit script touches one
slot. Only the restaurant registry, the wake-up channels and the background work's shares are global
(each kind of work's keys in one slot of its own).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from fireflow.hub.domain.decision import DueKind

__all__ = [
    "DAY_MS",
    "DURABLE_GROUP",
    "POSITIONS_PATTERN",
    "POSITIONS_PREFIX",
    "PREP_WINDOW_DAYS",
    "RESTAURANTS",
    "WAKE_PATTERN",
    "WAKE_PREFIX",
    "Keys",
    "ShareKeys",
    "due_member",
    "parse_due_member",
]

RESTAURANTS = "ff:restaurants"
WAKE_PREFIX = "ff:wake:"
WAKE_PATTERN = WAKE_PREFIX + "*"
# Riders' fixes, published per restaurant (hub/live/positions.py): lossy, never in the stream.
POSITIONS_PREFIX = "ff:pos:"
POSITIONS_PATTERN = POSITIONS_PREFIX + "*"


PREP_WINDOW_DAYS = 7  # preparation statistics are of the last week: what the kitchen does now
DAY_MS = 86_400_000
DURABLE_GROUP = "durable"  # the consumer group of every restaurant stream that feeds Postgres

# A due check is the member ``<prefix><subject>`` of a restaurant's ``due`` sorted set, scored by when (ms).
_DUE_PREFIX = {
    DueKind.ACK: "ack|",
    DueKind.SETTLE: "settle|",
    DueKind.BILL: "bill|",
    DueKind.PRINT: "print|",
    DueKind.ETA: "eta|",
}


def due_member(kind: DueKind, subject: str) -> str:
    """The sorted-set member of the due check ``kind`` of ``subject``."""
    return _DUE_PREFIX[kind] + subject


def parse_due_member(member: str) -> tuple[DueKind, str] | None:
    """The kind and subject of a sorted-set member, or None when it is no due check this hub knows."""
    prefix, bar, subject = member.partition("|")
    if not bar:
        return None
    for kind, known in _DUE_PREFIX.items():
        if known == prefix + bar:
            return kind, subject
    return None


@dataclass(frozen=True, slots=True)
class Keys:
    restaurant_id: str

    @property
    def prefix(self) -> str:
        return f"ff:{{{self.restaurant_id}}}:"

    @property
    def wake(self) -> str:
        return WAKE_PREFIX + self.restaurant_id

    @property
    def stream(self) -> str:
        return self.prefix + "events"

    @property
    def seq(self) -> str:
        return self.prefix + "seq"

    @property
    def epoch(self) -> str:
        return self.prefix + "epoch"

    @property
    def acked(self) -> str:
        """Highest offset readers may see (screens, history, the durable writer): on a Redis Cluster, what a
        replica holds, so a failover never takes back an event anyone saw. Absent: the ``seq``."""
        return self.prefix + "acked"

    @property
    def persisted(self) -> str:
        """Highest offset the durable writer has stored in Postgres: history is never trimmed past it."""
        return self.prefix + "persisted"

    @property
    def versions(self) -> str:
        """Hash ``order:<id>`` / ``table:<id>`` / ``counters`` -> version, checked by the commit script."""
        return self.prefix + "versions"

    @property
    def open_orders(self) -> str:
        return self.prefix + "orders:open"

    @property
    def closed_orders(self) -> str:
        return self.prefix + "orders:closed"

    @property
    def closed_at(self) -> str:
        """Sorted set order id -> when it last went to the closed orders (ms): the archiver takes the old ones."""
        return self.prefix + "orders:closed_at"

    @property
    def tables(self) -> str:
        return self.prefix + "tables"

    @property
    def counters(self) -> str:
        return self.prefix + "counters"

    @property
    def stock(self) -> str:
        """Hash menu item id -> Stock (86 and portion counts); versions under ``stock:<id>``."""
        return self.prefix + "stock"

    @property
    def due(self) -> str:
        """Sorted set of checks the hub owes (members by ``due_member``) scored by when, in ms."""
        return self.prefix + "due"

    @property
    def changed_orders(self) -> str:
        """Set of the open orders' ids a commit wrote since the predictor last looked; it exists (with the member
        "") only while the predictor follows the restaurant, which renews its expiry on every look."""
        return self.prefix + "changed-orders"

    def prediction_errors(self, station: str) -> str:
        """List of the station's latest scored predictions, newest first, each ``[error s, naive error s, at ms]``
        (signed: actual less predicted), then, when the station's fire time was known, ``predicted wait s, actual
        wait s`` (fire to ready: the dashboard's pairs); capped at PREDICTION_ERRORS_KEPT (``hub/workers/predictions.py``)."""
        return f"{self.prefix}predicted:{station}"

    @property
    def prediction_stations(self) -> str:
        """Set of the stations that have scored predictions (what ``prediction_errors`` to read)."""
        return self.prefix + "predicted-stations"

    def prep(self, day: int) -> str:
        """Hash ``<station>|<menu item>|n|sum|min|max`` -> fire-to-done statistics in ms of one UTC day
        (days since the epoch): readers merge the last PREP_WINDOW_DAYS, and each day's hash expires."""
        return f"{self.prefix}prep:{day}"

    @property
    def prep_model(self) -> str:
        """The predictor's learned prep-time model, signed (``hub/forecast/prep_times.py``): kept for the next leader."""
        return self.prefix + "prep-model"

    @property
    def sweep_seen(self) -> str:
        """Hash fault id -> when a sweep first saw it standing (ms), and ``<id>|reported`` -> the finding (JSON) once
        it was reported: a fault is acted on once it stood its time, and reported once while it stands; both go
        when it no longer stands (``hub/workers/sweeps.py``)."""
        return self.prefix + "sweep-seen"

    @property
    def screens(self) -> str:
        """Sorted set ``<station>|<node>`` scored by when that node's screens there stop counting as live (ms)."""
        return self.prefix + "screens"

    @property
    def pins(self) -> str:
        """Hash manager device id -> argon2 hash of their approval PIN."""
        return self.prefix + "pins"

    def pin_failures(self, device: str) -> str:
        """Counter of this device's wrong PINs in the current window (expires with it)."""
        return self.prefix + "pinfail:" + device

    def pin_checks(self, device: str) -> str:
        """Sorted set of this device's PIN checks in flight (token -> deadline, ms): they count as tries."""
        return self.prefix + "pincheck:" + device

    @property
    def restaurant_pin_failures(self) -> str:
        """Counter of wrong PINs from every device of the restaurant in the current window."""
        return self.prefix + "pinfails"

    @property
    def restaurant_pin_checks(self) -> str:
        return self.prefix + "pinchecks"

    @property
    def menu(self) -> str:
        return self.prefix + "menu"

    @property
    def devices(self) -> str:
        """Hash device id -> Device (role, stations, name, token generation, revoked)."""
        return self.prefix + "devices"

    @property
    def device_seen(self) -> str:
        """Hash device id -> ms it was last seen with a socket open (negative: when its last socket left)."""
        return self.prefix + "devseen"

    @property
    def print_jobs(self) -> str:
        """Hash job id -> PrintJob: every ticket of a printing station, with how its printing went."""
        return self.prefix + "print_jobs"

    @property
    def print_manual(self) -> str:
        """Hash job id -> PrintJob, for the jobs on the manual list only: what screens' snapshots read."""
        return self.prefix + "print_manual"

    @property
    def printer_health(self) -> str:
        """Hash printer id -> PrinterHealth: each printer's state as a print agent last read it; versions
        under ``health:<id>``."""
        return self.prefix + "printer_health"

    @property
    def print_agents(self) -> str:
        """Sorted set ``<agent device>|<node>`` scored by when that node's sockets of the print agent stop
        counting as connected (ms): a printer's state is UNKNOWN once its agent has none left."""
        return self.prefix + "print_agents"

    @property
    def positions_channel(self) -> str:
        """Where this restaurant's riders' fixes are published (every node pattern-subscribes)."""
        return POSITIONS_PREFIX + self.restaurant_id

    @property
    def rider_positions(self) -> str:
        """Hash rider device id -> its latest fix (JSON, as published); expires when no rider has sent for hours."""
        return self.prefix + "riders:pos"

    def rider_trail(self, rider: str) -> str:
        """List of the rider's last fixes, newest first (JSON ``[lat, lon, at, accuracy]``), capped and expiring."""
        return self.prefix + "riders:trail:" + rider

    @property
    def staff(self) -> str:
        """Hash staff id -> StaffMember (name, role; never a PIN: those are in ``pins``)."""
        return self.prefix + "staff"

    @property
    def restaurant(self) -> str:
        return self.prefix + "restaurant"

    def command(self, command_id: str) -> str:
        return self.prefix + "cmd:" + command_id

    def running(self, command_id: str) -> str:
        """Held (with a token and an expiry) by the one copy of a command id that is running now."""
        return self.prefix + "running:" + command_id

    def refused(self, command_id: str) -> str:
        """For a few seconds after a copy of a command id was refused: the refusal, for its twins (JSON)."""
        return self.prefix + "refused:" + command_id

    def commit_keys(self, command_id: str, day: int) -> list[str]:
        """KEYS of commit.lua, in its order (``day``: today's statistics)."""
        before, between, after = _commit_layout(self.restaurant_id, day)
        return [*before, self.command(command_id), *between, self.running(command_id), *after]


@lru_cache(maxsize=4096)
def _commit_layout(restaurant_id: str, day: int) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """A restaurant's commit keys but the command's own two (``Keys.command``, ``Keys.running``), made once a day:
    every commit of the node asks for all 24, a property and an f-string each."""
    k = Keys(restaurant_id)
    before = (k.stream, k.seq)
    between = (
        k.persisted,
        k.epoch,
        k.versions,
        k.open_orders,
        k.closed_orders,
        k.tables,
        k.counters,
        k.stock,
        k.due,
        k.prep(day),
        k.restaurant,
        k.menu,
        k.staff,
        k.pins,
        k.print_jobs,
        k.print_manual,
        k.printer_health,
        k.acked,
        k.closed_at,
    )
    return before, between, (k.changed_orders,)


# Indexes into Keys.commit_keys() (1-based, as Lua sees them) for hash writes.
KEY_OPEN_ORDERS = 7
KEY_CLOSED_ORDERS = 8
KEY_TABLES = 9
KEY_COUNTERS = 10
KEY_STOCK = 11
KEY_RESTAURANT = 14
KEY_MENU = 15
KEY_STAFF = 16
KEY_PINS = 17
KEY_PRINT_JOBS = 18
KEY_PRINT_MANUAL = 19
KEY_PRINTER_HEALTH = 20
KEY_VERSIONS = 6


@dataclass(frozen=True, slots=True)
class ShareKeys:
    """One kind of background work shared among the nodes (``hub/workers/shares.py``): "predictor", "sweeper",
    "due".

    One hash tag for the kind: its leases and its count of nodes are one slot, so the holders are one MGET."""

    kind: str

    def shard(self, n: int) -> str:
        return f"{{ff:{self.kind}}}:shard:{n}"  # a lease: the holding node's name, expiring

    @property
    def nodes(self) -> str:
        return f"{{ff:{self.kind}}}:nodes"  # zset: node name -> when it stops counting (ms) unless renewed
