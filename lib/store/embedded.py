"""The zero-configuration database: a PostgreSQL server started from the pgserver wheel.

Its files live in <data_dir>/pgdata (gitignored). The server listens on a Unix socket only and
keeps running after the process that started it exits (cleanup_mode=None), so the app, the CLI
and workers share it and the next start takes well under a second. `python -m lib db stop` stops it.
When it dies (killed, crashed, stopped), the next start_embedded() starts it again: the app's store
calls it when its connections fail (lib/store/postgres.py, `revive`).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import subprocess
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from lib.store.protocol import StoreUnavailable

log = logging.getLogger(__name__)

DATABASE = "brightrun"
_starting = threading.Lock()


@dataclass(frozen=True)
class EmbeddedServer:
    dsn: str  # of the app's database on the server
    admin_dsn: str  # of the server's maintenance database (postgres), for create/drop database
    pgdata: Path
    label: str  # safe to show


def start_embedded(data_dir: Path, database: str = DATABASE, *, keep_running: bool = True) -> EmbeddedServer:
    """Start (or find running, or start again after it died) the embedded server in data_dir, and make
    sure `database` exists. keep_running=False stops the server and deletes its files when this process
    exits (tests). Raises StoreUnavailable with one line saying what to do."""
    data_dir = Path(data_dir)
    pgdata = data_dir / "pgdata"
    _need_writable(data_dir)
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            # platformdirs warns that XDG_RUNTIME_DIR is unset (it is, in containers); harmless
            warnings.simplefilter("ignore")
            import pgserver

            server = pgserver.get_server(pgdata, cleanup_mode=None if keep_running else "delete")
            _ensure_running(server)
            admin_dsn = server.get_uri("postgres")
    except ImportError:
        raise StoreUnavailable(
            "the embedded database needs the pgserver package: pip install -r requirements.txt, "
            "or set DATABASE_URL to a PostgreSQL server"
        ) from None
    except (subprocess.SubprocessError, OSError, AssertionError) as exc:
        _forget(pgdata)
        if isinstance(exc, PermissionError) or getattr(exc, "errno", None) == errno.EROFS:
            raise StoreUnavailable(_read_only(data_dir)) from None
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StoreUnavailable(
            f"cannot start the embedded PostgreSQL in {_show(pgdata)}: {reason}. Its log is {_show(pgdata / 'log')}. "
            f"If the folder came from another machine or PostgreSQL version, move it aside (mv {_show(data_dir)} "
            f"{_show(data_dir).rstrip('/')}.old; the old data stays there) and start the app again"
        ) from None
    try:
        ensure_database(admin_dsn, database)
    except psycopg.OperationalError as exc:
        raise StoreUnavailable(
            f"the embedded PostgreSQL in {_show(pgdata)} started but does not accept connections "
            f"({str(exc).splitlines()[0]}); see its log {_show(pgdata / 'log')}"
        ) from None
    return EmbeddedServer(
        dsn=server.get_uri(database),
        admin_dsn=admin_dsn,
        pgdata=pgdata,
        label=f"embedded PostgreSQL in {_show(data_dir)}",
    )


def _need_writable(data_dir: Path) -> None:
    """The data folder exists and this user may write in it (PostgreSQL must, and exports go there)."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if isinstance(exc, PermissionError) or exc.errno == errno.EROFS:
            raise StoreUnavailable(_read_only(data_dir)) from None
        raise StoreUnavailable(
            f"cannot create the data folder {_show(data_dir)}: {exc.strerror}; "
            "set BRIGHTRUN_DATA_DIR to a folder that can be created"
        ) from None
    pgdata = data_dir / "pgdata"
    if not all(os.access(p, os.W_OK) for p in (data_dir, pgdata) if p.exists()):
        raise StoreUnavailable(_read_only(data_dir))


def _read_only(data_dir: Path) -> str:
    return (
        f"the data folder {_show(data_dir)} is read-only for this user: make it writable "
        f"(chmod -R u+w {_show(data_dir)}, or remount it read-write), or set BRIGHTRUN_DATA_DIR to a writable "
        "folder. Nothing in it was changed"
    )


def _ensure_running(server: Any) -> None:
    """Start the server again when its postmaster is gone (killed, crashed, or stopped with `db stop`):
    pgserver hands out its handle of the first start, which would keep pointing at a dead server."""
    from pgserver.postgres_server import PostgresServer
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(server.pgdata)
    if info is not None and info.is_running() and info.status == "ready":
        return
    # pgserver's lock is between processes (a file lock), not between this process's threads (the
    # pages and the worker's): one of each starts it, the others find it running
    with _starting, PostgresServer._lock:
        info = PostmasterInfo.read_from_pgdata(server.pgdata)
        if info is None or not info.is_running():
            log.warning("the embedded PostgreSQL in %s is not running; starting it again", _show(server.pgdata))
        server.ensure_postgres_running()


def _forget(pgdata: Path) -> None:
    """Drop pgserver's handle of a server that failed to start, so the next attempt starts from scratch
    instead of handing out a handle without a server (which fails later with a bare AssertionError)."""
    with contextlib.suppress(ImportError):
        from pgserver.postgres_server import PostgresServer

        PostgresServer._instances.pop(pgdata.expanduser().resolve(), None)


def ensure_database(admin_dsn: str, database: str) -> bool:
    """Create the database when it is missing. Returns True if it was created."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        if conn.execute("select 1 from pg_database where datname = %(name)s", {"name": database}).fetchone():
            return False
        try:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(database)))
        except psycopg.errors.DuplicateDatabase:
            return False  # another process created it meanwhile
    log.info("created database %s on the embedded server", database)
    return True


def drop_database(admin_dsn: str, database: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(database)))


def _show(path: Path) -> str:
    from lib.config import ROOT

    try:
        return str(path.resolve().relative_to(ROOT)) + "/"
    except ValueError:
        return str(path)


def stop_server(data_dir: Path, timeout_s: float = 30.0) -> bool:
    """Stop the embedded server in data_dir the way `pg_ctl stop -m fast` does (SIGINT: sessions are
    ended, and what they committed is kept). False when none was running."""
    from pgserver.utils import PostmasterInfo

    pgdata = Path(data_dir) / "pgdata"
    info = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.is_dir() else None
    if info is None or info.process is None or not info.is_running():
        return False
    os.kill(info.pid, signal.SIGINT)
    info.process.wait(timeout_s)
    _forget(pgdata)
    return True


def stop_embedded(server: EmbeddedServer) -> None:
    """Stop a server this process started with keep_running=False (and delete its files)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        pgserver.get_server(server.pgdata).cleanup()
