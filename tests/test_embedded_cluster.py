"""The embedded Redis Cluster is a real cluster: slots spread over masters, a crashed master fails over."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis
from redis.cluster import RedisCluster

from fireflow.hub.run.embedded import EmbeddedRedisCluster, EmbeddedServerError

REDIS_SERVER = Path("/usr/bin/redis-server")

needs_redis_server = pytest.mark.skipif(
    not os.access(REDIS_SERVER, os.X_OK), reason="no system redis-server: apt-get install redis-server"
)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[EmbeddedRedisCluster]:
    cluster = EmbeddedRedisCluster(tmp_path / "cluster")
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def _cluster_client(cluster: EmbeddedRedisCluster) -> RedisCluster:
    client: RedisCluster = RedisCluster.from_url(cluster.url, decode_responses=True)
    return client


@needs_redis_server
def test_keys_spread_over_all_three_masters(cluster: EmbeddedRedisCluster) -> None:
    assert len(cluster.ports) == 6
    masters = cluster.master_ports()
    assert len(masters) == 3
    assert cluster.url == f"redis://127.0.0.1:{cluster.ports[0]}/0"
    assert cluster.ports[0] in masters
    for master in masters:
        assert cluster.replica_of(master) not in masters
    keys = [f"key:{i}" for i in range(100)]
    client = _cluster_client(cluster)
    try:
        for key in keys:
            client.set(key, key.upper())
        assert [client.get(key) for key in keys] == [key.upper() for key in keys]
    finally:
        client.close()
    assert {cluster.master_of(key) for key in keys} == set(masters)
    for node in cluster.ports:
        assert (cluster.node_dir(node) / "nodes.conf").exists()


@needs_redis_server
def test_killed_master_fails_over_and_rejoins_as_replica(cluster: EmbeddedRedisCluster) -> None:
    key = "order:42"
    old = cluster.master_of(key)
    replica = cluster.replica_of(old)
    with redis.Redis(port=old) as master:
        master.set(key, "paid")
        # Replication is asynchronous: only a write a replica acknowledged survives the crash.
        assert master.execute_command("WAIT", 1, 1000) == 1

    cluster.kill(old)
    new = cluster.wait_failover(old, key)
    assert new != old
    assert new == replica
    assert cluster.master_of(key) == new
    client = _cluster_client(cluster)
    try:
        assert client.get(key) == "paid"
    finally:
        client.close()

    cluster.restart(old)
    assert cluster.wait_replica(old, timeout=30.0) == new
    with redis.Redis(port=new, decode_responses=True) as survivor:
        line = next(line for line in survivor.execute_command("CLUSTER", "NODES").splitlines() if f":{old}@" in line)
    assert "slave" in line.split()[2]
    assert cluster.role(old) == "slave"
    assert cluster.replica_of(new) == old


@needs_redis_server
def test_stop_leaves_no_node_running(cluster: EmbeddedRedisCluster) -> None:
    procs = [psutil.Process(pid) for pid in cluster.pids.values()]
    assert len(procs) == 6
    assert all(proc.name() == "redis-server" for proc in procs)
    cluster.stop()
    assert not any(proc.is_running() for proc in procs)
    assert cluster.pids == {}
    cluster.stop()  # idempotent


def test_missing_redis_server_says_what_to_install(tmp_path: Path) -> None:
    cluster = EmbeddedRedisCluster(tmp_path, executable=tmp_path / "no-such-redis-server")
    with pytest.raises(EmbeddedServerError, match="apt-get install redis-server"):
        cluster.start()
    cluster.stop()
