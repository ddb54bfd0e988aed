"""Database fixtures: one embedded PostgreSQL per test session, each test isolated.

The session starts one pgserver in a temporary folder (fsync off: its data is thrown away) and
builds a template database once (migrations applied, taxonomy synced).
- `db_dsn` / `store` / `conn`: a shared test database copied from the template once; after each
  test every non-taxonomy table is truncated (identities restart) and the taxonomy re-synced if
  the test changed it. ~30 ms instead of ~0.4 s for CREATE DATABASE per test.
- `fresh_dsn`: a database of its own (CREATE DATABASE ... TEMPLATE), for a test that must not
  share anything; `empty_dsn`: a database with nothing in it, for the migration tests.
"""
from __future__ import annotations

import itertools
import json
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from lib.core.models import Conversation
from lib.store.boot import sync_taxonomy
from lib.store.embedded import EmbeddedServer, drop_database, ensure_database, start_embedded, stop_embedded
from lib.store.migrate import migrate
from lib.store.postgres import PostgresStore
from lib.core.taxonomy import Taxonomy, load_taxonomy

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_DB = "brightrun_template"
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


TAXONOMY_TABLES = ("tiers", "emotions", "strategies", "personas", "emotional_arcs", "topic_clusters", "topics",
                   "intents", "tones", "outcomes", "scenario_contexts")


@pytest.fixture(scope="session")
def shared_db(pg_server: EmbeddedServer, template_db: str) -> Iterator[str]:
    with _database(pg_server, template_db) as dsn:
        yield dsn


def _reset(dsn: str, tax: Taxonomy) -> None:
    """Empty every table but the taxonomy and the migration ledger; restore the taxonomy."""
    with psycopg.connect(dsn, autocommit=True) as c:
        names = [r[0] for r in c.execute(
            "select tablename from pg_tables where schemaname = 'public' "
            "and tablename <> all(%(keep)s)", {"keep": [*TAXONOMY_TABLES, "schema_migrations", "app_meta"]})]
        c.execute(sql.SQL("truncate {} restart identity cascade").format(
            sql.SQL(", ").join(sql.Identifier("public", n) for n in names)))
        c.execute("delete from public.app_meta where key <> 'taxonomy'")
        sha = c.execute("select value ->> 'sha256' from public.app_meta where key = 'taxonomy'").fetchone()
    if not sha or sha[0] != tax.sha256:
        store = PostgresStore(dsn, min_size=1, max_size=1)
        try:
            sync_taxonomy(store, tax, force=True)
        finally:
            store.close()


@pytest.fixture
def db_dsn(shared_db: str, db_tax: Taxonomy) -> Iterator[str]:
    """The shared test database: migrations applied, taxonomy synced, no other rows."""
    try:
        yield shared_db
    finally:
        _reset(shared_db, db_tax)


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


# -- the running app, for browser tests ---------------------------------------------------------
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(data_dir: Path, env: Mapping[str, str] | None = None, script: Path | None = None) -> tuple[Any, str]:
    """`streamlit run app.py` (or `script`) on a free port with its own embedded database; returns (process, url)."""
    import os
    import subprocess
    import sys
    import time
    import urllib.request

    port = _free_port()
    child_env = {k: v for k, v in os.environ.items()
                 if not k.startswith(("ANTHROPIC_", "DATABASE_URL", "SUPABASE_", "BRIGHTRUN_"))}
    child_env.update({"BRIGHTRUN_DATA_DIR": str(data_dir), **(env or {})})
    log = open(data_dir.parent / f"streamlit-{port}.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script or ROOT / "app.py"), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=child_env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.3)
        if proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError(f"streamlit did not start; see {log.name}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Module scope, not session: Playwright's sync API keeps an event loop running in this thread
    # while it is open, and asyncio.run() in later (non-browser) tests would fail.
    import os

    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it with apt-get")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def app_url() -> Iterator[str]:
    """One app for the browser tests, on its own embedded database (seeds and the default plan)."""
    data = Path(tempfile.mkdtemp(prefix="brightrun-app-"))
    proc, url = start_app(data / "data")
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except Exception:
            proc.kill()
        stop_embedded_dir(data / "data")
        shutil.rmtree(data, ignore_errors=True)


def stop_embedded_dir(data_dir: Path) -> None:
    """The app leaves its embedded server running for its next start; a test stops it (fast shutdown)."""
    import os
    import signal

    pid_file = data_dir / "pgdata" / "postmaster.pid"
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGINT)
        except (ValueError, ProcessLookupError, PermissionError):
            pass


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
    pg = ctx.new_page()
    yield pg
    ctx.close()


def settle(page: Any, timeout: float = 20_000) -> None:
    """Wait until Streamlit has finished running the script (the 'Running…' indicator is gone)."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout)
    page.wait_for_timeout(300)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')",
        timeout=timeout)
    page.wait_for_timeout(200)


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# -- pages under AppTest ------------------------------------------------------------------------
@pytest.fixture
def app_env(fresh_dsn: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Pages run under AppTest against a database of their own, booted as the app boots it on a
    first start (seeds imported, the default 90 scenarios planned). Returns its DSN."""
    import os

    import streamlit as st

    for name in list(os.environ):
        if name.startswith(("ANTHROPIC_", "SUPABASE_", "BRIGHTRUN_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DATABASE_URL", fresh_dsn)
    monkeypatch.setattr("lib.config.SECRETS_FILE", ROOT / "tests" / "no-secrets.toml")  # a developer's keys stay out
    st.cache_resource.clear()
    st.cache_data.clear()
    yield fresh_dsn
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
