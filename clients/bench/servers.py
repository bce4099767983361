"""The server under test, the hub or the baseline: one child process, its log, its RSS and CPU.

Spawned like the embedded servers (``fireflow.hub.run.embedded.process``): it dies with the
bench, so a killed bench leaves no hub behind, and a stop that is not obeyed in
time becomes SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from fireflow.clients.bench.environment import Env
from fireflow.clients.bench.usage import cpu_seconds, cpu_split
from fireflow.hub.run.embedded.process import HOST, die_with_parent, free_port, terminate

__all__ = ["Server", "start_baseline", "start_hub"]

_STOP_TIMEOUT = 15.0
_READY_TIMEOUT = 90.0


class Server:
    """One process listening on ``port``, with its output in ``log``."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path, port: int) -> None:
        self.name = name
        self.port = port
        self.log_path = log
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            argv, env=env, stdout=self._log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent(signal.SIGTERM)
        )
        self.ps = psutil.Process(self.proc.pid)

    @classmethod
    async def start(
        cls, name: str, argv: list[str], env: dict[str, str], log: Path, port: int, probe: Callable[[], bool]
    ) -> Server:
        """Spawn and wait until ``probe`` says it serves; stopped again if it never does."""
        server = cls(name, argv, env, log, port)
        try:
            await server.ready(probe)
        except BaseException:
            server.stop()
            raise
        return server

    def rss(self) -> int:
        return int(self.ps.memory_info().rss)

    def cpu(self) -> float:
        return cpu_seconds([self.ps])

    def cpu_split(self) -> tuple[float, float]:
        return cpu_split([self.ps])

    def own_cpu(self) -> float:
        """CPU seconds of the process itself, without its children (a hub's durable writer runs in one)."""
        with contextlib.suppress(psutil.Error):
            times = self.ps.cpu_times()
            return float(times.user + times.system)
        return 0.0

    async def metrics(self, *names: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """These samples of the hub's ``/metrics`` now, by name and labels (sorted pairs)."""
        async with httpx.AsyncClient(base_url=f"http://{HOST}:{self.port}", timeout=10) as http:
            scraped = (await http.get("/metrics")).text
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(scraped)
            for sample in family.samples
            if sample.name in names
        }

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    async def ready(self, probe: Callable[[], bool], timeout: float = _READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            if await asyncio.to_thread(probe):
                return
            await asyncio.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def stop(self) -> None:
        terminate(self.proc, signal.SIGTERM, _STOP_TIMEOUT)
        self._log.close()


def _http_ok(url: str) -> Callable[[], bool]:
    def probe() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    return probe


def _tcp_ok(port: int) -> Callable[[], bool]:
    def probe() -> bool:
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return True
        except OSError:
            return False

    return probe


async def start_hub(env: Env, extra_env: dict[str, str] | None = None) -> Server:
    """ONE hub process (``python -m fireflow.hub.run.cli serve``) on the bench's Redis and Postgres.

    ``extra_env`` is added to (and overrides) its environment: a scenario's settings, e.g. retentions.
    """
    port = env.args.port or free_port()
    child_env = {
        **os.environ,
        "REDIS_URL": env.redis_url,
        "DATABASE_URL": env.database_url,
        "FIREFLOW_SECRET": env.secret,
        "FIREFLOW_LOG_LEVEL": os.environ.get("FIREFLOW_LOG_LEVEL", "WARNING"),
        **(extra_env or {}),
    }
    argv = [
        sys.executable,
        "-m",
        "fireflow.hub.run.cli",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(env.directory / "hub"),
    ]
    return await Server.start(
        "hub", argv, child_env, env.directory / "hub.log", port, _http_ok(f"http://{HOST}:{port}/readyz")
    )


async def start_baseline(env: Env, frame_size: int) -> Server:
    """The bare websockets broadcast server (``clients/baseline.py``), its frames padded to ``frame_size``."""
    port = free_port()
    argv = [sys.executable, "-m", "fireflow.clients.baseline", "--port", str(port), "--frame-size", str(frame_size)]
    return await Server.start("baseline", argv, dict(os.environ), env.directory / "baseline.log", port, _tcp_ok(port))
