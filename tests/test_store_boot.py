"""open_store and the start-up steps: seeds, the default plan, clear errors, the CLI."""
from __future__ import annotations

import json
import logging
import shutil
from collections import Counter
from pathlib import Path

import pytest
import yaml

from lib.store import cli
from lib.config import Settings
from lib.core.models import Conversation
from lib.store import BootError, Store, StoreUnavailable, open_store
from lib.store.boot import SEEDS_DIR, import_seeds, sync_taxonomy
from lib.store.embedded import EmbeddedServer
from lib.store.migrate import MIGRATIONS_DIR
from lib.store.calls import SCENARIO_FIELDS
from lib.store.postgres import PostgresStore
from lib.core.taxonomy import Taxonomy, load_taxonomy

SEED_FILES = sorted(SEEDS_DIR.glob("*.json"))
UNREACHABLE = "postgresql://brightrun:hunter2-secret@127.0.0.1:1/brightrun"


def test_postgres_store_implements_the_store_protocol(store: PostgresStore) -> None:
    assert isinstance(store, Store)


def test_seed_import_is_idempotent(store: PostgresStore, db_tax: Taxonomy) -> None:
    imported, problems = import_seeds(store, SEEDS_DIR, db_tax)
    assert problems == []
    assert len(imported) == len(SEED_FILES) == 10
    before = store.counts()
    assert import_seeds(store, SEEDS_DIR, db_tax) == ([], [])
    assert store.counts() == before
    assert before["conversations"] == before["scenarios"] == 10


def test_a_seed_is_an_approved_scenario_with_its_conversation(store: PostgresStore, db_tax: Taxonomy) -> None:
    import_seeds(store, SEEDS_DIR, db_tax)
    for path in SEED_FILES:
        seed = Conversation.model_validate_json(path.read_bytes())
        [row] = [r for r in store.list_scenarios() if r["conversation_id"] == seed.id]
        assert {k: row[k] for k in SCENARIO_FIELDS} == seed.scenario.model_dump()
        assert (row["status"], row["origin"], row["conversation_source"], row["review_status"]) == (
            "approved", "seed", "seed", "approved")
        assert row["quality_score"] is not None  # filled in by the validator at import
        stored = store.get_conversation(seed.id)
        assert stored is not None and stored.turns == seed.turns and stored.label_history == seed.label_history
        # the seed's own review is its first decision
        assert [r["decision"] for r in store.reviews_for(seed.id)] == ["approved"]
        # the labels in force include the seed's revisions (seed-03 and seed-07 carry one)
        turns = store.conversation_turn_rows(seed.id)
        for n, turn in enumerate(seed.current_turns()):
            if turn.role == "user":
                assert turns[n]["emotion_primary"] == turn.emotion.primary
            else:
                assert turns[n]["strategy_primary"] == turn.strategies.primary
        assert len(store.label_revisions_for(seed.id)) == len(seed.label_history)


def test_a_seed_is_attached_to_a_planned_scenario_that_matches_it(store: PostgresStore, db_tax: Taxonomy) -> None:
    seed = Conversation.model_validate_json(SEED_FILES[0].read_bytes())
    [planned] = store.add_scenarios([seed.scenario.model_dump()])
    import_seeds(store, SEEDS_DIR, db_tax)
    row = store.get_scenario(planned)
    assert row is not None
    assert (row["conversation_id"], row["origin"]) == (seed.id, "planned")
    assert store.counts()["scenarios"] == 10


def test_a_malformed_seed_is_reported_by_name_and_skipped(store: PostgresStore, db_tax: Taxonomy, tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "seeds"
    folder.mkdir()
    for path in SEED_FILES[:2]:
        shutil.copy(path, folder / path.name)
    (folder / "seed-97-not-json.json").write_text("{ this is not json", encoding="utf-8")
    doc = json.loads(SEED_FILES[2].read_text(encoding="utf-8"))
    del doc["turns"]
    (folder / "seed-98-no-turns.json").write_text(json.dumps(doc), encoding="utf-8")
    doc = json.loads(SEED_FILES[3].read_text(encoding="utf-8"))
    doc["id"], doc["scenario"]["persona"] = "seed-99", "space_pirate"  # valid JSON, unknown to the database
    (folder / "seed-99-unknown-persona.json").write_text(json.dumps(doc), encoding="utf-8")

    with caplog.at_level(logging.WARNING):
        imported, problems = import_seeds(store, folder, db_tax)
    assert len(imported) == 2
    assert [p.split(":")[0] for p in problems] == [
        "seeds/seed-97-not-json.json", "seeds/seed-98-no-turns.json", "seeds/seed-99-unknown-persona.json"]
    assert "turns: Field required" in problems[1]
    assert "unknown persona 'space_pirate'" in problems[2]
    assert all("\n" not in p for p in problems)
    assert "seed-97-not-json.json" in caplog.text
    assert store.counts()["conversations"] == 2


def test_taxonomy_sync_is_skipped_when_unchanged_and_retires_removed_ids(store: PostgresStore, db_tax: Taxonomy,
                                                                          tmp_path: Path) -> None:
    assert sync_taxonomy(store, db_tax) is False  # the template database has this taxonomy already
    folder = tmp_path / "taxonomy"
    shutil.copytree(db_tax.path, folder)
    gone = db_tax.tones[-1].id
    data = yaml.safe_load((folder / "dimensions.yaml").read_text(encoding="utf-8"))
    data["tones"] = [t for t in data["tones"] if t["id"] != gone]
    (folder / "dimensions.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    rules = yaml.safe_load((folder / "plausibility.yaml").read_text(encoding="utf-8"))
    for fit in rules["plausibility"]["arc_fit"].values():  # the rules may not name a tone that is gone
        fit["tones"] = [t for t in fit.get("tones", []) if t != gone]
    (folder / "plausibility.yaml").write_text(yaml.safe_dump(rules, sort_keys=False), encoding="utf-8")
    smaller = load_taxonomy(folder)
    assert sync_taxonomy(store, smaller) is True
    with store.connection("read tones") as conn:
        rows = {r["id"]: r["retired"] for r in conn.execute("select id, retired from public.tones")}
    assert rows[gone] is True and sum(rows.values()) == 1


def test_first_start_plans_90_new_scenarios_beside_the_10_seeds(
        pg_server: EmbeddedServer, pg_data_dir: Path, db_tax: Taxonomy, caplog: pytest.LogCaptureFixture) -> None:
    # the session's embedded server lives in pg_data_dir: open_store finds it running and creates
    # the app database on it, exactly as on a fresh clone
    settings = Settings(data_dir=pg_data_dir)
    with caplog.at_level(logging.INFO, logger="lib.store.boot"):
        store = open_store(settings)
    try:
        assert "database ready in" in caplog.text
        info = store.describe()
        assert info.kind == "embedded" and info.boot is not None
        assert info.boot.planned == 90 and len(info.boot.seeds_imported) == 10 and info.boot.seed_problems == []
        rows = store.list_scenarios()
        assert len(rows) == 100
        seed_tiers = Counter(r["tier"] for r in rows if r["conversation_source"] == "seed")
        assert Counter(r["tier"] for r in rows) - seed_tiers == {t.id: t.default_count for t in db_tax.tiers}
        seeds = [r for r in rows if r["conversation_source"] == "seed"]
        assert len(seeds) == 10 and {r["status"] for r in seeds} == {"approved"}
        assert Counter(r["status"] for r in rows)["not_generated"] == 90
        # every persona and arc of the taxonomy is in the plan
        assert {r["persona"] for r in rows} == set(db_tax.ids("personas"))
        assert {r["emotional_arc"] for r in rows} == set(db_tax.ids("arcs"))
    finally:
        store.close()
    again = open_store(settings)  # a second start changes nothing
    try:
        assert again.counts()["scenarios"] == 100
        assert again.boot is not None and again.boot.migrations_applied == [] and again.boot.planned == 0
    finally:
        again.close()


def test_a_start_with_everything_deleted_plans_again_only_if_never_planned(db_dsn: str) -> None:
    store = open_store(Settings(database_url=db_dsn), default_plan_n=12)
    try:
        assert store.counts()["scenarios"] == 22  # 12 new beside the 10 seeds
        with store.connection("delete") as conn:
            conn.execute("truncate public.scenarios, public.conversations, public.conversation_turns, "
                         "public.label_revisions, public.reviews, public.conversation_metadata cascade")
    finally:
        store.close()
    again = open_store(Settings(database_url=db_dsn), default_plan_n=12)
    try:
        # the seeds come back (they are data the app ships), the default plan does not
        assert again.counts()["scenarios"] == 10
    finally:
        again.close()


def test_an_unreachable_database_url_is_one_clear_line() -> None:
    with pytest.raises(StoreUnavailable) as err:
        open_store(Settings(database_url=UNREACHABLE))
    message = str(err.value)
    assert "cannot connect to the database at postgresql://brightrun@127.0.0.1:1/brightrun" in message
    assert "DATABASE_URL" in message and "hunter2" not in message and "\n" not in message


def test_a_malformed_database_url_is_one_clear_line() -> None:
    with pytest.raises(StoreUnavailable, match="DATABASE_URL"):
        open_store(Settings(database_url="this is not a url"))


def test_supabase_url_and_key_choose_the_hosted_adapter_without_booting() -> None:
    from lib.store.supabase import SupabaseStore

    store = open_store(Settings(supabase_url="https://x.supabase.co", supabase_key="anon"))
    assert isinstance(store, SupabaseStore)  # no migrations from the app: `supabase db push` applies them


def test_a_broken_taxonomy_stops_the_start_with_its_file(db_dsn: str, tmp_path: Path) -> None:
    with pytest.raises(BootError, match=r"cannot load the taxonomy: .*vertical.yaml: file is missing"):
        open_store(Settings(database_url=db_dsn), taxonomy_dir=tmp_path)


# -- the CLI --------------------------------------------------------------------------------------
def test_cli_reports_an_unreachable_database_in_one_line(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", UNREACHABLE)
    assert cli.main(["status"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot connect to the database at postgresql://brightrun@127.0.0.1:1/brightrun")
    assert err.count("\n") == 1 and "Traceback" not in err and "hunter2" not in err


def test_cli_migrate_status_plan_reset(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                       empty_dsn: str) -> None:
    monkeypatch.setenv("DATABASE_URL", empty_dsn)
    n_migrations = len(list(MIGRATIONS_DIR.glob("*.sql")))  # grows as features add migrations
    assert cli.main(["migrate"]) == 0
    assert f"applied {n_migrations} migration(s)" in capsys.readouterr().out
    assert cli.main(["migrate"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert cli.main(["status"]) == 0  # describes, changes nothing: migrate adds no rows
    out = capsys.readouterr().out
    assert f"migrations {n_migrations} applied, none pending" in out and "schema     as the migrations made it" in out
    assert "scenarios                    0" in out
    assert cli.main(["plan", "--n", "6", "--seed", "1", "--tier-mix", "template=6"]) == 0
    out = capsys.readouterr().out
    assert "added 6 scenarios (#11-#16)" in out and "16 in the table" in out  # after the 10 seeds
    assert cli.main(["status"]) == 0
    assert "scenarios                   16" in capsys.readouterr().out
    assert cli.main(["plan", "--n", "3", "--tier-mix", "template=oops"]) == 2
    assert cli.main(["reset"]) == 2
    assert "--yes" in capsys.readouterr().err
    assert cli.main(["reset", "--yes"]) == 0  # starts again as the app does: seeds and the default plan
    out = capsys.readouterr().out
    assert "started    " in out and "imported 10 seeds" in out and "scenarios                  100" in out


def test_cli_plan_on_an_empty_database_adds_n_to_the_seeds(monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str], empty_dsn: str) -> None:
    monkeypatch.setenv("DATABASE_URL", empty_dsn)
    assert cli.main(["plan", "--n", "5"]) == 0
    assert "added 5 scenarios (#11-#15)" in capsys.readouterr().out  # no default plan of 90 first


def test_times_come_back_in_utc_whatever_the_server_time_zone(fresh_dsn: str) -> None:
    # Regression: the pages print times with "UTC" after them; a server in another zone gave local times.
    import psycopg

    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        name = conn.execute("select current_database()").fetchone()[0]
        conn.execute(f'alter database "{name}" set timezone = \'America/New_York\'')
    store = PostgresStore(fresh_dsn, min_size=1, max_size=1)  # type: ignore[abstract]
    try:
        with store.connection("read the time zone") as conn:
            assert conn.execute("show timezone").fetchone()["TimeZone"] == "UTC"
            at = conn.execute("select now() as at").fetchone()["at"]
        assert at.utcoffset().total_seconds() == 0
    finally:
        store.close()
