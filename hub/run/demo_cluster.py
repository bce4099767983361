"""``fireflow demo --redis-cluster``: the demo on a real Redis Cluster, to try by hand what a platform runs.

``REDIS_URL=redis+cluster://…`` needs a cluster someone has built; this starts one here (three masters with a
replica each, from the system's ``redis-server`` 7, as the suite's cluster tests and ``bench cluster`` do) so a
new user can open the screens on it and kill a master to watch a failover (``schema/PROTOCOL.md``, "On a Redis
Cluster: failover").

It is a throwaway. The cluster's nodes take new ports each time, so what Redis held is not found again at the
next start and the demo restaurant is set up afresh. A Postgres kept from one run to the next would hold the
earlier runs' books (invoices, the day's takings, the event log) beside live state that never saw them. So both
run in a temporary directory, removed when the demo stops.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from fireflow.hub.live.keys import Keys
from fireflow.hub.run.config import Settings
from fireflow.hub.run.demo import DEMO_ID
from fireflow.hub.run.embedded import EmbeddedRedisCluster
from fireflow.hub.run.embedded.process import EmbeddedServerError

__all__ = ["ClusterRefused", "demo_cluster"]

MASTERS = 3
REPLICAS = 1  # per master: a master's failover has a replica to promote


class ClusterRefused(Exception):
    """Why the demo cannot run on its own cluster: one line for the person who asked."""


def _refusal(settings: Settings, data_dir_given: bool) -> str | None:
    if settings.redis_url or settings.database_url:
        named = " and ".join(
            name for name, url in (("REDIS_URL", settings.redis_url), ("DATABASE_URL", settings.database_url)) if url
        )
        return f"--redis-cluster starts its own Redis Cluster and PostgreSQL: unset {named}"
    if data_dir_given:
        return (
            "--redis-cluster runs a throwaway demo in a temporary directory: leave out --data-dir and FIREFLOW_DATA_DIR"
        )
    return None


@contextlib.contextmanager
def demo_cluster(settings: Settings, *, data_dir_given: bool) -> Iterator[Settings]:
    """A running cluster and a fresh directory for the rest of the demo; ``settings`` pointed at both."""
    refusal = _refusal(settings, data_dir_given)
    if refusal is not None:
        raise ClusterRefused(refusal)
    directory = Path(tempfile.mkdtemp(prefix="fireflow-cluster-demo-"))
    try:
        cluster = EmbeddedRedisCluster(directory / "redis-cluster", masters=MASTERS, replicas=REPLICAS)
        try:
            cluster.start()
        except EmbeddedServerError as exc:
            raise ClusterRefused(f"cannot start a Redis Cluster here: {str(exc).splitlines()[0]}") from None
        try:
            print(describe(cluster, directory), flush=True)
            yield settings.with_(data_dir=directory, redis_url=cluster.hub_url, redis_replicas=REPLICAS)
        finally:
            cluster.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def describe(cluster: EmbeddedRedisCluster, directory: Path) -> str:
    """What runs where, and how to fail the demo restaurant's master over by hand."""
    masters = cluster.master_ports()
    replicas = [cluster.replica_of(port) for port in masters]
    demos = cluster.master_of(Keys(DEMO_ID).stream)  # every key of a restaurant is in one slot
    return (
        f"Redis Cluster: {len(masters)} masters on ports {', '.join(map(str, masters))}, each with a replica (ports "
        f"{', '.join(map(str, replicas))}). It and the demo's PostgreSQL live in {directory}, a throwaway removed "
        "when the demo stops.\n"
        f"  To watch a failover, kill the demo restaurant's master: kill -9 {cluster.pids[demos]}  (port {demos}). "
        "Its replica takes over within a few seconds; the screens stay connected and catch up."
    )
