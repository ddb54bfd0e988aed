"""open_store(): the one entry point that gives the app, the worker and the CLI a ready Store.

At start it
1. picks the database: DATABASE_URL, else (SUPABASE_URL: hosted mode), else the
   embedded PostgreSQL in BRIGHTRUN_DATA_DIR;
2. applies pending migrations (lib/store/migrate.py). It refuses to start on a database whose
   applied migration files were edited or removed since (MigrationError names them and says what to
   do): the app would run SQL the folder no longer describes, and a hosted project would skip the
   edit (`supabase db push` applies a version once). Objects changed by hand (drift) are logged as a
   warning only: the app still works, and `python -m lib db status` names them;
3. syncs the taxonomy tables from taxonomy/ (skipped when its sha256 has not changed);
4. imports seeds/*.json (idempotent; a malformed file is logged by name and skipped);
5. on the first start of an empty database, plans the default scenario table: the module spec's 90 new
   scenarios at exactly 40/35/15 (tier 1/2/3, taxonomy/dimensions.yaml default_count), on top of the
   seeds' own scenarios (10), which count towards balance and pair coverage;
and logs how long it took. Two processes starting at once take turns (an advisory lock).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import psycopg
from psycopg.types.json import Jsonb

from lib.config import Settings
from lib.core.models import Conversation
from lib.core.seeds import load_seeds
from lib.core.taxonomy import DEFAULT_DIR as TAXONOMY_DIR
from lib.core.taxonomy import Taxonomy, TaxonomyError, load_taxonomy
from lib.core.validation import check_conversation
from lib.store.calls import SCENARIO_FIELDS
from lib.store.embedded import start_embedded
from lib.store.ledger import inspect
from lib.store.migrate import MIGRATIONS_DIR, discover, migrate
from lib.store.postgres import PostgresStore, connect_check
from lib.store.protocol import BootError, BootReport, InvalidInput, Store, StoreKind, StoreUnavailable

if TYPE_CHECKING:
    from lib.core.planner import PlanCoverage

log = logging.getLogger(__name__)

SEEDS_DIR = Path(__file__).resolve().parent.parent.parent / "seeds"
BOOT_LOCK_KEY = 7_310_452_002
DEFAULT_PLAN_N = 90
DEFAULT_PLAN_SEED = 0


def open_store(
    settings: Settings | None = None,
    *,
    prepare: bool = True,
    taxonomy_dir: Path = TAXONOMY_DIR,
    seeds_dir: Path = SEEDS_DIR,
    migrations_dir: Path = MIGRATIONS_DIR,
    default_plan_n: int = DEFAULT_PLAN_N,
) -> Store:
    """A ready Store. Raises StoreUnavailable (cannot reach or start the database),
    MigrationError (a migration failed) or BootError (taxonomy/seeds/plan), each one line.
    default_plan_n=0 skips the default plan of a first start (the CLI's `plan` does)."""
    started = time.perf_counter()
    settings = settings or Settings.load()
    if settings.store_mode == "supabase":  # hosted: migrations are applied with `supabase db push`
        from lib.store.supabase import open_supabase_store

        return open_supabase_store(settings)
    dsn, kind, label = resolve_database(settings)
    connect_check(dsn, label)
    report = BootReport()
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("select pg_advisory_lock(%(key)s)", {"key": BOOT_LOCK_KEY})
        report.migrations_applied = migrate(admin, migrations_dir)
        ledger = inspect(admin, discover(migrations_dir))
        if ledger.drift:
            log.warning("%s: %s", label, ledger.drift_text())
        revive = (lambda: start_embedded(settings.data_dir)) if kind == "embedded" else None
        store = PostgresStore(dsn, kind=kind, label=label, revive=revive)  # type: ignore[abstract]  # its methods are made from CALLS at import (lib/store/transport.py)
        try:
            if prepare:
                prepare_database(
                    store, report, taxonomy_dir=taxonomy_dir, seeds_dir=seeds_dir, default_plan_n=default_plan_n
                )
        except BaseException:
            store.close()
            raise
        finally:
            admin.execute("select pg_advisory_unlock(%(key)s)", {"key": BOOT_LOCK_KEY})
    report.seconds = round(time.perf_counter() - started, 3)
    store.boot = report
    log.info(
        "database ready in %.2f s (%s): %d migrations applied, taxonomy %s, %d seeds imported, "
        "%d seed problems, %d scenarios planned",
        report.seconds,
        label,
        len(report.migrations_applied),
        "synced" if report.taxonomy_synced else "unchanged",
        len(report.seeds_imported),
        len(report.seed_problems),
        report.planned,
    )
    return store


def resolve_database(settings: Settings) -> tuple[str, StoreKind, str]:
    """(dsn, kind, label safe to show) of the database the settings point at."""
    if settings.store_mode == "embedded":
        server = start_embedded(settings.data_dir)
        return server.dsn, "embedded", server.label
    if settings.store_mode == "supabase":
        raise StoreUnavailable(
            "SUPABASE_URL is set without DATABASE_URL: a hosted project's migrations are applied with "
            "`supabase db push`; to use this command set DATABASE_URL to the project's connection string "
            "(Supabase: Project settings > Database)"
        )
    assert settings.database_url is not None
    dsn = settings.database_url.get_secret_value()
    host = (urlsplit(dsn).hostname or "") if "://" in dsn else ""
    kind: StoreKind = "supabase" if host.endswith((".supabase.co", ".supabase.com")) else "postgres"
    return dsn, kind, settings.database_label()


def prepare_database(
    store: PostgresStore,
    report: BootReport,
    *,
    taxonomy_dir: Path = TAXONOMY_DIR,
    seeds_dir: Path = SEEDS_DIR,
    default_plan_n: int = DEFAULT_PLAN_N,
) -> None:
    try:
        tax = load_taxonomy(taxonomy_dir)
    except TaxonomyError as exc:
        raise BootError(f"cannot load the taxonomy: {exc}") from None
    report.taxonomy_synced = sync_taxonomy(store, tax)
    first_start = is_first_start(store)
    imported, problems = import_seeds(store, seeds_dir, tax)
    report.seeds_imported, report.seed_problems = imported, problems
    if first_start and default_plan_n > 0:
        report.planned = plan_default(store, tax, default_plan_n)


# -- taxonomy ----------------------------------------------------------------------------------
def taxonomy_rows(tax: Taxonomy) -> dict[str, list[dict[str, Any]]]:
    """The taxonomy as rows of its tables (sync_taxonomy's argument)."""

    def row(item: Any, n: int, **extra: Any) -> dict[str, Any]:
        data = item.model_dump(mode="json", exclude={"topics"})
        return {
            "id": item.id,
            "name": item.name,
            "description": item.description,
            "data": data,
            "sort_order": n,
            **extra,
        }

    return {
        "tiers": [row(t, n) for n, t in enumerate(tax.tiers)],
        "emotions": [row(e, n) for n, e in enumerate(tax.emotions)],
        "strategies": [row(s, n) for n, s in enumerate(tax.strategies)],
        "personas": [row(p, n) for n, p in enumerate(tax.personas)],
        "emotional_arcs": [
            row(a, n, start_emotion=a.start_emotion, end_emotion=a.end_emotion) for n, a in enumerate(tax.arcs)
        ],
        "topic_clusters": [
            {**row(c, n), "data": {**row(c, n)["data"], "topics": [t.id for t in c.topics]}}
            for n, c in enumerate(tax.topic_clusters)
        ],
        "topics": [row(t, n, cluster_id=tax.cluster_of[t.id]) for n, t in enumerate(tax.topics)],
        "intents": [row(i, n) for n, i in enumerate(tax.intents)],
        "tones": [row(t, n) for n, t in enumerate(tax.tones)],
        "outcomes": [row(o, n) for n, o in enumerate(tax.outcomes)],
        "scenario_contexts": [row(c, n, tier="scenario") for n, c in enumerate(tax.scenario_contexts)]
        + [row(c, len(tax.scenario_contexts) + n, tier="edge_case") for n, c in enumerate(tax.edge_cases)],
    }


def sync_taxonomy(store: PostgresStore, tax: Taxonomy, *, force: bool = False) -> bool:
    """Upsert the taxonomy tables (ids gone from the YAML are retired). Returns False when the
    database already has this exact taxonomy."""
    with store.connection("sync the taxonomy") as conn:
        row = conn.execute("select value ->> 'sha256' as sha from public.app_meta where key = 'taxonomy'").fetchone()
        if row and row["sha"] == tax.sha256 and not force:
            return False
        conn.execute(
            "select public.sync_taxonomy(p_taxonomy => %(rows)s, p_sha256 => %(sha)s::text)",
            {"rows": Jsonb(taxonomy_rows(tax)), "sha": tax.sha256},
        )
    log.info("synced the taxonomy tables from %s", tax.path)
    return True


# -- seeds -------------------------------------------------------------------------------------
def import_seeds(store: PostgresStore, directory: Path, tax: Taxonomy | None = None) -> tuple[list[str], list[str]]:
    """Import seeds/*.json that are not in the database yet. Returns (imported ids, problems);
    a problem is one line naming the file, and that file is skipped."""
    imported: list[str] = []
    loaded = load_seeds(directory)
    problems: list[str] = list(loaded.errors)
    with store.connection("read the seed ids") as conn:
        present = {r["id"] for r in conn.execute("select id from public.conversations where source = 'seed'")}
    for conv in loaded.conversations:
        name = loaded.files[conv.id]
        if conv.id in present:
            continue
        if conv.provenance.source != "seed":
            problems.append(_skip(name, f"provenance.source is {conv.provenance.source!r}, a seed needs 'seed'"))
            continue
        if tax is not None and conv.quality.score is None:
            conv = _with_quality(conv, tax)
        try:
            with store.connection(f"import {name}") as conn:
                conn.execute(
                    "select public.import_seed(p_conversation => %(doc)s)", {"doc": Jsonb(conv.model_dump(mode="json"))}
                )
        except (StoreUnavailable, BootError):
            raise
        except Exception as exc:  # a StoreError from one seed must not stop the others
            problems.append(_skip(name, str(exc).removeprefix(f"cannot import {name}: ")))
            continue
        imported.append(conv.id)
        present.add(conv.id)
    if imported:
        log.info("imported %d seed conversations: %s", len(imported), ", ".join(imported))
    return imported, problems


def _skip(name: str, reason: str) -> str:
    line = f"{name}: skipped, {reason}"
    log.warning("seed %s", line)
    return line


def _with_quality(conv: Conversation, tax: Taxonomy) -> Conversation:
    """The seed with its quality score filled in, so the scenario table shows one."""
    report = check_conversation(conv, tax)
    return conv.model_copy(update={"quality": report.to_quality(conv.quality)})


# -- the default plan --------------------------------------------------------------------------
def is_first_start(store: PostgresStore) -> bool:
    with store.connection("check for a first start") as conn:
        row = conn.execute(
            "select (select count(*) from public.scenarios) as n, "
            "exists (select 1 from public.app_meta where key = 'default_plan') as planned"
        ).fetchone()
    assert row is not None  # an aggregate returns one row
    return row["n"] == 0 and not row["planned"]


def plan_default(
    store: PostgresStore, tax: Taxonomy, n_new: int = DEFAULT_PLAN_N, seed: int = DEFAULT_PLAN_SEED
) -> int:
    """Plan the default table: n_new new scenarios in the taxonomy's default tier mix (40/35/15 for 90),
    planned around the rows already there (the seeds'). Returns how many were added."""
    existing = [{k: r[k] for k in SCENARIO_FIELDS} for r in store.list_scenarios()]
    added, _ = plan_scenarios(store, tax, n_new, seed=seed, batch="default", existing=existing)
    with store.connection("remember the default plan") as conn:
        conn.execute(
            "insert into public.app_meta (key, value) values ('default_plan', %(v)s) on conflict (key) do nothing",
            {"v": Jsonb({"n": n_new, "added": len(added), "seed": seed, "at": time.time()})},
        )
    log.info("planned the default scenario table: %d new scenarios, %d in all", len(added), len(existing) + len(added))
    return len(added)


def plan_scenarios(
    store: Store,
    tax: Taxonomy,
    n: int,
    *,
    tier_mix: Mapping[str, int] | None = None,
    seed: int = 0,
    batch: str | None = None,
    existing: list[dict[str, Any]] | None = None,
) -> tuple[list[int], PlanCoverage | None]:
    """Plan n more scenarios on top of the table (the planner tops up what is under-covered).
    Returns the new ids and the coverage the table has with them."""
    from lib.core.planner import plan

    if n <= 0:
        return [], None

    if existing is None:
        existing = [{k: r[k] for k in SCENARIO_FIELDS} for r in store.list_scenarios()]
    try:
        result = plan(tax, n, dict(tier_mix) if tier_mix is not None else None, seed=seed, existing=existing)
    except ValueError as exc:
        raise InvalidInput(f"cannot plan {n} scenarios: {exc}") from None
    ids = store.add_scenarios(
        [s.as_dict() for s in result.scenarios], plan_batch=batch or f"plan-seed-{seed}", plan_seed=seed
    )
    return ids, result.coverage
