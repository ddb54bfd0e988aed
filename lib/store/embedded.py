"""The zero-configuration database: a PostgreSQL server started from the pgserver wheel.

Its files live in <data_dir>/pgdata (gitignored). The server listens on a Unix socket only and
keeps running after the process that started it exits (cleanup_mode=None), so the app, the CLI
and workers share it and the next start takes well under a second.
"""

from __future__ import annotations

import logging
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from lib.store.protocol import StoreUnavailable

log = logging.getLogger(__name__)

DATABASE = "brightrun"


@dataclass(frozen=True)
class EmbeddedServer:
    dsn: str  # of the app's database on the server
    admin_dsn: str  # of the server's maintenance database (postgres), for create/drop database
    pgdata: Path
    label: str  # safe to show


def start_embedded(data_dir: Path, database: str = DATABASE, *, keep_running: bool = True) -> EmbeddedServer:
    """Start (or find running) the embedded server in data_dir and make sure `database` exists.
    keep_running=False stops the server and deletes its files when this process exits (tests)."""
    data_dir = Path(data_dir)
    pgdata = data_dir / "pgdata"
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreUnavailable(
            f"cannot create the data folder {data_dir}: {exc.strerror}; set BRIGHTRUN_DATA_DIR to a writable folder"
        ) from None
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            # platformdirs warns that XDG_RUNTIME_DIR is unset (it is, in containers); harmless
            warnings.simplefilter("ignore")
            import pgserver

            server = pgserver.get_server(pgdata, cleanup_mode=None if keep_running else "delete")
    except ImportError:
        raise StoreUnavailable(
            "the embedded database needs the pgserver package: pip install -r requirements.txt, "
            "or set DATABASE_URL to a PostgreSQL server"
        ) from None
    except (subprocess.SubprocessError, OSError, AssertionError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StoreUnavailable(
            f"cannot start the embedded PostgreSQL in {pgdata}: {reason}. "
            f"See {pgdata / 'log'}; to start over, delete {data_dir} (this deletes the embedded data)"
        ) from None
    admin_dsn = server.get_uri("postgres")
    ensure_database(admin_dsn, database)
    return EmbeddedServer(
        dsn=server.get_uri(database),
        admin_dsn=admin_dsn,
        pgdata=pgdata,
        label=f"embedded PostgreSQL in {_show(data_dir)}",
    )


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


def stop_embedded(server: EmbeddedServer) -> None:
    """Stop a server this process started with keep_running=False (and delete its files)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        pgserver.get_server(server.pgdata).cleanup()
