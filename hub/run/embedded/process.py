"""Child processes that must not outlive us, and the leftovers of ones that did.

What every server we spawn needs from the OS (the embedded Redis and PostgreSQL,
and the hub and load generators of ``fireflow bench``): a death signal tied to
our process, a stop that escalates to SIGKILL so a hung child cannot hang us,
and the recognition of an orphan that a hub killed with ``-9`` left running on
a data directory.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

__all__ = [
    "HOST",
    "KILL_TIMEOUT",
    "POLL_INTERVAL",
    "START_TIMEOUT",
    "STOP_TIMEOUT",
    "EmbeddedServerError",
    "children_of",
    "die_with_parent",
    "free_port",
    "kill_tree",
    "orphan_on_dir",
    "stop_orphan",
    "terminate",
    "wait_gone",
]

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
# Generous: replaying a large AOF or WAL after a crash happens inside these windows.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
KILL_TIMEOUT = 10.0
POLL_INTERVAL = 0.01
_PR_SET_PDEATHSIG = 1


class EmbeddedServerError(RuntimeError):
    """A server could not be started or stopped; the message carries its log tail."""


class DataInUse(EmbeddedServerError):
    """The data directory is another live process's server's: a hub, or a command, already running on it."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


_libc: ctypes.CDLL | None = None


def die_with_parent(sig: signal.Signals) -> Callable[[], None] | None:
    """Make the child receive ``sig`` when we die, so a ``kill -9`` of the hub leaks nothing.

    Only armed from the main thread: the kernel fires it when the spawning *thread* exits.
    It runs after subprocess switched uid/gid, because a credential change clears it.
    """
    global _libc
    if not sys.platform.startswith("linux"):
        return None
    if threading.current_thread() is not threading.main_thread():
        return None
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    prctl = _libc.prctl
    parent = os.getpid()
    signum = int(sig)

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)
        if os.getppid() != parent:  # we died between fork and prctl
            os._exit(1)

    return preexec


def terminate(proc: subprocess.Popen[bytes], sig: signal.Signals, timeout: float) -> None:
    """Ask politely, then insist: a hung server must not hang the hub's shutdown."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        log.warning("pid %d ignored %s for %.0fs; sending SIGKILL", proc.pid, sig.name, timeout)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(KILL_TIMEOUT)


def kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL ``proc`` and all its descendants at once, like a crash of the whole server."""
    if proc.poll() is not None:
        return
    children = children_of(proc.pid)
    for victim in (proc.pid, *(c.pid for c in children)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)
    proc.wait(KILL_TIMEOUT)
    wait_gone(children, KILL_TIMEOUT)


def children_of(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _gone(proc: psutil.Process) -> bool:
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_gone(procs: list[psutil.Process], timeout: float) -> None:
    """Wait for ``procs`` to exit; a zombie counts as gone, since reaping it is not ours to do."""
    deadline = time.monotonic() + timeout
    while not all(_gone(p) for p in procs) and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL)


def orphan_on_dir(pid: int, names: tuple[str, ...], directory: Path) -> psutil.Process | None:
    """The server process ``pid`` if it is one of ours left behind by a dead parent.

    Both servers chdir into their data directory, which identifies them reliably.
    Raises if a live server owned by some other process still uses the directory.
    """
    try:
        proc = psutil.Process(pid)
        if proc.name() not in names or Path(proc.cwd()) != directory:
            return None
        parent = proc.ppid()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:
        raise DataInUse(f"{directory} may be in use by pid {pid}, which we may not inspect") from None
    if parent != 1:
        raise DataInUse(f"{directory} is in use by pid {pid} (parent pid {parent})")
    return proc


def stop_orphan(proc: psutil.Process, sig: signal.Signals) -> None:
    log.warning("stopping orphaned server pid %d left by a previous run", proc.pid)
    # Not psutil's wait(): an orphan's reaper may leave it a zombie, which it waits out.
    children: list[psutil.Process] = []
    with contextlib.suppress(psutil.NoSuchProcess):
        children = proc.children(recursive=True)
        proc.send_signal(sig)
        wait_gone([proc], STOP_TIMEOUT)
        if not _gone(proc):
            proc.kill()
    wait_gone([proc, *children], KILL_TIMEOUT)
