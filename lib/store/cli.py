"""The database from the command line.

    python -m lib db migrate                 apply pending migrations (and nothing else)
    python -m lib db status                  describe the database and its migrations; changes nothing
    python -m lib db plan --n 90 [--seed S] [--tier-mix template=40,scenario=35,edge_case=15]
                                             plan N more scenarios on top of the table (on an
                                             empty database: the seeds' scenarios plus N)
    python -m lib db reset [--yes]           delete everything and start again as the app does
    python -m lib db stop                    stop the embedded PostgreSQL (it outlives the app, so
                                             workers and the CLI can share it; the next start of
                                             the app or any command starts it again)

`status` names migration files not applied yet (pending), applied files changed since (edited) or gone
from supabase/migrations/ (missing), and functions, views, tables, indexes, triggers or policies that
differ from what the migrations made (changed by hand).
Uses DATABASE_URL when set, else the embedded PostgreSQL in BRIGHTRUN_DATA_DIR (.data/).
Exit codes: 0 done (status: the database matches its migrations, pending ones aside), 1 failed or does
not match (one line on stderr says why), 2 bad usage or reset not confirmed.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence

import psycopg

from lib.config import ConfigError, Settings
from lib.core.taxonomy import TaxonomyError, load_taxonomy
from lib.store.boot import open_store, plan_scenarios, resolve_database
from lib.store.embedded import stop_server
from lib.store.ledger import LedgerStatus, inspect, scalar
from lib.store.migrate import discover, migrate, reset_schema
from lib.store.postgres import PostgresStore, connect_check
from lib.store.protocol import BootReport, StoreError


def main(argv: Sequence[str] | None = None, prog: str = "python -m lib db") -> int:
    parser = argparse.ArgumentParser(prog=prog, description="Bright Run database: migrate, status, plan, reset, stop.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every step")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply pending migrations")
    sub.add_parser("status", help="describe the database and whether it matches its migrations")
    plan = sub.add_parser("plan", help="plan N more scenarios on top of the table")
    plan.add_argument("--n", type=int, default=90, help="how many scenarios to add (default 90)")
    plan.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same plan")
    plan.add_argument(
        "--tier-mix",
        default=None,
        metavar="T=N,...",
        help="counts per tier, summing to N (default: the taxonomy's mix scaled to N)",
    )
    reset = sub.add_parser("reset", help="delete every table, row and function, then start again")
    reset.add_argument(
        "--yes", action="store_true", help="confirm: this deletes all scenarios, conversations and reviews"
    )
    sub.add_parser("stop", help="stop the embedded PostgreSQL (the next start starts it again)")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        settings = Settings.load()
        return COMMANDS[args.command](settings, args)
    except (StoreError, ConfigError, TaxonomyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 1


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    dsn, _, label = resolve_database(settings)
    connect_check(dsn, label)
    with psycopg.connect(dsn, autocommit=True) as conn:
        applied = migrate(conn)
        ledger = inspect(conn, discover())
    if applied:
        print(f"{label}: applied {len(applied)} migration(s)")
        for name in applied:
            print(f"  {name}")
    if ledger.drift:
        print(f"error: {label}: {ledger.drift_text()}", file=sys.stderr)
        return 1
    if not applied:
        print(f"{label}: up to date")
    return 0


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    dsn, kind, label = resolve_database(settings)
    connect_check(dsn, label)
    with psycopg.connect(dsn, autocommit=True) as conn:
        ledger = inspect(conn, discover())
        version = scalar(conn, "select current_setting('server_version')")
        has_tables = bool(scalar(conn, "select to_regclass('public.scenarios') is not null"))
    print(f"database   {label} ({kind}, PostgreSQL {version})")
    print_ledger(ledger)
    if has_tables:
        store = PostgresStore(dsn, kind=kind, label=label, min_size=1, max_size=1)  # type: ignore[abstract]  # its methods are made from CALLS at import (lib/store/transport.py)
        try:
            print_rows(store.counts(), store.scenario_status_counts())
        except StoreError as exc:  # a database changed by hand may not count: the report above says why
            print(f"rows       not counted: {exc}")
        finally:
            store.close()
    if ledger.mismatched:
        print(f"error: {ledger.refusal()}", file=sys.stderr)
        return 1
    if ledger.drift:
        print(f"error: {ledger.drift_text()}", file=sys.stderr)
        return 1
    return 0


def print_ledger(ledger: LedgerStatus) -> None:
    print(
        f"migrations {len(ledger.applied)} applied"
        + (f", {len(ledger.pending)} pending" if ledger.pending else ", none pending")
        + " (supabase/migrations/)"
    )
    for m in ledger.pending:
        print(f"  pending    {m.path.name}: not applied yet (`python -m lib db migrate` or the app's start applies it)")
    for e in ledger.edited:
        print(f"  edited     {e.describe()}")
    for name in ledger.missing:
        print(f"  missing    {name}: applied to this database, not in the folder")
    for name in ledger.unchecked:
        print(f"  unchecked  {name}: applied by `supabase db push`, which keeps no checksum to compare")
    if ledger.drift:
        print(f"schema     differs from the migrations in {len(ledger.drift)} object(s):")
        for d in ledger.drift:
            print(f"  {d.describe()}")
    elif ledger.catalog_recorded:
        print("schema     as the migrations made it")
    elif ledger.applied:
        print("schema     not checked: no catalogue recorded yet (`python -m lib db migrate` records one)")


def print_rows(counts: dict[str, int], statuses: dict[str, int]) -> None:
    print("rows")
    for table, n in counts.items():
        print(f"  {table:<22}{n:>8}")
    if statuses:
        print("scenarios by status")
        for status, n in statuses.items():
            print(f"  {status:<22}{n:>8}")


def print_start(label: str, boot: BootReport) -> None:
    print(
        f"started    {label} in {boot.seconds:.2f} s"
        + (f"; applied {', '.join(boot.migrations_applied)}" if boot.migrations_applied else "")
        + ("; taxonomy synced" if boot.taxonomy_synced else "")
        + (f"; imported {len(boot.seeds_imported)} seeds" if boot.seeds_imported else "")
        + (f"; planned {boot.planned} scenarios" if boot.planned else "")
    )
    for problem in boot.seed_problems:
        print(f"warning    {problem}")


def cmd_plan(settings: Settings, args: argparse.Namespace) -> int:
    if args.n < 1:
        print("error: --n must be at least 1", file=sys.stderr)
        return 2
    tier_mix = None
    if args.tier_mix:
        try:
            tier_mix = {k.strip(): int(v) for k, v in (part.split("=", 1) for part in args.tier_mix.split(","))}
        except ValueError:
            print(
                f"error: --tier-mix {args.tier_mix!r}: expected tier=count pairs, "
                "e.g. template=40,scenario=35,edge_case=15",
                file=sys.stderr,
            )
            return 2
    tax = load_taxonomy()
    # no default plan on a first start: "plan --n 90" on an empty database means these 90
    store = open_store(settings, default_plan_n=0)
    try:
        started = time.perf_counter()
        ids, coverage = plan_scenarios(store, tax, args.n, tier_mix=tier_mix, seed=args.seed)
        total = store.counts()["scenarios"]
    finally:
        store.close()
    span = f"#{min(ids)}-#{max(ids)}" if ids else "none"
    print(f"added {len(ids)} scenarios ({span}) in {time.perf_counter() - started:.2f} s; {total} in the table")
    if coverage is not None:
        tiers = coverage.per_dimension.get("tier", {})
        print("tiers      " + ", ".join(f"{t} {n}" for t, n in tiers.items()))
        for pair, (covered, possible) in coverage.pairs.items():
            print(f"pairs      {pair}: {covered} of {possible} covered")
    return 0


def cmd_reset(settings: Settings, args: argparse.Namespace) -> int:
    dsn, _, label = resolve_database(settings)
    if not args.yes:
        print(
            f"reset deletes every scenario, conversation, review and job in {label}. Run again with --yes to do it.",
            file=sys.stderr,
        )
        return 2
    connect_check(dsn, label)
    with psycopg.connect(dsn, autocommit=True) as conn:
        reset_schema(conn)
    print(f"{label}: deleted everything; starting again")
    store = open_store(settings)
    try:
        info = store.describe()
        if info.boot is not None:
            print_start(label, info.boot)
        print_rows(info.counts, store.scenario_status_counts())
    finally:
        store.close()
    return 0


def cmd_stop(settings: Settings, args: argparse.Namespace) -> int:
    if settings.store_mode != "embedded":
        print(
            "error: DATABASE_URL or SUPABASE_URL is set: that database is run elsewhere; `db stop` stops only "
            "the embedded PostgreSQL",
            file=sys.stderr,
        )
        return 1
    where = settings.data_dir / "pgdata"
    if stop_server(settings.data_dir):
        print(f"stopped the embedded PostgreSQL in {where}")
    else:
        print(f"the embedded PostgreSQL in {where} was not running")
    return 0


COMMANDS = {"migrate": cmd_migrate, "status": cmd_status, "plan": cmd_plan, "reset": cmd_reset, "stop": cmd_stop}

if __name__ == "__main__":
    raise SystemExit(main())
