"""Migrations: from zero, re-run as a no-op, a broken file leaves the database as it was."""
from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from lib.store.protocol import MigrationError
from lib.store.migrate import MIGRATIONS_DIR, applied_versions, discover, migrate, pending, split_statements

EXPECTED_TABLES = {
    "tiers", "emotions", "strategies", "personas", "emotional_arcs", "topic_clusters", "topics", "intents", "tones",
    "outcomes", "scenario_contexts", "scenarios", "conversations", "conversation_turns", "conversation_metadata",
    "label_revisions", "reviews", "prompt_templates", "generation_jobs", "generation_job_items", "generation_logs",
    "members", "app_meta", "schema_migrations", "conversation_ratings", "conversation_label_findings"}


def tables(conn: psycopg.Connection) -> set[str]:
    return {r[0] for r in conn.execute(
        "select tablename from pg_tables where schemaname = 'public'").fetchall()}


def test_migrations_apply_from_zero_and_rerun_as_a_no_op(empty_dsn: str) -> None:
    files = [m.path.name for m in discover()]
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        assert migrate(conn) == files
        assert tables(conn) == EXPECTED_TABLES
        assert migrate(conn) == []
        assert pending(conn) == []
        assert applied_versions(conn) == [m.version for m in discover()]


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
