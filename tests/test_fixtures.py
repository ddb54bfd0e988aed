"""The shared test databases are put back exactly as they were after each test (tests/conftest.py)."""
from __future__ import annotations

import psycopg
from psycopg import sql

from lib.core.taxonomy import Taxonomy
from lib.store.postgres import PostgresStore
from tests.conftest import Snapshot, make_conversation, restore, scenario_rows


def fingerprint(dsn: str) -> dict[str, str | int | None]:
    """A hash of every public table's rows, and every sequence's last value."""
    out: dict[str, str | int | None] = {}
    with psycopg.connect(dsn, autocommit=True) as c:
        tables = [r[0] for r in c.execute("select tablename from pg_tables where schemaname = 'public'")]
        for t in tables:
            out[t] = c.execute(sql.SQL("select md5(coalesce(string_agg(x::text, '|' order by x::text), '')) from {} x")
                               .format(sql.Identifier("public", t))).fetchone()[0]
        for name, last in c.execute("select sequencename, last_value from pg_sequences where schemaname = 'public'"):
            out[f"sequence {name}"] = last
    return out


def change_everything(dsn: str, tax: Taxonomy) -> None:
    store = PostgresStore(dsn, min_size=1, max_size=1)
    try:
        [sid] = store.add_scenarios(scenario_rows(tax, 1), plan_batch="test", plan_seed=1)
        store.save_generated(make_conversation(store.get_scenario(sid), "fixture-1"), scenario_id=sid)
        store.record_review("fixture-1", "approved", reviewer="dana", notes="fine")
        store.create_job([sid])
    finally:
        store.close()
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("insert into public.app_meta (key, value) values ('fixture', '{}')")
        c.execute("delete from public.conversation_turns where idx = 0")
        c.execute("update public.emotions set name = 'Changed' where id = (select min(id) from public.emotions)")


def test_the_seeded_database_is_put_back_with_its_rows_ids_and_taxonomy(shared_seeded_db: Snapshot,
                                                                          db_tax: Taxonomy) -> None:
    before = fingerprint(shared_seeded_db.dsn)
    assert before["sequence scenarios_id_seq"] == 100  # the seeds and the default plan
    try:
        change_everything(shared_seeded_db.dsn, db_tax)
        assert fingerprint(shared_seeded_db.dsn) != before
    finally:
        restore(shared_seeded_db)
    assert fingerprint(shared_seeded_db.dsn) == before


def test_the_plain_database_is_put_back_empty(shared_db: Snapshot, db_tax: Taxonomy) -> None:
    before = fingerprint(shared_db.dsn)
    try:
        store = PostgresStore(shared_db.dsn, min_size=1, max_size=1)
        try:
            store.add_scenarios(scenario_rows(db_tax, 3), plan_batch="test", plan_seed=1)
        finally:
            store.close()
        assert fingerprint(shared_db.dsn) != before
    finally:
        restore(shared_db)
    assert fingerprint(shared_db.dsn) == before
