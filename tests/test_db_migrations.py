"""Migrations: from zero, re-run as a no-op, a broken file leaves the database as it was; the ledger
names pending, edited and missing files and objects changed by hand (`python -m lib db status`), and the
start refuses a database whose applied files changed."""
from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from lib.config import Settings
from lib.core import vocabulary
from lib.store import cli, open_store
from lib.store import migrate as migrate_module
from lib.store.ledger import applied_versions, inspect
from lib.store.migrate import MIGRATIONS_DIR, discover, migrate, split_statements
from lib.store.protocol import MigrationError

EXPECTED_TABLES = {
    "tiers", "emotions", "strategies", "personas", "emotional_arcs", "topic_clusters", "topics", "intents", "tones",
    "outcomes", "scenario_contexts", "scenarios", "conversations", "conversation_turns", "conversation_metadata",
    "label_revisions", "reviews", "prompt_templates", "generation_jobs", "generation_job_items", "generation_logs",
    "members", "app_meta", "schema_migrations", "conversation_ratings", "conversation_label_findings",
    "contrastive_responses", "review_assignments", "label_suggestions"}


def tables(conn: psycopg.Connection) -> set[str]:
    return {r[0] for r in conn.execute(
        "select tablename from pg_tables where schemaname = 'public'").fetchall()}


def test_migrations_apply_from_zero_and_rerun_as_a_no_op(empty_dsn: str) -> None:
    files = [m.path.name for m in discover()]
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        assert migrate(conn) == files
        assert tables(conn) == EXPECTED_TABLES
        assert migrate(conn) == []
        status = inspect(conn, discover())
        assert (status.pending, status.edited, status.missing, status.drift) == ([], [], [], [])
        assert status.catalog_recorded
        assert applied_versions(conn) == [m.version for m in discover()]


def test_the_baseline_defines_every_function_once() -> None:
    [baseline] = [m for m in discover() if m.name == "baseline"]
    names = re.findall(r"create or replace function ([a-z_]+\.[a-z_]+)\(", baseline.text)
    assert names and len(names) == len(set(names))
    assert not [n for n in names if n.endswith("_base")]
    assert "alter function" not in baseline.text


def test_every_table_has_row_level_security(empty_dsn: str) -> None:
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        migrate(conn)
        without = conn.execute(
            "select relname from pg_class where relnamespace = 'public'::regnamespace and relkind = 'r' "
            "and not relrowsecurity").fetchall()
    assert without == []


def test_every_status_column_has_a_check_constraint(empty_dsn: str) -> None:
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        migrate(conn)
        columns = conn.execute(
            "select table_name, column_name from information_schema.columns "
            "where table_schema = 'public' and (column_name like '%%status' or column_name in ('decision', 'role', 'kind', 'source')) "
            "and table_name not like 'v\\_%%'").fetchall()
        checked = {(r[0], r[1]) for r in conn.execute(
            "select cls.relname, att.attname from pg_constraint con "
            "join pg_class cls on cls.oid = con.conrelid "
            "join pg_attribute att on att.attrelid = con.conrelid and att.attnum = any(con.conkey) "
            "where con.contype = 'c' and cls.relnamespace = 'public'::regnamespace").fetchall()}
    missing = [c for c in columns if tuple(c) not in checked]
    assert columns and missing == []


def test_a_broken_migration_names_file_and_statement_and_changes_nothing(empty_dsn: str, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, folder)
    broken = folder / "20991231000000_broken.sql"
    broken.write_text(
        "-- a new table, then a statement that fails\n"
        "create table public.half_done (id integer);\n"
        "\n"
        "insert into public.scenarios (tier) values ('no_such_tier');\n",
        encoding="utf-8")
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        with pytest.raises(MigrationError) as err:
            migrate(conn, folder)
        message = str(err.value)
        assert "20991231000000_broken.sql" in message
        assert "statement 2 (line 4)" in message
        assert "insert into public.scenarios" in message
        assert "\n" not in message
        # the good files before it were applied; nothing of the broken one was
        assert "half_done" not in tables(conn)
        assert "20991231000000" not in applied_versions(conn)
        assert len(applied_versions(conn)) == len(discover())
        # fixing the file lets the next start apply it
        broken.write_text("create table public.half_done (id integer);\n", encoding="utf-8")
        assert migrate(conn, folder) == ["20991231000000_broken.sql"]
        assert "half_done" in tables(conn)


def test_a_badly_named_migration_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "0001_init.sql").write_text("select 1;", encoding="utf-8")
    with pytest.raises(MigrationError, match="0001_init.sql: not a migration file name"):
        discover(tmp_path)


def test_versions_recorded_by_supabase_db_push_count_as_applied(empty_dsn: str) -> None:
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute("create schema supabase_migrations")
        conn.execute("create table supabase_migrations.schema_migrations (version text primary key, name text, "
                     "statements text[])")
        migrate(conn)
        # and what ran here is written to Supabase's ledger as well
        recorded = [r[0] for r in conn.execute("select version from supabase_migrations.schema_migrations order by 1")]
    assert recorded == [m.version for m in discover()]


def test_the_shim_gives_plain_postgres_what_supabase_has(empty_dsn: str) -> None:
    with psycopg.connect(empty_dsn, row_factory=dict_row, autocommit=True) as conn:
        migrate(conn)
        roles = {r["rolname"]: r for r in conn.execute(
            "select rolname, rolcanlogin, rolbypassrls from pg_roles "
            "where rolname in ('anon', 'authenticated', 'service_role')")}
        assert set(roles) == {"anon", "authenticated", "service_role"}
        assert not any(r["rolcanlogin"] for r in roles.values())
        assert roles["service_role"]["rolbypassrls"]
        with conn.transaction():
            conn.execute("select set_config('request.jwt.claims', %(c)s, true)",
                         {"c": '{"sub": "2b1f8c3e-0000-4000-8000-000000000001", "role": "authenticated"}'})
            row = conn.execute("select auth.uid()::text as uid, auth.role() as role, auth.jwt() ->> 'role' as jwt_role").fetchone()
        assert row == {"uid": "2b1f8c3e-0000-4000-8000-000000000001", "role": "authenticated",
                       "jwt_role": "authenticated"}
        # without claims, nobody
        assert conn.execute("select auth.uid() as uid").fetchone()["uid"] is None


def test_split_statements_respects_quotes_comments_and_dollar_bodies() -> None:
    text = (
        "-- comment; with a semicolon\n"
        "create table a (x text default 'it''s; fine');\n"
        "/* block; /* nested; */ still */ select \"odd;name\" from a;\n"
        "create function f() returns text language plpgsql as $body$\n"
        "begin return 'x;y'; end $body$;\n"
        "select $$a;b$$, E'\\';'; select 1"
    )
    statements = split_statements(text)
    assert [s.line for s in statements] == [2, 3, 4, 6, 6]
    assert statements[0].text == "create table a (x text default 'it''s; fine')"
    assert statements[2].text.endswith("end $body$")
    assert statements[3].text == "select $$a;b$$, E'\\';'"
    assert statements[4].text == "select 1"


def test_every_migration_splits_into_statements_postgres_accepts() -> None:
    # guards the splitter against the real files: each statement must end where SQL ends
    for migration in discover():
        for stmt in split_statements(migration.text):
            assert not stmt.text.endswith(";"), (migration.path.name, stmt.line)


def test_the_database_knows_the_ids_of_the_vocabulary(empty_dsn: str) -> None:
    """The check constraints and lib/core/vocabulary.py spell the same statuses, decisions and fields."""
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        migrate(conn)
        rows = conn.execute(
            "select con.conname, pg_get_constraintdef(con.oid) from pg_constraint con "
            "where con.contype = 'c' and con.connamespace = 'public'::regnamespace").fetchall()
    allowed = {name: re.findall(r"'([^']+)'::text", text) for name, text in rows}
    assert allowed["scenarios_status_check"] == list(vocabulary.SCENARIO_STATUSES)
    assert allowed["conversations_review_status_check"] == list(vocabulary.REVIEW_STATUSES)
    assert allowed["reviews_decision_check"] == list(vocabulary.DECISIONS)
    assert allowed["reviews_reason_code_check"] == list(vocabulary.REASONS)
    assert allowed["generation_jobs_status_check"] == list(vocabulary.JOB_STATUSES)
    assert allowed["generation_job_items_status_check"] == list(vocabulary.ITEM_STATUSES)
    assert allowed["generation_jobs_task_check"] == list(vocabulary.JOB_TASKS)
    assert allowed["contrastive_responses_status_check"] == list(vocabulary.CONTRAST_STATUSES)
    assert allowed["label_revisions_field_check"] == list(vocabulary.LABEL_FIELDS)
    assert allowed["conversation_label_findings_field_check"] == list(vocabulary.LABEL_FIELDS)
    assert allowed["label_revisions_source_check"] == list(vocabulary.REVISION_SOURCES)
    assert allowed["label_suggestions_status_check"] == list(vocabulary.SUGGESTION_STATUSES)
    assert allowed["label_suggestions_origin_check"] == list(vocabulary.SUGGESTION_ORIGINS)
    assert allowed["label_suggestions_field_check"] == list(vocabulary.LABEL_FIELDS)
    assert sorted(allowed["conversations_source_check"]) == sorted(vocabulary.CONVERSATION_SOURCES)


# -- the ledger, from the outside ----------------------------------------------------------------
EXTRA = "20991231000000_extra.sql"
EXTRA_SQL = """-- a later migration
create function public.extra_answer() returns integer language sql immutable as $$ select 42 $$;
revoke all on function public.extra_answer() from public, anon;
"""


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_dsn: str) -> Iterator[Path]:
    """The migrations plus one later file, as the folder the CLI reads; DATABASE_URL: an empty database."""
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, copy)
    (copy / EXTRA).write_text(EXTRA_SQL, encoding="utf-8")
    monkeypatch.setattr(migrate_module, "MIGRATIONS_DIR", copy)
    monkeypatch.setenv("DATABASE_URL", empty_dsn)
    yield copy


def db(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_status_names_a_file_not_applied_yet(folder: Path, empty_dsn: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        migrate(conn, MIGRATIONS_DIR)  # the folder without the later file
    code, out, err = db(["status"], capsys)
    assert code == 0 and err == ""
    assert "1 pending" in out and f"pending    {EXTRA}: not applied yet" in out
    assert "schema     as the migrations made it" in out
    code, out, _ = db(["migrate"], capsys)
    assert code == 0 and f"applied 1 migration(s)\n  {EXTRA}" in out
    assert "none pending" in db(["status"], capsys)[1]


def test_status_names_an_applied_file_edited_since_and_nothing_starts_on_it(
        folder: Path, empty_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert db(["migrate"], capsys)[0] == 0
    (folder / EXTRA).write_text(EXTRA_SQL.replace("42", "43"), encoding="utf-8")
    code, out, err = db(["status"], capsys)
    assert code == 1
    assert f"edited     {EXTRA} was changed after it was applied" in out
    assert err.count("\n") == 1 and f"{EXTRA} was changed after it was applied" in err
    assert "make it a new migration with a later timestamp" in err and "python -m lib db reset --yes" in err
    # migrate applies nothing, and the app's start refuses with the same explanation
    code, _, err = db(["migrate"], capsys)
    assert code == 1 and f"{EXTRA} was changed after it was applied" in err
    with pytest.raises(MigrationError, match=f"{EXTRA} was changed after it was applied"):
        open_store(Settings(database_url=empty_dsn), migrations_dir=folder, prepare=False)
    # even a file of whitespace changed counts: the sha256 is of the bytes
    (folder / EXTRA).write_text(EXTRA_SQL + "\n", encoding="utf-8")
    assert db(["status"], capsys)[0] == 1
    (folder / EXTRA).write_text(EXTRA_SQL, encoding="utf-8")
    assert db(["status"], capsys)[0] == 0


def test_status_names_an_applied_file_missing_from_the_folder(
        folder: Path, empty_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert db(["migrate"], capsys)[0] == 0
    (folder / EXTRA).unlink()
    code, out, err = db(["status"], capsys)
    assert code == 1 and f"missing    {EXTRA}: applied to this database, not in the folder" in out
    assert "put the missing file back" in err
    with pytest.raises(MigrationError, match=f"{EXTRA} was applied to this database but is not in"):
        open_store(Settings(database_url=empty_dsn), migrations_dir=folder, prepare=False)


def test_status_names_what_was_changed_by_hand_and_the_start_only_warns(
        folder: Path, empty_dsn: str, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    assert db(["migrate"], capsys)[0] == 0
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute("drop function public.stop_job(bigint)")
        conn.execute("create or replace function public.extra_answer() returns integer language sql immutable "
                     "as $$ select 7 $$")
        conn.execute("drop policy scenarios_admin_delete on public.scenarios")
        conn.execute("create function public.by_hand() returns integer language sql as $$ select 1 $$")
    code, out, err = db(["status"], capsys)
    assert code == 1
    assert "schema     differs from the migrations in 4 object(s)" in out
    assert "function public.stop_job(bigint) dropped (defined in 20261202000200_job_outcomes.sql)" in out
    assert f"function public.extra_answer() differs from the migrations (defined in {EXTRA})" in out
    assert "policy scenarios_admin_delete on public.scenarios dropped" in out
    assert "function public.by_hand() is not from the migrations" in out
    assert err.count("\n") == 1 and "public.stop_job(bigint) dropped" in err
    # migrate has nothing to apply, and says the database is not what its files made (not "up to date")
    code, out, err = db(["migrate"], capsys)
    assert code == 1 and "up to date" not in out and "public.stop_job(bigint) dropped" in err
    # the app still starts, with a warning in its log
    with caplog.at_level(logging.WARNING, logger="lib.store.boot"):
        open_store(Settings(database_url=empty_dsn), migrations_dir=folder, prepare=False).close()
    assert "differs from its migrations" in caplog.text and "public.stop_job(bigint) dropped" in caplog.text


def test_a_later_migration_that_redefines_a_changed_function_settles_only_that_one(
        folder: Path, empty_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert db(["migrate"], capsys)[0] == 0
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute("create or replace function public.extra_answer() returns integer language sql immutable "
                     "as $$ select 7 $$")
        conn.execute("drop function public.stop_job(bigint)")
    (folder / "20991231000001_answer.sql").write_text(
        "create or replace function public.extra_answer() returns integer language sql immutable as $$ select 8 $$;\n",
        encoding="utf-8")
    code, out, err = db(["migrate"], capsys)
    assert code == 1 and "applied 1 migration(s)" in out
    # the redefined function is what the migrations made again; the one dropped by hand is still named
    assert "extra_answer" not in err and "public.stop_job(bigint) dropped" in err


def test_files_applied_by_supabase_db_push_are_checked_once_migrate_has_seen_them(
        folder: Path, empty_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute("create schema supabase_migrations")
        conn.execute("create table supabase_migrations.schema_migrations (version text primary key, name text, "
                     "statements text[])")
        migrate(conn, folder)
        conn.execute("drop table public.schema_migrations")  # as if only `supabase db push` had run
    code, out, _ = db(["status"], capsys)
    assert code == 0 and f"migrations {len(discover())} applied, none pending" in out
    assert f"unchecked  {EXTRA}: applied by `supabase db push`" in out and "schema     not checked" in out
    code, out, _ = db(["migrate"], capsys)
    assert code == 0 and "up to date" in out
    code, out, _ = db(["status"], capsys)
    assert code == 0 and "unchecked" not in out and "schema     as the migrations made it" in out
    (folder / EXTRA).write_text(EXTRA_SQL.replace("42", "43"), encoding="utf-8")
    code, out, _ = db(["status"], capsys)
    assert code == 1 and f"edited     {EXTRA} was changed after it was applied" in out
