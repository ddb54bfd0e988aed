"""Apply supabase/migrations/*.sql in order, after the Supabase shim, and record what ran.

- The shim gives a plain PostgreSQL what every Supabase project already has (the roles anon,
  authenticated and service_role; auth.uid(), auth.role(), auth.jwt() reading
  request.jwt.claims; Supabase's default grants), so the same files apply unchanged on both.
  On Supabase it finds them and does nothing.
- Each file runs in its own transaction, one statement at a time, so a failure names the file,
  the statement and its line, and rolls the whole file back: the database stays as it was.
- Applied files are recorded in public.schema_migrations with their sha256 and the catalogue they
  leave (lib/store/ledger.py). Versions that `supabase db push` recorded
  (supabase_migrations.schema_migrations) count as applied too, and versions applied here are
  written there as well when that table exists, so both tools agree.
- Nothing is applied to a database whose applied files were edited or removed since: it would run
  code the folder no longer describes. The error names the files and says what to do.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

from lib.store.ledger import (
    LEDGER_SQL,
    carried_forward,
    catalog,
    has_supabase_ledger,
    inspect,
    ledger_rows,
    record_catalog,
    recorded_catalog,
    scalar,
)
from lib.store.protocol import MigrationError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent.parent / "supabase" / "migrations"
FILE_NAME = re.compile(r"^(\d{14})_([a-z0-9_]+)\.sql$")
LOCK_KEY = 7_310_452_001  # pg_advisory_lock key: one migrator (app, worker, CLI) at a time

SHIM_SQL = r"""
do $shim$
begin
  if not exists (select 1 from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
end $shim$;

create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;

-- the same definitions as Supabase's auth schema
create or replace function auth.uid() returns uuid language sql stable as $f$
  select coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),
                  (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'))::uuid
$f$;
create or replace function auth.role() returns text language sql stable as $f$
  select coalesce(nullif(current_setting('request.jwt.claim.role', true), ''),
                  (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role'))::text
$f$;
create or replace function auth.jwt() returns jsonb language sql stable as $f$
  select coalesce(nullif(current_setting('request.jwt.claim', true), ''),
                  nullif(current_setting('request.jwt.claims', true), ''))::jsonb
$f$;
grant execute on function auth.uid(), auth.role(), auth.jwt() to anon, authenticated, service_role;

-- Supabase's default privileges: new objects in public are granted to the API roles (RLS and
-- the migrations' own revokes then decide what they may really do)
grant usage on schema public to anon, authenticated, service_role;
alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;
"""

SHIM_PRESENT = """
select count(*) = 3 and to_regprocedure('auth.uid()') is not null and to_regprocedure('auth.jwt()') is not null
  from pg_roles where rolname in ('anon', 'authenticated', 'service_role')
"""


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Path
    data: bytes

    @property
    def text(self) -> str:
        return self.data.decode("utf-8")

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class Statement:
    text: str
    line: int  # 1-based line of the statement's first character in its file


def discover(directory: Path | None = None) -> list[Migration]:
    """The migration files of directory (default MIGRATIONS_DIR) in version order; a badly named .sql
    file is an error, not skipped."""
    directory = MIGRATIONS_DIR if directory is None else directory
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        m = FILE_NAME.match(path.name)
        if not m:
            raise MigrationError(
                f"{path}: not a migration file name; expected YYYYMMDDHHmmss_description.sql (lowercase, digits and _)"
            )
        data = path.read_bytes()
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MigrationError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
        found.append(Migration(m.group(1), m.group(2), path, data))
    versions = [m.version for m in found]
    dupes = sorted({v for v in versions if versions.count(v) > 1})
    if dupes:
        raise MigrationError(f"{directory}: two migration files share the version {dupes[0]}; rename one")
    return found


def split_statements(text: str) -> list[Statement]:
    """Split SQL on top-level semicolons: quotes, "identifiers", -- and /* */ comments and
    $tag$ dollar quotes are respected. (SQL-standard `begin atomic` bodies are not: use $$.)"""
    out: list[Statement] = []
    i, n = 0, len(text)
    start: int | None = None
    line, start_line = 1, 1

    def flush(end: int) -> None:
        nonlocal start
        if start is not None:
            chunk = text[start:end].strip()
            if chunk:
                out.append(Statement(chunk, start_line))
        start = None

    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
            continue
        if c.isspace():
            i += 1
            continue
        if text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    line += text[i] == "\n"
                    i += 1
            continue
        if start is None:
            start, start_line = i, line
        if c == ";":
            flush(i)
            i += 1
            continue
        if c in ("'", '"'):
            escapes = c == "'" and i > 0 and text[i - 1] in "eE" and (i < 2 or not text[i - 2].isalnum())
            i += 1
            while i < n:
                if escapes and text[i] == "\\":
                    i += 2
                    continue
                if text[i] == c:
                    if i + 1 < n and text[i + 1] == c:  # doubled quote
                        i += 2
                        continue
                    i += 1
                    break
                line += text[i] == "\n"
                i += 1
            continue
        if c == "$":
            m = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$", text[i:])
            if m and not (i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_")):
                tag = m.group(0)
                end = text.find(tag, i + len(tag))
                end = n if end < 0 else end + len(tag)
                line += text.count("\n", i, end)
                i = end
                continue
        i += 1
    flush(n)
    return out


def shim_present(conn: psycopg.Connection) -> bool:
    return bool(scalar(conn, SHIM_PRESENT))


def ensure_shim(conn: psycopg.Connection) -> bool:
    """Create the Supabase roles and auth functions when missing. Returns True if it ran."""
    if shim_present(conn):
        return False
    try:
        with conn.transaction():
            for stmt in split_statements(SHIM_SQL):
                conn.execute(stmt.text)
    except psycopg.Error as exc:
        raise MigrationError(
            f"cannot create the Supabase roles and auth schema on this database: {_pg_message(exc)}. "
            "Connect once as a superuser (or a role with CREATEROLE and BYPASSRLS), or use a Supabase project"
        ) from None
    log.info("created the Supabase shim (roles anon, authenticated, service_role; auth.uid(), auth.jwt())")
    return True


def migrate(conn: psycopg.Connection, directory: Path | None = None) -> list[str]:
    """Apply the pending migrations; returns the file names applied. Raises MigrationError, applying
    nothing, when a file this database applied was edited or removed since. conn must be autocommit."""
    migrations = discover(directory)
    conn.execute("select pg_advisory_lock(%(key)s)", {"key": LOCK_KEY})
    try:
        ensure_shim(conn)
        with conn.transaction():
            for stmt in split_statements(LEDGER_SQL):
                conn.execute(stmt.text)
        status = inspect(conn, migrations, check_catalog=False)
        if status.mismatched:
            raise MigrationError(status.refusal())
        # files `supabase db push` applied: their sha256 is kept from now on, so a later edit is caught
        pushed = [m for m in migrations if m.path.name in set(status.unchecked)]
        for m in pushed:
            conn.execute(
                "insert into public.schema_migrations (version, name, sha256) values (%(v)s, %(n)s, %(s)s)",
                {"v": m.version, "n": m.name, "s": m.sha256},
            )
        expected = recorded_catalog(conn)
        applied: list[str] = []
        for migration in status.pending:
            expected = _apply(conn, migration, expected)
            applied.append(migration.path.name)
        if not applied and expected is None and ledger_rows(conn):
            # no catalogue recorded yet (a ledger from before they were, or `supabase db push`): what is
            # there now becomes the reference
            record_catalog(conn, max(ledger_rows(conn)), catalog(conn))
        return applied
    finally:
        conn.execute("select pg_advisory_unlock(%(key)s)", {"key": LOCK_KEY})


def _apply(conn: psycopg.Connection, migration: Migration, expected: dict[str, str] | None) -> dict[str, str]:
    """Run one file in one transaction and record it; returns the catalogue to expect after it."""
    started = time.perf_counter()
    statements = split_statements(migration.text)
    with conn.transaction():
        before = catalog(conn)
        for number, stmt in enumerate(statements, start=1):
            try:
                conn.execute(stmt.text)
            except psycopg.Error as exc:
                first = " ".join(stmt.text.split())[:120]
                raise MigrationError(
                    f"{migration.path.name}: statement {number} (line {stmt.line}) failed: {_pg_message(exc)}. "
                    f"Statement: {first}. Nothing of this file was applied; fix it and start again"
                ) from None
        expected = carried_forward(expected, before, catalog(conn))
        ms = int((time.perf_counter() - started) * 1000)
        conn.execute(
            "insert into public.schema_migrations (version, name, sha256, duration_ms, catalog) "
            "values (%(version)s, %(name)s, %(sha)s, %(ms)s, %(catalog)s)",
            {
                "version": migration.version,
                "name": migration.name,
                "sha": migration.sha256,
                "ms": ms,
                "catalog": Jsonb(expected),
            },
        )
        if has_supabase_ledger(conn):
            conn.execute(
                "insert into supabase_migrations.schema_migrations (version, name) "
                "values (%(version)s, %(name)s) on conflict do nothing",
                {"version": migration.version, "name": migration.name},
            )
    log.info("applied migration %s in %d ms", migration.path.name, ms)
    return expected


def _pg_message(exc: psycopg.Error) -> str:
    diag = exc.diag
    msg = diag.message_primary or str(exc).splitlines()[0]
    if diag.message_detail:
        msg += f" ({diag.message_detail})"
    return msg


RESET_SQL = """
do $reset$
declare
  r record;
begin
  -- views, tables and functions of the public schema that no extension owns
  for r in
    select format('drop view if exists %s cascade', c.oid::regclass) as ddl
      from pg_class c
     where c.relnamespace = 'public'::regnamespace and c.relkind in ('v', 'm')
       and not exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype = 'e')
    union all
    select format('drop table if exists %s cascade', c.oid::regclass)
      from pg_class c
     where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')
       and not exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype = 'e')
  loop
    execute r.ddl;
  end loop;
  for r in
    select format('drop function if exists %s cascade', p.oid::regprocedure) as ddl
      from pg_proc p
     where p.pronamespace = 'public'::regnamespace
       and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
  loop
    execute r.ddl;
  end loop;
  drop schema if exists app_private cascade;
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    delete from supabase_migrations.schema_migrations;
  end if;
end $reset$;
"""


def reset_schema(conn: psycopg.Connection) -> None:
    """Drop every table, view and function of the public schema (not extensions') and the
    migration ledger, in one transaction. The roles and the auth shim stay. conn: autocommit."""
    conn.execute("select pg_advisory_lock(%(key)s)", {"key": LOCK_KEY})
    try:
        with conn.transaction():
            conn.execute(RESET_SQL)
    finally:
        conn.execute("select pg_advisory_unlock(%(key)s)", {"key": LOCK_KEY})
