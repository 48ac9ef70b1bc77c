"""Local Redis and PostgreSQL servers run as child processes.

``waymark up`` uses them for the embedded stack under ``./.waymark/`` and the test suite for its
session servers. Each server keeps its data in a directory of its own, so one stopped or killed
and started again on the same directory comes back with its data: Redis replays its append-only
file, PostgreSQL recovers its data directory.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Literal

import structlog

from devstack.pgaccount import check_reachable, server_account
from devstack.processes import (
    STOP_TIMEOUT_S,
    DevstackError,
    free_port,
    port_is_free,
    spawn,
    stop_process,
    wait_ready,
)

__all__ = ["DevstackError", "PostgresServer", "RedisServer", "free_port", "port_is_free"]

log = structlog.get_logger()

_SOCKET_DIR_MAX = 80
"""PostgreSQL appends ``/.s.PGSQL.NNNNN`` to the socket dir and sun_path holds 107 bytes."""

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

StopMode = Literal["smart", "fast", "immediate"]
_STOP_SIGNALS: dict[str, signal.Signals] = {
    "smart": signal.SIGTERM,
    "fast": signal.SIGINT,
    "immediate": signal.SIGQUIT,
}


def _redis_answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            # A server still replaying its AOF answers -LOADING: not ready yet.
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class _ServerProcess:
    """A server child process (``_proc`` once started)."""

    _proc: subprocess.Popen[bytes] | None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The server's process id (PostgreSQL: the postmaster's) while it runs."""
        return self._proc.pid if self.running and self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        """How the last process exited (negative: killed by that signal); None while it runs."""
        return None if self._proc is None else self._proc.poll()


class RedisServer(_ServerProcess):
    """A ``redis-server`` child with append-only persistence in ``dir``."""

    def __init__(
        self,
        dir: Path,
        port: int | None = None,
        *,
        appendfsync: Literal["everysec", "always"] = "everysec",
        maxmemory: str | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.dir = Path(dir).resolve()
        self.extra_args = extra_args
        """More ``redis-server`` options (a cluster node's, for instance)."""
        self.port = free_port() if port is None else port
        self.appendfsync = appendfsync
        self.maxmemory = maxmemory
        self._proc: subprocess.Popen[bytes] | None = None
        self._paused = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.dir / "redis.log"

    def start(self) -> None:
        """Start (or restart on the same dir and port, replaying the AOF) and wait for PING."""
        if self.running:
            return
        exe = shutil.which("redis-server")
        if exe is None:
            raise DevstackError("redis-server is not installed (apt-get install redis-server)")
        self.dir.mkdir(parents=True, exist_ok=True)
        argv: list[str | Path] = [exe, "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--dir", self.dir]
        argv += ["--appendonly", "yes", "--appendfsync", self.appendfsync]
        argv += ["--maxmemory-policy", "noeviction", "--save", "", "--daemonize", "no"]
        argv += ["--protected-mode", "yes"]
        if self.maxmemory is not None:
            argv += ["--maxmemory", self.maxmemory]
        argv += self.extra_args
        with self.log_path.open("ab") as out:
            self._proc = spawn(argv, stdout=out)
        self._paused = False
        wait_ready(
            self._proc, lambda: _redis_answers_ping(self.port), "redis-server", self.log_path
        )
        log.info("redis_started", url=self.url, dir=str(self.dir), pid=self._proc.pid)

    def stop(self) -> None:
        """Shut down cleanly (SIGTERM: Redis flushes its AOF) and wait."""
        if self._proc is None or self._proc.poll() is not None:
            return
        if self._paused:
            # SIGTERM stays pending in a stopped process until it continues.
            self.resume()
        rc = stop_process(self._proc, signal.SIGTERM, STOP_TIMEOUT_S)
        log.info("redis_stopped", port=self.port, returncode=rc)

    def kill(self) -> None:
        """Die at once like a crash (SIGKILL); ``start`` recovers from the AOF."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
            log.info("redis_killed", port=self.port)

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): clients see a Redis that stopped answering."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGSTOP)
            self._paused = True

    def resume(self) -> None:
        if self._proc is not None:
            self._proc.send_signal(signal.SIGCONT)
            self._paused = False

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def find_postgres_bindir(major: str | None = None) -> Path:
    """The directory of the PostgreSQL server binaries, preferring version ``major``."""
    candidates: list[Path] = []
    if major is not None:
        candidates.append(Path(f"/usr/lib/postgresql/{major}/bin"))
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    versions = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if p.parent.name.isdigit()),
        key=lambda p: int(p.parent.name),
        reverse=True,
    )
    candidates += versions
    on_path = shutil.which("postgres")
    if on_path:
        candidates.append(Path(on_path).parent)
    for bindir in candidates:
        if (bindir / "postgres").is_file() and (bindir / "initdb").is_file():
            return bindir
    raise DevstackError("PostgreSQL server binaries not found (apt-get install postgresql)")


class PostgresServer(_ServerProcess):
    """A ``postgres`` child whose cluster lives in ``dir/data`` (created by initdb once)."""

    def __init__(
        self,
        dir: Path,
        port: int | None = None,
        *,
        fast: bool = False,
        user: str = "waymark",
        database: str = "waymark",
        settings: dict[str, str] | None = None,
    ) -> None:
        self.dir = Path(dir).resolve()
        self.settings = dict(settings or {})
        """Extra server settings (``-c name=value``), e.g. ``shared_preload_libraries``."""
        self.port = free_port() if port is None else port
        self.fast = fast
        self.user = user
        if not (_NAME.match(user) and _NAME.match(database)):
            raise DevstackError(f"PostgreSQL user and database must match {_NAME.pattern}")
        self.database = database
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    @property
    def log_path(self) -> Path:
        return self.dir / "postgres.log"

    def start(self) -> None:
        """Start on the existing cluster (initdb on first use), wait, create the database."""
        if self.running:
            return
        version_file = self.data_dir / "PG_VERSION"
        major = version_file.read_text().strip() if version_file.exists() else None
        bindir = find_postgres_bindir(major)
        account = server_account()
        if not self.dir.exists():
            self.dir.mkdir(parents=True)
            self.dir.chmod(0o755)
        if account is not None:
            check_reachable(self.dir, account)
        if major is None:
            self._initdb(bindir, account)
        self._clear_leftovers()
        with self.log_path.open("ab") as out:
            self._proc = spawn(
                [bindir / "postgres", "-D", self.data_dir, *self._options()],
                stdout=out,
                env=_client_env(),
                user=account,
                cwd=self.dir,
            )
        wait_ready(self._proc, lambda: self._accepts(bindir), "postgres", self.log_path)
        self._ensure_database(bindir)
        log.info("postgres_started", url=self.url, dir=str(self.dir), pid=self._proc.pid)

    def stop(self, mode: StopMode = "fast") -> None:
        """Shut down: ``fast`` rolls back open transactions, ``immediate`` is a crash."""
        if self._proc is None or self._proc.poll() is not None:
            return
        rc = stop_process(self._proc, _STOP_SIGNALS[mode], STOP_TIMEOUT_S)
        log.info("postgres_stopped", port=self.port, mode=mode, returncode=rc)

    def _clear_leftovers(self) -> None:
        # A killed postmaster leaves postmaster.pid (PostgreSQL itself sees that it is stale) and
        # backends that still hold its shared memory until they notice: the new postmaster would
        # refuse to start ("pre-existing shared memory block is still in use") until they go.
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return
        leftovers = _processes_in(self.data_dir)
        try:
            postmaster = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            postmaster = None
        if postmaster in leftovers:
            raise DevstackError(f"a postmaster (pid {postmaster}) already runs on {self.data_dir}")
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while _processes_in(self.data_dir) and time.monotonic() < deadline:
            time.sleep(0.05)
        if leftovers:
            log.warning("postgres_leftovers_killed", dir=str(self.data_dir), pids=leftovers)

    def _options(self) -> list[str]:
        socket_dir = str(self.data_dir) if len(str(self.data_dir)) <= _SOCKET_DIR_MAX else ""
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            # Inside the data area: the system socket dir may not exist or not be writable.
            "unix_socket_directories": socket_dir,
            "shared_buffers": "128MB",
            "max_connections": "200",
        }
        if self.fast:
            # Test servers trade crash safety for speed; a crash loses only throwaway data.
            settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        settings |= self.settings
        return [arg for k, v in settings.items() for arg in ("-c", f"{k}={v}")]

    def _initdb(self, bindir: Path, account: pwd.struct_passwd | None) -> None:
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        if account is not None:
            os.chown(self.data_dir, account.pw_uid, account.pw_gid)
        argv: list[str | Path] = [bindir / "initdb", "-D", self.data_dir, "--auth=trust"]
        argv += [f"--username={self.user}"]
        argv += ["--encoding=UTF8", "--locale=C", "--no-instructions"]
        if self.fast:
            argv.append("--no-sync")
        proc = spawn(argv, stdout=subprocess.PIPE, env=_client_env(), user=account, cwd=self.dir)
        output, _ = proc.communicate()
        if proc.returncode != 0:
            raise DevstackError(f"initdb failed:\n{output.decode(errors='replace')}")
        log.info("postgres_initialised", dir=str(self.data_dir))

    def _accepts(self, bindir: Path) -> bool:
        argv = [str(bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        argv += ["-U", self.user, "-d", "postgres", "-t", "1"]
        return subprocess.run(argv, env=_client_env()).returncode == 0

    def _ensure_database(self, bindir: Path) -> None:
        # The name is checked against _NAME in __init__, so interpolating it is safe.
        exists = f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"  # noqa: S608
        if self._psql(bindir, exists) != "1":
            self._psql(bindir, f'CREATE DATABASE "{self.database}"')

    def _psql(self, bindir: Path, sql: str) -> str:
        psql = bindir / "psql" if (bindir / "psql").is_file() else Path("psql")
        argv = [str(psql), "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"]
        argv += ["-p", str(self.port), "-U", self.user, "-d", "postgres", "-c", sql]
        out = subprocess.run(argv, capture_output=True, text=True, env=_client_env())
        if out.returncode != 0:
            raise DevstackError(f"psql failed ({sql}): {out.stderr.strip()}")
        return out.stdout.strip()

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _processes_in(cwd: Path) -> list[int]:
    """The ``postgres`` processes whose working directory is ``cwd`` (a cluster's data dir)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if Path(os.readlink(entry / "cwd")) == cwd and os.readlink(entry / "exe").endswith(
                "/postgres"
            ):
                found.append(int(entry.name))
        except OSError:
            continue  # gone meanwhile, or not ours to inspect
    return found


def _client_env() -> dict[str, str]:
    # PGHOST, PGDATABASE, PGOPTIONS & co. from the caller's shell must not redirect our tools.
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}
