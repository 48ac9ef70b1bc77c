"""The account the embedded PostgreSQL runs as, and where that account can keep its cluster.

PostgreSQL refuses to run as root, so when Waymark runs as root (containers, VMs) ``initdb`` and
``postgres`` run as the ``postgres`` system user. That user must be able to enter every
directory above the cluster. A clone under a private home (``/root``, mode 0700) is out of its
reach; such a stack keeps its cluster under ``/var/lib/waymark/<hash of the data dir>/pg``
instead, a directory the ``postgres`` user owns, and ``<data dir>/pg`` is a symlink to it.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
from pathlib import Path

from devstack.processes import DevstackError

ROOT_CLUSTERS = Path("/var/lib/waymark")
"""Where a root-run stack keeps clusters the ``postgres`` user could not reach in place."""


def server_account() -> pwd.struct_passwd | None:
    """The account PostgreSQL runs as: ``postgres`` when we are root (it refuses root)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise DevstackError(
            "PostgreSQL does not run as root and there is no 'postgres' user to run it as"
        ) from None


def blocking_dir(path: Path, user: pwd.struct_passwd) -> Path | None:
    """The first existing directory at or above ``path`` that ``user`` cannot enter, if any."""
    groups = set(os.getgrouplist(user.pw_name, user.pw_gid))
    for p in (path, *path.parents):
        try:
            st = p.stat()
        except FileNotFoundError:
            continue
        if st.st_uid == user.pw_uid:
            ok = st.st_mode & 0o100
        elif st.st_gid in groups:
            ok = st.st_mode & 0o010
        else:
            ok = st.st_mode & 0o001
        if not ok:
            return p
    return None


def check_reachable(path: Path, user: pwd.struct_passwd) -> None:
    """Fail with a message naming the directory if ``user`` cannot reach ``path``."""
    blocked = blocking_dir(path, user)
    if blocked is not None:
        raise DevstackError(
            f"PostgreSQL runs as user {user.pw_name!r}, which cannot enter {blocked}: "
            f"make it traversable (chmod o+x {blocked}) or keep the data elsewhere"
        )


def cluster_dir(data_dir: Path) -> Path:
    """The directory of the stack's PostgreSQL (``<data_dir>/pg`` or where that link points).

    Only a root-run stack whose data dir the ``postgres`` user cannot reach moves it: to its own
    directory under ``ROOT_CLUSTERS``, owned by ``postgres`` (mode 0700), linked from
    ``<data_dir>/pg``. Later runs follow the link.
    """
    data_dir = data_dir.resolve()
    link = data_dir / "pg"
    account = server_account()
    if link.is_symlink() or account is None or blocking_dir(data_dir, account) is None:
        return link.resolve()
    if (link / "data" / "PG_VERSION").exists():
        raise DevstackError(
            f"the cluster in {link} is out of reach of the {account.pw_name!r} user: "
            f"move it (or remove it to start afresh) and run again"
        )
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:16]
    home = ROOT_CLUSTERS / digest
    ROOT_CLUSTERS.mkdir(mode=0o755, parents=True, exist_ok=True)
    home.mkdir(mode=0o700, exist_ok=True)
    os.chown(home, account.pw_uid, account.pw_gid)
    home.chmod(0o700)
    # Only the log of an earlier run that failed to start can be here, no cluster.
    if link.is_dir():
        shutil.rmtree(link)
    elif link.exists():
        link.unlink()
    link.symlink_to(home / "pg", target_is_directory=True)
    return home / "pg"
