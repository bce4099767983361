"""REDIS_URL may name a unix socket (a Redis on the same machine): the hub's client speaks to it as over TCP."""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fireflow.hub.live.multiplexed import MultiplexedRedis
from fireflow.hub.live.redis_client import redis_client
from fireflow.hub.run.embedded.redis import _redis_executable


@pytest.fixture
def unix_url() -> Iterator[str]:
    """A redis-server on a unix socket alone (no TCP port), once it says it is ready; a short directory, as a
    socket's path must be."""
    with tempfile.TemporaryDirectory(dir="/tmp", prefix="ff-") as directory:
        sock = Path(directory) / "r.sock"
        command = [str(_redis_executable()), "--port", "0", "--unixsocket", str(sock), "--save", "", "--dir", directory]
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        watchdog = threading.Timer(30, proc.kill)  # a server that never gets ready ends the wait below
        watchdog.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if "ready to accept connections" in line.lower():
                    break
            else:
                pytest.fail("redis-server on a unix socket never said it was ready")
            draining = threading.Thread(target=proc.stdout.read, daemon=True)  # its log, read so it never blocks
            draining.start()
            yield f"unix://{sock}?db=0"
        finally:
            watchdog.cancel()
            proc.terminate()
            proc.wait(timeout=10)
            if proc.stdout is not None:
                proc.stdout.close()


async def test_the_hubs_client_runs_commands_and_scripts_over_a_unix_socket(unix_url: str) -> None:
    """A unix socket's URL made the client fail at its first command (TCP keepalive asked of a unix socket);
    now plain commands go over the one pipelined connection and scripts run, as over TCP."""
    client = redis_client(unix_url)
    try:
        assert isinstance(client, MultiplexedRedis)
        await client.set("k", "v")
        script = client.register_script("return redis.call('GET', KEYS[1]) .. ARGV[1]")
        answers = await asyncio.gather(client.get("k"), script(keys=["k"], args=["!"]), client.incr("n"))
        assert answers == [b"v", b"v!", 1]
    finally:
        await client.aclose()
