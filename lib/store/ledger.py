"""What a database has applied, held against the migration files: the ledger and the catalogue.

public.schema_migrations keeps one row per applied file: its version, name, the sha256 of its bytes,
and the catalogue the database should have once that file ran (an md5 of the definition of every
function, view, table, index, trigger and policy of the app's schemas, public and app_private).
`inspect` compares a database with the folder and names:
- pending files (not applied yet: the app's start or `python -m lib db migrate` applies them);
- edited files (applied, then changed: the database runs the old text, `supabase db push` would skip
  the new one);
- missing files (applied here, gone from the folder: renamed, deleted, or a squash);
- drift: objects dropped, changed or added by hand since the migrations ran.
Versions that `supabase db push` recorded without this ledger are applied but cannot be checked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import psycopg
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb

if TYPE_CHECKING:
    from lib.store.migrate import Migration

LEDGER_SQL = """
create table if not exists public.schema_migrations (
  version     text primary key,
  name        text not null,
  sha256      text not null,
  applied_at  timestamptz not null default now(),
  duration_ms integer not null default 0
);
alter table public.schema_migrations add column if not exists catalog jsonb;
alter table public.schema_migrations enable row level security;
revoke all on public.schema_migrations from anon, authenticated;
"""

# One row per object of the app's schemas (not the ledger, not what an extension owns): its name and
# an md5 of everything that makes its behaviour (body, settings, columns, constraints, grants, RLS).
CATALOG_SQL = r"""
with app as (
  select oid, nspname from pg_namespace where nspname in ('public', 'app_private')
), objects (kind, name, def) as (
  select 'function', n.nspname || '.' || p.proname || '(' || oidvectortypes(p.proargtypes) || ')',
         concat_ws(' | ', pg_get_function_arguments(p.oid), pg_get_function_result(p.oid), p.prokind, p.prosecdef,
                   p.provolatile, p.proconfig::text, p.proacl::text, p.prosrc)
    from pg_proc p join app n on n.oid = p.pronamespace
   where not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
  union all
  select case when c.relkind in ('v', 'm') then 'view' when c.relkind = 'i' then 'index' else 'table' end,
         n.nspname || '.' || c.relname,
         case
           when c.relkind in ('v', 'm') then pg_get_viewdef(c.oid) || coalesce(c.reloptions::text, '')
           when c.relkind = 'i' then pg_get_indexdef(c.oid)
           else concat_ws(' | ',
             (select string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                                || case when a.attnotnull then ' not null' else '' end
                                || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), '')
                                || case when a.attidentity <> '' then ' identity ' || a.attidentity::text else '' end,
                                ', ' order by a.attname)
                from pg_attribute a
                left join pg_attrdef ad on ad.adrelid = a.attrelid and ad.adnum = a.attnum
               where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped),
             (select string_agg(con.conname || ' ' || pg_get_constraintdef(con.oid), ', ' order by con.conname)
                from pg_constraint con where con.conrelid = c.oid),
             'rls ' || c.relrowsecurity)
         end || ' | ' || coalesce(c.relacl::text, '')
    from pg_class c join app n on n.oid = c.relnamespace
   where c.relkind in ('r', 'p', 'v', 'm', 'i')
     and (n.nspname, c.relname) not in (('public', 'schema_migrations'), ('public', 'schema_migrations_pkey'))
     and not exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype = 'e')
  union all
  select 'trigger', t.tgname || ' on ' || n.nspname || '.' || c.relname, pg_get_triggerdef(t.oid)
    from pg_trigger t join pg_class c on c.oid = t.tgrelid join app n on n.oid = c.relnamespace
   where not t.tgisinternal
  union all
  select 'policy', p.polname || ' on ' || n.nspname || '.' || c.relname,
         concat_ws(' | ', p.polcmd, p.polpermissive, p.polroles::regrole[]::text,
                   pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid))
    from pg_policy p join pg_class c on c.oid = p.polrelid join app n on n.oid = c.relnamespace
)
select kind || ' ' || name, md5(def) from objects
"""

Change = Literal["dropped", "changed", "added"]
CHANGE_TEXT: dict[str, str] = {
    "dropped": "dropped",
    "changed": "differs from the migrations",
    "added": "is not from the migrations",
}


def scalar(conn: psycopg.Connection, query: str, params: Mapping[str, object] | None = None) -> object:
    """First column of the first row, whatever row factory the connection has."""
    row = conn.cursor(row_factory=tuple_row).execute(query, params).fetchone()
    return None if row is None else row[0]


def column(conn: psycopg.Connection, query: str) -> list[object]:
    return [r[0] for r in conn.cursor(row_factory=tuple_row).execute(query).fetchall()]


def catalog(conn: psycopg.Connection) -> dict[str, str]:
    """object ("function public.f(text)", "table public.t", ...) -> md5 of its definition."""
    return {str(k): str(v) for k, v in conn.cursor(row_factory=tuple_row).execute(CATALOG_SQL).fetchall()}


def has_ledger(conn: psycopg.Connection) -> bool:
    return bool(scalar(conn, "select to_regclass('public.schema_migrations') is not null"))


def has_supabase_ledger(conn: psycopg.Connection) -> bool:
    return bool(scalar(conn, "select to_regclass('supabase_migrations.schema_migrations') is not null"))


def ledger_rows(conn: psycopg.Connection) -> dict[str, tuple[str, str]]:
    """version -> (name, sha256) of every file this app applied."""
    if not has_ledger(conn):
        return {}
    rows = (
        conn.cursor(row_factory=tuple_row)
        .execute("select version, name, sha256 from public.schema_migrations")
        .fetchall()
    )
    return {str(v): (str(n), str(s)) for v, n, s in rows}


def supabase_versions(conn: psycopg.Connection) -> dict[str, str]:
    """version -> name of what `supabase db push` recorded."""
    if not has_supabase_ledger(conn):
        return {}
    rows = (
        conn.cursor(row_factory=tuple_row)
        .execute("select version::text, coalesce(name, '') from supabase_migrations.schema_migrations")
        .fetchall()
    )
    return {str(v): str(n) for v, n in rows}


def applied_versions(conn: psycopg.Connection) -> list[str]:
    """Versions recorded here or by `supabase db push`, oldest first."""
    return sorted(set(ledger_rows(conn)) | set(supabase_versions(conn)))


def recorded_catalog(conn: psycopg.Connection) -> dict[str, str] | None:
    """The catalogue the migrations applied so far should have left, or None when none was recorded."""
    if not has_ledger(conn) or not scalar(
        conn,
        "select exists (select 1 from information_schema.columns where table_schema = 'public' "
        "and table_name = 'schema_migrations' and column_name = 'catalog')",
    ):
        return None
    found = scalar(
        conn,
        "select catalog from public.schema_migrations where catalog is not null "
        "order by applied_at desc, version desc limit 1",
    )
    return dict(found) if isinstance(found, dict) else None


def record_catalog(conn: psycopg.Connection, version: str, expected: Mapping[str, str]) -> None:
    conn.execute(
        "update public.schema_migrations set catalog = %(c)s where version = %(v)s",
        {"c": Jsonb(dict(expected)), "v": version},
    )


def carried_forward(
    expected: Mapping[str, str] | None, before: Mapping[str, str], after: Mapping[str, str]
) -> dict[str, str]:
    """The catalogue to expect once a migration ran: what the migration changed (before -> after)
    on top of what was expected before it. An object changed by hand earlier and left alone by the
    migration keeps its expected definition, so the drift stays visible instead of being adopted."""
    out = dict(before if expected is None else expected)
    for name in set(before) | set(after):
        if before.get(name) == after.get(name):
            continue
        if name in after:
            out[name] = after[name]
        else:
            out.pop(name, None)
    return out


@dataclass(frozen=True)
class Drift:
    object: str  # "function public.stop_job(bigint)"
    change: Change
    defined_in: str | None = None  # the migration file that defines it, when one does

    def describe(self) -> str:
        where = f" (defined in {self.defined_in})" if self.defined_in else ""
        return f"{self.object} {CHANGE_TEXT[self.change]}{where}"


@dataclass(frozen=True)
class Edited:
    file: str
    recorded: str
    now: str

    def describe(self) -> str:
        return (
            f"{self.file} was changed after it was applied (sha256 {self.recorded[:12]}… when applied, "
            f"{self.now[:12]}… now)"
        )


@dataclass
class LedgerStatus:
    applied: list[str] = field(default_factory=list)  # versions, oldest first
    pending: list[Migration] = field(default_factory=list)
    edited: list[Edited] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # "version_name.sql" applied here, not in the folder
    unchecked: list[str] = field(default_factory=list)  # applied by `supabase db push`: no sha256 to compare
    drift: list[Drift] = field(default_factory=list)
    catalog_recorded: bool = False

    @property
    def mismatched(self) -> bool:
        """The folder no longer describes what this database applied."""
        return bool(self.edited or self.missing)

    def refusal(self) -> str:
        """One line: which files do not match, and what to do."""
        parts = [e.describe() for e in self.edited]
        parts += [f"{m} was applied to this database but is not in supabase/migrations/" for m in self.missing]
        advice = []
        if self.edited:
            advice.append("undo the change to the applied file and make it a new migration with a later timestamp")
        if self.missing:
            advice.append("put the missing file back")
        return (
            f"the database does not match supabase/migrations/: {'; '.join(parts)}. To go on, "
            f"{' and '.join(advice)}; or, if this database is disposable, start it again from the files "
            "with `python -m lib db reset --yes` (this deletes its data)"
        )

    def drift_text(self) -> str:
        return (
            "the database differs from its migrations: "
            + "; ".join(d.describe() for d in self.drift)
            + ". Re-run the definition from the migration file named (or add a migration that makes the "
            "change for good); a disposable database: `python -m lib db reset --yes`"
        )


def inspect(conn: psycopg.Connection, migrations: Sequence[Migration], *, check_catalog: bool = True) -> LedgerStatus:
    """Compare the database with the migration files (check_catalog=False: the files only). Reads only."""
    mine = ledger_rows(conn)
    pushed = supabase_versions(conn)
    files = {m.version: m for m in migrations}
    status = LedgerStatus(applied=sorted(set(mine) | set(pushed)))
    for version in status.applied:
        m = files.get(version)
        if m is None:
            name = mine[version][0] if version in mine else pushed[version]
            status.missing.append(f"{version}_{name}.sql" if name else version)
        elif version in mine:
            if mine[version][1] != m.sha256:
                status.edited.append(Edited(m.path.name, mine[version][1], m.sha256))
        else:
            status.unchecked.append(m.path.name)
    status.pending = [m for m in migrations if m.version not in set(status.applied)]
    expected = recorded_catalog(conn) if check_catalog else None
    status.catalog_recorded = expected is not None
    if expected is not None:
        status.drift = drift(expected, catalog(conn), migrations)
    return status


def drift(expected: Mapping[str, str], actual: Mapping[str, str], migrations: Sequence[Migration]) -> list[Drift]:
    out: list[Drift] = []
    for name in sorted(set(expected) | set(actual)):
        if expected.get(name) == actual.get(name):
            continue
        change: Change = "dropped" if name not in actual else "added" if name not in expected else "changed"
        out.append(Drift(name, change, defined_in(name, migrations)))
    return out


def defined_in(obj: str, migrations: Sequence[Migration]) -> str | None:
    """The last migration file whose text creates this object, if its name can be found there."""
    kind, _, name = obj.partition(" ")
    short = name.split(" on ")[0].split("(")[0]
    bare = short.split(".")[-1]
    patterns = {
        "function": rf"function\s+{re.escape(short)}\s*\(",
        "view": rf"view\s+{re.escape(short)}\b",
        "table": rf"table\s+{re.escape(short)}\s*\(",
        "index": rf"index\s+(if not exists\s+)?{re.escape(bare)}\b",
        "trigger": rf"trigger\s+{re.escape(bare)}\b",
    }
    pattern = patterns.get(kind)
    if pattern is None:
        return None
    found = [m.path.name for m in migrations if re.search(pattern, m.text, re.IGNORECASE)]
    return found[-1] if found else None
