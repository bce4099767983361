"""``fireflow bench cluster`` at toy size: hub nodes on a Redis Cluster, every fire reaching screens on other nodes.

Like tests/test_bench_smoke.py, nothing here asserts performance; it guards the plumbing: the
cluster, the nodes, the sockets spread over them, the figure lines and the cleanup.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import psutil
import pytest

from fireflow.clients import bench
from tests.conftest import WAIT, Servers

REDIS_SERVER = Path("/usr/bin/redis-server")

FIGURE = (
    r"^cluster\[2 nodes, 3 masters\]: p50=\S+ p99=\S+ max=\S+ deliveries/s=\d+ lost=(\d+) hub_cpu=\d+%\+\d+% "
    r"cpu/delivery=\d+us hub_rss=\d+MiB\(max\) redis_used=[\d.]+MiB\(sum of masters\) redis_cpu=\d+% "
    r"fire->ack p50=\S+ p99=\S+ sockets=24 restaurants=4 "
)


def _needs_redis_server(base_servers: Servers, monkeypatch: pytest.MonkeyPatch) -> None:
    """Skipped, saying why, without Debian's redis-server; the suite's Postgres used (one fewer to start)."""
    if not os.access(REDIS_SERVER, os.X_OK):
        reason = f"bench cluster needs {REDIS_SERVER}: apt-get install redis-server"
        print(reason)
        pytest.skip(reason)
    monkeypatch.setenv("DATABASE_URL", base_servers.database_url)
    monkeypatch.setenv("FIREFLOW_LOG_LEVEL", "WARNING")


def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def test_two_nodes_on_a_cluster_deliver_every_fire(
    base_servers: Servers, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _needs_redis_server(base_servers, monkeypatch)
    before = _children()
    argv = ["--nodes", "2", "--restaurants", "4", "--sockets", "24", "--rate", "5", "--duration", "2"]
    assert bench.run("cluster", [*argv, "--drain", "3", "--procs", "2", "--runs", "2"]) == 0
    out = capsys.readouterr().out
    assert re.findall(FIGURE, out, re.MULTILINE) == ["0", "0"], f"not two runs with nothing lost in:\n{out}"
    # then each headline figure's median over the two runs (each on a cluster of its own), each run's in brackets
    medians = (
        r"^cluster\[hub\] median of 2 runs: cpu/delivery_us=\S+ \(\S+ \S+\) p99_ms=\S+ \(\S+ \S+\) lost=0 \(0 0\) "
    )
    assert re.search(medians + r"redis_used_MiB=\S+ \(\S+ \S+\)$", out, re.MULTILINE), out
    assert "fire_errors" not in out and "connect_failed" not in out, out
    for node in (0, 1):  # each run's
        assert re.search(
            rf"^cluster\[hub{node} :\d+\]: sockets=12 cpu=\d+%.* shards=predictor:\d+,sweeper:\d+,due:\d+$",
            out,
            re.MULTILINE,
        ), out
    assert len(re.findall(r"^cluster\[redis :\d+ master\]: used=", out, re.MULTILINE)) == 6, out
    extra = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    _, alive = psutil.wait_procs(extra, timeout=WAIT)
    assert not alive, f"the bench left processes behind: {[' '.join(p.cmdline()[:4]) for p in alive]}"


def test_stepped_rates_report_the_highest_step_held(
    base_servers: Servers, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _needs_redis_server(base_servers, monkeypatch)
    argv = ["--nodes", "2", "--restaurants", "4", "--sockets", "24", "--rates", "2,6", "--duration", "1.5"]
    assert bench.run("cluster", [*argv, "--drain", "3", "--procs", "2"]) == 0
    out = capsys.readouterr().out
    steps = re.findall(r"^cluster step: rate=(\d+)/s deliveries/s=\d+ lost=(\d+) .*", out, re.MULTILINE)
    assert steps == [("2", "0"), ("6", "0")], out  # each step on the same sockets, each fire on every screen
    assert "<- not held" not in out, out
    held = r"^cluster\[held\]: rate=6 fires/s = \d+ deliveries/s with lost=0 p99=\S+ cpu/delivery=\d+us sockets=24 "
    assert re.search(held + r"restaurants=4 nodes=2$", out, re.MULTILINE), out
    # the last step's full lines: the nodes, the masters
    assert re.search(FIGURE, out, re.MULTILINE), out
    assert len(re.findall(r"^cluster\[redis :\d+ master\]: used=", out, re.MULTILINE)) == 3, out


def test_rates_must_ascend() -> None:
    with pytest.raises(SystemExit):
        bench.run("cluster", ["--rates", "10,5"])
