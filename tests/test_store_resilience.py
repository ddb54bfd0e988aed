"""The store carries on after its database restarts, with no manual step: the embedded server is
started again when it died, and a server someone else restarts is reconnected to. `python -m lib db
stop` stops the embedded server. Each test runs a server of its own (the suite's shared one stays up)."""
from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pgserver.utils import PostmasterInfo
from psycopg import sql

from lib.store.cli import main as db_cli
from lib.store.embedded import EmbeddedServer, start_embedded, stop_embedded, stop_server
from lib.store.postgres import PostgresStore


@pytest.fixture
def server() -> Iterator[EmbeddedServer]:
    # not under pytest's basetemp (0700): the server runs as another OS user when the tests run as root
    folder = Path(tempfile.mkdtemp(prefix="brightrun-test-"))
    srv = start_embedded(folder / "data", keep_running=False)
    try:
        yield srv
    finally:
        stop_embedded(srv)
        shutil.rmtree(folder, ignore_errors=True)


def started_at(store: PostgresStore) -> Any:
    return store._rows("read the start time", sql.SQL("select pg_postmaster_start_time() as t"), {})[0]["t"]


def kill_postmaster(srv: EmbeddedServer) -> None:
    info = PostmasterInfo.read_from_pgdata(srv.pgdata)
    assert info is not None and info.process is not None
    os.kill(info.pid, signal.SIGKILL)
    info.process.wait(10)


def test_the_embedded_server_killed_under_the_app_is_started_again_on_the_next_call(server: EmbeddedServer) -> None:
    data_dir = server.pgdata.parent
    store = PostgresStore(server.dsn, kind="embedded", revive=lambda: start_embedded(data_dir, keep_running=False))
    try:
        before = started_at(store)
        kill_postmaster(server)
        assert started_at(store) > before  # the same store object, a new server
    finally:
        store.close()


def test_a_server_restarted_by_someone_else_is_reconnected_to(server: EmbeddedServer) -> None:
    data_dir = server.pgdata.parent
    store = PostgresStore(server.dsn)  # no revive: as with DATABASE_URL, someone else runs the server
    try:
        before = started_at(store)
        assert stop_server(data_dir)
        start_embedded(data_dir, keep_running=False)  # "someone else" brings it back
        assert started_at(store) > before  # the pool's dead connections were replaced
    finally:
        store.close()


def test_db_stop_stops_the_embedded_server(server: EmbeddedServer, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    for name in list(os.environ):
        if name.startswith(("DATABASE_URL", "SUPABASE_", "BRIGHTRUN_")):
            monkeypatch.delenv(name)
    monkeypatch.setattr("lib.config.SECRETS_FILE", Path(__file__).parent / "no-secrets.toml")
    monkeypatch.setenv("BRIGHTRUN_DATA_DIR", str(server.pgdata.parent))
    assert db_cli(["stop"]) == 0
    assert "stopped the embedded PostgreSQL" in capsys.readouterr().out
    info = PostmasterInfo.read_from_pgdata(server.pgdata)
    assert info is None or not info.is_running()
    assert db_cli(["stop"]) == 0
    assert "was not running" in capsys.readouterr().out
    monkeypatch.setenv("DATABASE_URL", server.dsn)
    assert db_cli(["stop"]) == 1
    assert "stops only the embedded PostgreSQL" in capsys.readouterr().err
