"""The load generator processes (``python -m fireflow.clients.loadgen``) and their line protocol on stdin/stdout."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import psutil

from fireflow.clients.bench.usage import cpu_seconds
from fireflow.hub.run.embedded.process import die_with_parent

__all__ = ["Workers"]


class Workers:
    """One request to every worker, one answer from each (see clients/loadgen.py)."""

    def __init__(self) -> None:
        self.procs: list[asyncio.subprocess.Process] = []
        self.ps: list[psutil.Process] = []
        self.busy = False  # a request is out: the workers read no stdin until they answer

    async def start(self, configs: list[dict[str, Any]], directory: Path, timeout: float) -> list[dict[str, Any]]:
        for config in configs:
            path = directory / f"worker-{config['index']}.json"
            path.write_bytes(orjson.dumps(config))
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "fireflow.clients.loadgen",
                str(path),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                limit=1 << 26,
                preexec_fn=die_with_parent(signal.SIGTERM),  # a killed bench leaves no generator behind
            )
            self.procs.append(proc)
            self.ps.append(psutil.Process(proc.pid))
        return await self._collect(timeout)

    async def _read(self, proc: asyncio.subprocess.Process) -> dict[str, Any]:
        assert proc.stdout is not None
        line = await proc.stdout.readline()
        if not line:
            code = await proc.wait()
            raise RuntimeError(f"load generator {proc.pid} exited with {code} (its stderr is above)")
        answer: dict[str, Any] = orjson.loads(line)
        return answer

    async def _collect(self, timeout: float) -> list[dict[str, Any]]:
        """One answer from every worker; every read is finished or cancelled on the way out, whatever happens."""
        self.busy = True
        reads = [asyncio.ensure_future(self._read(p)) for p in self.procs]
        try:
            _, pending = await asyncio.wait(reads, timeout=timeout, return_when=asyncio.FIRST_EXCEPTION)
            if pending and not any(r.done() and r.exception() for r in reads):
                raise TimeoutError(f"load generator gave no answer in {timeout:.0f}s")
            answers = [r.result() for r in reads]
        finally:
            for read in reads:
                read.cancel()
            await asyncio.gather(*reads, return_exceptions=True)
        self.busy = False
        return answers

    async def ask(self, messages: list[dict[str, Any]], timeout: float) -> list[dict[str, Any]]:
        for proc, message in zip(self.procs, messages, strict=True):
            assert proc.stdin is not None
            proc.stdin.write(orjson.dumps(message) + b"\n")
            await proc.stdin.drain()
        return await self._collect(timeout)

    def cpu(self) -> float:
        return cpu_seconds(self.ps)

    async def stop(self) -> None:
        """Quit between requests; SIGTERM (close the sockets now) when interrupted in the middle of one."""
        for proc in self.procs:
            if proc.returncode is not None:
                continue
            if self.busy:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
            elif proc.stdin is not None:
                with contextlib.suppress(Exception):
                    proc.stdin.write(b'{"cmd":"quit"}\n')
                    await proc.stdin.drain()
                    proc.stdin.close()
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except (TimeoutError, asyncio.CancelledError):
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        self.procs.clear()
        self.ps.clear()
