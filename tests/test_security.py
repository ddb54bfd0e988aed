"""No secret reaches a page, a log row or an export file: every page rendered (AppTest) with fake
keys set, hosted-mode sign-in against the Supabase stub, a generation through the fake Anthropic
server, and an export of what it stored."""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import streamlit as st
from psycopg.rows import dict_row
from streamlit.testing.v1 import AppTest

from lib.config import Settings
from lib.generation.engine import generate_one
from lib.generation.llm import LLMSettings
from lib.core.taxonomy import Taxonomy
from tests.conftest import ROOT, scenario_rows
from tests.fake_anthropic import FakeAnthropic
from tests.supabase_stub import FAKE_ACCESS_TOKEN, FAKE_ANON_KEY, FAKE_SERVICE_KEY, SupabaseStub

FAKE_ANTHROPIC_KEY = "fake-ak-api03-FAKE-secret-sentinel-0123456789"
SECRETS = {"ANTHROPIC_API_KEY": FAKE_ANTHROPIC_KEY, "SUPABASE_KEY": FAKE_ANON_KEY,
           "SUPABASE_SERVICE_ROLE_KEY": FAKE_SERVICE_KEY}
# the parts of each secret that must never show (a JWT's header is the same for every key)
NEEDLES = [FAKE_ANTHROPIC_KEY, "FAKE-secret-sentinel", FAKE_ANON_KEY.split(".", 1)[1], FAKE_SERVICE_KEY.split(".", 1)[1],
           FAKE_ACCESS_TOKEN.split(".", 1)[1], "fake-refresh-token"]
PAGES = sorted(p.name for p in (ROOT / "pages").glob("*.py"))


def rendered_text(at: AppTest) -> str:
    """Every element's protobuf as text: labels, values, markdown, tables, captions, the sidebar."""
    out: list[str] = []

    def walk(node: Any) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            out.append(str(proto))
        children = getattr(node, "children", None) or {}
        for child in (children.values() if isinstance(children, dict) else children):
            walk(child)
    walk(at._tree)
    return "\n".join(out)


def assert_clean(text: str, where: str) -> None:
    found = [n for n in NEEDLES if n in text]
    assert found == [], f"{where} shows a secret"


@pytest.fixture
def secret_env(app_env: str, monkeypatch: pytest.MonkeyPatch) -> str:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SUPABASE_URL", "http://127.0.0.1:9")  # DATABASE_URL wins; the keys are just present
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")  # never the real API
    return app_env


@pytest.mark.parametrize("page", [*PAGES, "../app.py"])
def test_no_secret_appears_on_any_page(secret_env: str, page: str) -> None:
    at = AppTest.from_file(str(ROOT / "pages" / page), default_timeout=120).run()
    assert not at.exception, at.exception
    text = rendered_text(at)
    assert len(text) > 100
    assert_clean(text, page)


# -- hosted mode -------------------------------------------------------------------------------------
@pytest.fixture
def hosted_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[SupabaseStub]:
    for name in list(os.environ):
        if name.startswith(("ANTHROPIC_", "SUPABASE_", "BRIGHTRUN_", "DATABASE_URL")):
            monkeypatch.delenv(name)
    monkeypatch.setattr("lib.config.SECRETS_FILE", ROOT / "tests" / "no-secrets.toml")
    with SupabaseStub() as stub:
        stub.rpc("whoami", [{"user_id": "00000000-0000-4000-8000-000000000001", "email": "dana@example.com",
                             "display_name": None, "role": "reviewer"}])
        monkeypatch.setenv("SUPABASE_URL", stub.url)
        for name, value in SECRETS.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
        st.cache_resource.clear()
        yield stub
        st.cache_resource.clear()


def test_a_page_says_not_signed_in_without_showing_a_key(hosted_env: SupabaseStub) -> None:
    at = AppTest.from_file(str(ROOT / "pages" / "scenarios.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    text = rendered_text(at)
    assert "You are not signed in" in text
    assert_clean(text, "the not-signed-in page")
    assert hosted_env.requests == []  # nothing was asked of the database as anon


def test_sign_in_shows_the_role_and_never_the_token(hosted_env: SupabaseStub) -> None:
    at = AppTest.from_file(str(ROOT / "pages" / "signin.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    at.text_input[0].input("dana@example.com")
    at.text_input[1].input("correct horse battery staple")
    at.button[0].click().run()
    assert not at.exception, at.exception
    text = rendered_text(at)
    assert "You are signed in as" in text and "Your role: **reviewer**" in text
    assert_clean(text, "the sign-in page")
    assert "correct horse battery staple" not in text
    # the session's token went on the membership request, and only to the server
    [who] = [r for r in hosted_env.requests if r.rpc == "whoami"]
    assert who.headers["authorization"] == f"Bearer {FAKE_ACCESS_TOKEN}"
    # signed out: back to the form
    at.button[0].click().run()
    assert "br_auth" not in at.session_state and any("Sign in" in b.label for b in at.button)


def test_a_wrong_password_is_one_clear_line(hosted_env: SupabaseStub) -> None:
    from tests.supabase_stub import Reply

    hosted_env.routes[("POST", "/auth/v1/token")] = Reply(
        400, {"code": 400, "error_code": "invalid_credentials", "msg": "Invalid login credentials"})
    at = AppTest.from_file(str(ROOT / "pages" / "signin.py"), default_timeout=60).run()
    at.text_input[0].input("dana@example.com")
    at.text_input[1].input("wrong")
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] and "wrong email or password" in at.error[0].value.lower()


# -- log rows and exports -------------------------------------------------------------------------
def test_no_secret_in_log_rows_or_export_files(store: Any, db_dsn: str, db_tax: Taxonomy, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import lib.export as ex

    with FakeAnthropic(db_tax) as fake:
        env = {**SECRETS, "ANTHROPIC_API_KEY": fake.api_key, "SUPABASE_URL": "https://x.supabase.co",
               "DATABASE_URL": db_dsn, "ANTHROPIC_BASE_URL": fake.url}
        settings = Settings.load(env=env, secrets_file=None)
        llm = LLMSettings.from_settings(settings, backoff_base_s=0.01, backoff_max_s=0.05, timeout_s=5.0)
        ids = store.add_scenarios(scenario_rows(db_tax, 2))
        fake.script("malformed", "valid", "valid")
        for sid in ids:
            generate_one(store, sid, settings=llm, tax=db_tax)
        needles = [*NEEDLES, fake.api_key]
    with psycopg.connect(db_dsn, row_factory=dict_row) as conn:
        logs = conn.execute("select * from public.generation_logs").fetchall()
    assert logs
    dump = json.dumps(logs, default=str)
    assert [n for n in needles if n in dump] == []

    rows = store.export_conversations()
    assert rows
    result = ex.export(rows, ex.ExportOptions(), db_tax, tmp_path / "out")
    files = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    if result.zip_path:
        files.append(result.zip_path)
    assert files
    for path in files:
        data = path.read_bytes()
        assert [n for n in needles if n.encode() in data] == [], path.name


# -- an endpoint that echoes the key --------------------------------------------------------------
CANARY = "canary-0f3c9a1e-5b2d-4c6a-8e0f-7d1b2c3a4e5f"  # not shaped like an Anthropic key: found only as given
# Shaped like an Anthropic key but no key: masked by its shape alone. Joined here so that nothing
# key-shaped is committed for a secret scanner to report.
KEY_SHAPED = "-".join(("sk", "ant", "api03", "x" * 16))


def pg_dump(dsn: str) -> str:
    """The whole database as SQL text, as `pg_dump` writes it (the embedded server ships it)."""
    import subprocess

    import pgserver

    binary = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_dump"
    return subprocess.run([str(binary), "--dbname", dsn], check=True, capture_output=True, text=True).stdout


def test_an_endpoint_that_echoes_the_key_leaves_it_in_no_dump_page_log_or_export(
        app_env: str, db_tax: Taxonomy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    import logging

    import lib.export as ex
    from lib.store.postgres import PostgresStore
    from tests.test_worker import make_worker, run_until_idle

    caplog.set_level(logging.INFO)
    with FakeAnthropic(db_tax, api_key=CANARY) as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", CANARY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
        store = PostgresStore(app_env, min_size=1, max_size=2)
        try:
            ids = [r["id"] for r in store.list_scenarios({"status": ["not_generated"]})[:2]]
            job_id = store.create_job(ids, created_by="Dana")
            fake.script("echo_key", "echo_key_text")  # an error naming the key, then a conversation quoting it
            run_until_idle(make_worker(store, fake, db_tax, concurrency=1))
            items = store.job_items(job_id)
            rows = store.export_conversations()
        finally:
            store.close()
    assert any(CANARY in json.dumps(r.headers) for r in fake.requests)  # the key did travel
    assert sorted(i["status"] for i in items) == ["failed", "succeeded"]
    [failed] = [i for i in items if i["status"] == "failed"]
    assert "bad request for key [redacted]" in failed["error"]

    dump = pg_dump(app_env)
    assert "My key is [redacted]" in dump and "bad request for key [redacted]" in dump
    assert CANARY not in dump

    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "pages" / "generate.py"), default_timeout=120).run()
    assert not at.exception, at.exception
    page = rendered_text(at)
    assert "[redacted]" in page.replace("\\", "") and CANARY not in page

    ex.export(rows, ex.ExportOptions(selection="all"), db_tax, tmp_path / "out")
    files = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert files and all(CANARY.encode() not in p.read_bytes() for p in files)
    assert CANARY not in caplog.text


def test_a_log_line_and_its_traceback_never_carry_a_secret(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    Settings(anthropic_api_key=CANARY)  # any secret the process is given is remembered
    log = logging.getLogger("lib.test")
    try:
        raise ValueError(f"endpoint said: bad key {CANARY}")
    except ValueError:
        log.exception("call failed with %s and %s", CANARY, KEY_SHAPED)
    assert "call failed with [redacted] and [redacted]" in caplog.text
    assert "bad key [redacted]" in caplog.text and CANARY not in caplog.text
