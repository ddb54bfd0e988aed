"""Database fixtures: one embedded PostgreSQL per test session, each test isolated.

The session starts one pgserver in a temporary folder (fsync off: its data is thrown away) and
builds two template databases once: `brightrun_template` (migrations applied, taxonomy synced)
and `brightrun_seeded` (that, booted as the app boots an empty database: the seeds imported and
the default plan added).
- `db_dsn` / `store` / `conn`: a shared database copied from the first template once;
  `seeded_dsn` (and `app_env`, for pages under AppTest): one copied from the seeded template.
  After each test a shared database is put back as it was (`Snapshot`): ~20 ms, where a
  CREATE DATABASE per test takes ~0.15 s.
- `fresh_dsn`: a database of its own (CREATE DATABASE ... TEMPLATE), for a test that must not
  share anything; `empty_dsn`: a database with nothing in it, for the migration tests;
  `seeded_database()`: a seeded database of its own, for the browser tests' apps.
"""
from __future__ import annotations

import itertools
import json
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from lib.config import Settings
from lib.core.models import Conversation
from lib.core.taxonomy import Taxonomy, load_taxonomy
from lib.store.boot import open_store, sync_taxonomy
from lib.store.embedded import (
    EmbeddedServer,
    drop_database,
    ensure_database,
    start_embedded,
    stop_embedded,
)
from lib.store.migrate import migrate
from lib.store.postgres import PostgresStore
from tests.browser_app import app_url, browser, chromium, page  # noqa: F401  (the browser tests' fixtures)

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_DB = "brightrun_template"
SEEDED_DB = "brightrun_seeded"
_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def pg_data_dir() -> Iterator[Path]:
    # Not under pytest's basetemp: another pytest session starting on the machine resets
    # /tmp/pytest-of-<user> to 0700, and the server runs as another OS user (pgserver's).
    path = Path(tempfile.mkdtemp(prefix="brightrun-test-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server(pg_data_dir: Path) -> Iterator[EmbeddedServer]:
    server = start_embedded(pg_data_dir, database="postgres", keep_running=False)
    with psycopg.connect(server.admin_dsn, autocommit=True) as conn:
        # throwaway data: durability only costs time here
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(sql.SQL("alter system set {} = off").format(sql.Identifier(setting)))
        conn.execute("select pg_reload_conf()")
    try:
        yield server
    finally:
        stop_embedded(server)


@pytest.fixture(scope="session")
def db_tax() -> Taxonomy:
    return load_taxonomy(ROOT / "taxonomy")


@pytest.fixture(scope="session")
def template_db(pg_server: EmbeddedServer, db_tax: Taxonomy) -> str:
    drop_database(pg_server.admin_dsn, TEMPLATE_DB)
    ensure_database(pg_server.admin_dsn, TEMPLATE_DB)
    dsn = dsn_for(pg_server, TEMPLATE_DB)
    with psycopg.connect(dsn, autocommit=True) as conn:
        migrate(conn)
    store = PostgresStore(dsn, min_size=1, max_size=1)
    try:
        sync_taxonomy(store, db_tax)
    finally:
        store.close()  # CREATE DATABASE ... TEMPLATE needs the template without connections
    return TEMPLATE_DB


def dsn_for(server: EmbeddedServer, database: str) -> str:
    return server.admin_dsn.replace("/postgres?", f"/{database}?", 1)


@contextmanager
def _database(server: EmbeddedServer, template: str | None) -> Iterator[str]:
    name = f"test_{next(_numbers)}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(server.admin_dsn, autocommit=True) as conn:
        query = sql.SQL("create database {}").format(sql.Identifier(name))
        if template:
            query += sql.SQL(" template {}").format(sql.Identifier(template))
        conn.execute(query)
    try:
        yield dsn_for(server, name)
    finally:
        drop_database(server.admin_dsn, name)


SNAPSHOT_SCHEMA = "test_snapshot"


@dataclass(frozen=True)
class Snapshot:
    """A shared database as it was when taken, and the one SQL script that puts it back: every
    table but the migration ledger emptied and refilled from its copy in schema test_snapshot
    (triggers off: the rows go back as they were), and every sequence set back."""
    dsn: str
    restore: sql.Composed


def take_snapshot(dsn: str) -> Snapshot:
    with psycopg.connect(dsn, autocommit=True) as c:
        tables = [r[0] for r in c.execute(
            "select tablename from pg_tables where schemaname = 'public' and tablename <> 'schema_migrations' "
            "order by tablename")]
        c.execute(sql.SQL("drop schema if exists {s} cascade; create schema {s}").format(
            s=sql.Identifier(SNAPSHOT_SCHEMA)))
        # delete, not truncate: a truncate makes new files for each table and index, 3x slower here
        # (autovacuum clears the dead rows)
        script = [sql.SQL("set local session_replication_role = replica")]
        script += [sql.SQL("delete from {}").format(sql.Identifier("public", t)) for t in tables]
        for table in tables:
            columns = sql.SQL(", ").join(sql.Identifier(r[0]) for r in c.execute(
                "select column_name from information_schema.columns where table_schema = 'public' "
                "and table_name = %(t)s and is_generated = 'NEVER' order by ordinal_position", {"t": table}))
            copy, source = sql.Identifier(SNAPSHOT_SCHEMA, table), sql.Identifier("public", table)
            c.execute(sql.SQL("create table {} as select {} from {}").format(copy, columns, source))
            if c.execute(sql.SQL("select exists (select from {})").format(copy)).fetchone()[0]:
                script.append(sql.SQL("insert into {} ({}) overriding system value select {} from {}").format(
                    source, columns, columns, copy))
        for name, start, last in c.execute(
                "select format('%I.%I', schemaname, sequencename), start_value, last_value "
                "from pg_sequences where schemaname = 'public'"):
            script.append(sql.SQL("select setval({}, {}, {})").format(
                sql.Literal(name), sql.Literal(start if last is None else last), sql.Literal(last is not None)))
    return Snapshot(dsn, sql.SQL(";\n").join(script))


def restore(snapshot: Snapshot) -> None:
    with psycopg.connect(snapshot.dsn, autocommit=True) as c, c.transaction():
        c.execute(snapshot.restore)


def close_other_connections(dsn: str) -> None:
    """Pages under AppTest leave their cached store's pool open (st.cache_resource.clear() drops it
    without closing it): its connections would pile up on a shared database."""
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("select pg_terminate_backend(pid) from pg_stat_activity "
                  "where datname = current_database() and pid <> pg_backend_pid()")


@pytest.fixture(scope="session")
def shared_db(pg_server: EmbeddedServer, template_db: str) -> Iterator[Snapshot]:
    with _database(pg_server, template_db) as dsn:
        yield take_snapshot(dsn)


@pytest.fixture
def db_dsn(shared_db: Snapshot) -> Iterator[str]:
    """The shared test database: migrations applied, taxonomy synced, no other rows."""
    try:
        yield shared_db.dsn
    finally:
        restore(shared_db)


@pytest.fixture(scope="session")
def seeded_template(pg_server: EmbeddedServer, template_db: str) -> str:
    """The template database booted as the app boots an empty one (lib.store.boot.open_store)."""
    drop_database(pg_server.admin_dsn, SEEDED_DB)
    with psycopg.connect(pg_server.admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {} template {}").format(
            sql.Identifier(SEEDED_DB), sql.Identifier(template_db)))
    store = open_store(Settings(database_url=dsn_for(pg_server, SEEDED_DB)))
    report = store.boot
    store.close()  # a template must have no connections
    assert report is not None and report.seeds_imported and not report.seed_problems and report.planned, report
    return SEEDED_DB


@pytest.fixture(scope="session")
def shared_seeded_db(pg_server: EmbeddedServer, seeded_template: str) -> Iterator[Snapshot]:
    with _database(pg_server, seeded_template) as dsn:
        yield take_snapshot(dsn)


@pytest.fixture
def seeded_dsn(shared_seeded_db: Snapshot) -> Iterator[str]:
    """A shared database as a first start leaves it: the seeds imported (10 approved conversations)
    and the default plan (90 new scenarios: 100 in all)."""
    try:
        yield shared_seeded_db.dsn
    finally:
        close_other_connections(shared_seeded_db.dsn)
        restore(shared_seeded_db)


@pytest.fixture(scope="session")
def seeded_database(pg_server: EmbeddedServer, seeded_template: str) -> Callable[[], AbstractContextManager[str]]:
    """`with seeded_database() as dsn:` a seeded database of its own, dropped at the end."""
    return lambda: _database(pg_server, seeded_template)


@pytest.fixture
def fresh_dsn(pg_server: EmbeddedServer, template_db: str) -> Iterator[str]:
    """A database of its own with the migrations applied and the taxonomy synced."""
    with _database(pg_server, template_db) as dsn:
        yield dsn


@pytest.fixture
def empty_dsn(pg_server: EmbeddedServer) -> Iterator[str]:
    """A fresh database with nothing in it (template0-like)."""
    with _database(pg_server, "template1") as dsn:
        yield dsn


@pytest.fixture
def store(db_dsn: str) -> Iterator[PostgresStore]:
    s = PostgresStore(db_dsn, min_size=1, max_size=6)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def conn(db_dsn: str) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    """A raw connection as the owner (the role a direct DATABASE_URL connection has). Autocommit,
    so each `with conn.transaction()` (as_role) is a real transaction and SET LOCAL ends with it."""
    with psycopg.connect(db_dsn, row_factory=dict_row, autocommit=True) as c:
        yield c


# -- helpers the database tests share ---------------------------------------------------------
def scenario_rows(tax: Taxonomy, n: int) -> list[dict[str, Any]]:
    """n simple template-tier scenarios cycling through the taxonomy (no planner involved)."""
    def pick(dim: str, i: int) -> str:
        ids = tax.ids(dim)
        return ids[i % len(ids)]

    return [{"tier": "template", "persona": pick("personas", i), "emotional_arc": pick("arcs", i),
             "topic": pick("topics", i), "intent": pick("intents", i), "tone": pick("tones", i),
             "outcome_type": pick("outcomes", i), "context_id": None, "context": None} for i in range(n)]


def make_conversation(scenario: Mapping[str, Any], conv_id: str, *, turns: int = 4,
                      source: str = "generated") -> Conversation:
    """A small valid Conversation for a v_scenarios row (start/end emotion from its arc)."""
    out: list[dict[str, Any]] = []
    users = turns // 2
    for u in range(users):
        emotion = scenario["start_emotion"] if u < users - 1 or users == 1 else scenario["end_emotion"]
        out.append({"role": "user", "text": f"User turn {u} about {scenario['topic']}.",
                    "emotion": {"primary": emotion, "intensity": 0.7, "valence": -0.4, "arousal": 0.6,
                                "cues": []}})
        out.append({"role": "assistant", "text": f"Assistant turn {u}.",
                    "strategies": {"primary": "empathic_validation", "supporting": ["normalizing"]},
                    "intended_effect": "feel heard", "learning_objective": "validate first"})
    doc = {
        "id": conv_id,
        "dataset": {"name": "test", "version": "0", "vertical": "financial_planning"},
        "scenario": {k: scenario[k] for k in ("tier", "persona", "emotional_arc", "topic", "intent", "tone",
                                             "outcome_type", "context_id", "context")},
        "system_prompt": "You are Elena.",
        "turns": out,
        "arc": {"start": {"emotion": scenario["start_emotion"], "intensity": 0.7},
                "end": {"emotion": scenario["end_emotion"], "intensity": 0.3}},
        "quality": {"score": 8},
        "provenance": {"source": source, "model": "claude-test", "usage": {"input_tokens": 100, "output_tokens": 50},
                       "cost_usd": 0.01},
    }
    return Conversation.model_validate(doc)


@contextmanager
def as_role(conn: psycopg.Connection[Any], role: str, user_id: uuid.UUID | None = None) -> Iterator[None]:
    """Run the block as Supabase runs a request: SET LOCAL ROLE plus request.jwt.claims, in a
    transaction that is rolled back (or committed) with the block."""
    claims: dict[str, str] = {"role": role}
    if user_id is not None:
        claims["sub"] = str(user_id)
    with conn.transaction():
        conn.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
        conn.execute("select set_config('request.jwt.claims', %(claims)s, true)", {"claims": json.dumps(claims)})
        yield


def add_member(conn: psycopg.Connection[Any], role: str) -> uuid.UUID:
    user_id = uuid.uuid4()
    with conn.transaction():
        conn.execute("insert into public.members (user_id, email, role) values (%(id)s, %(email)s, %(role)s)",
                     {"id": user_id, "email": f"{role}-{user_id.hex[:6]}@example.com", "role": role})
    return user_id


@pytest.hookimpl(trylast=True)  # after the test's fixtures (its browser context) are gone
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    chromium.close_unless_needed(nextitem)


# -- pages under AppTest ------------------------------------------------------------------------
@pytest.fixture(scope="session", autouse=True)
def streamlit_components_scanned_once() -> Iterator[None]:
    """Every AppTest scans all installed packages for Streamlit components on its first run
    (~0.1 s, and the suite makes about a hundred); they do not change during a session, so the
    first scan's result is reused."""
    try:
        if "streamlit" not in sys.modules:  # no page test in this session
            raise ImportError
        from streamlit.components.v2 import manifest_scanner

        found = manifest_scanner.scan_component_manifests()
    except (ImportError, AttributeError):  # another Streamlit: the tests only run slower
        yield
        return
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(manifest_scanner, "scan_component_manifests", lambda max_workers=None: list(found))
        yield


@pytest.fixture
def app_env(seeded_dsn: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Pages run under AppTest against the shared seeded database (a first start: seeds imported,
    the default 90 new scenarios planned), put back as it was after the test. Returns its DSN."""
    import os

    import streamlit as st

    for name in list(os.environ):
        if name.startswith(("ANTHROPIC_", "SUPABASE_", "BRIGHTRUN_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DATABASE_URL", seeded_dsn)
    monkeypatch.setattr("lib.config.SECRETS_FILE", ROOT / "tests" / "no-secrets.toml")  # a developer's keys stay out
    st.cache_resource.clear()
    st.cache_data.clear()
    yield seeded_dsn
    st.cache_resource.clear()
    st.cache_data.clear()


# -- generation against the fake Anthropic server, on a seeded database ---------------------------
@pytest.fixture
def fake(db_tax: Taxonomy) -> Iterator[Any]:
    """A fake Anthropic server for the database-backed generation tests (modules may define their own)."""
    from tests.fake_anthropic import FakeAnthropic

    with FakeAnthropic(db_tax) as server:
        yield server


@pytest.fixture
def seeded(store: PostgresStore, db_tax: Taxonomy) -> PostgresStore:
    """The test database with the seed conversations imported."""
    from lib.store.boot import import_seeds

    imported, problems = import_seeds(store, ROOT / "seeds", db_tax)
    assert imported and not problems
    return store
