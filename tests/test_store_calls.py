"""The table of calls (lib/store/calls/) against the migrated database, and the two transports
against each other: every Store method is one row; every function row names a function of the
catalog with those parameters, those types and that kind of result; every read names columns that
exist; and SupabaseStore, served the rows PostgresStore reads, returns what PostgresStore returns."""
from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg
import pytest

from lib.core.taxonomy import Taxonomy
from lib.store.calls import CALLS, STORE_INFO, Export, Fn, Insert, Read
from lib.store.postgres import PostgresStore
from lib.store.protocol import REVIEW_FILTERS, SCENARIO_FILTERS, Store
from lib.store.supabase import SupabaseStore
from tests.supabase_stub import FAKE_ACCESS_TOKEN, FAKE_ANON_KEY, SupabaseStub, table_rows

Conn = psycopg.Connection[dict[str, Any]]
FUNCTIONS = {name: call for name, call in CALLS.items() if isinstance(call, Fn)} | {"describe": STORE_INFO}


def protocol_methods() -> set[str]:
    return {n for n, v in inspect.getmembers(Store) if callable(v) and not n.startswith("_")}


def columns_of(conn: Conn) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for row in conn.execute("select table_name, column_name from information_schema.columns "
                            "where table_schema = 'public'"):
        out.setdefault(row["table_name"], set()).add(row["column_name"])
    return out


def test_every_store_method_is_one_row_of_the_table() -> None:
    # describe: store_info with the store's kind; worker_session: a connection of its own
    assert protocol_methods() - set(CALLS) == {"describe", "close", "worker_session"}
    assert set(CALLS) <= protocol_methods()
    for name in CALLS:  # the methods carry the protocol's signature, so a wrong call fails as it would
        assert inspect.signature(getattr(PostgresStore, name)) == inspect.signature(getattr(Store, name))
        assert getattr(SupabaseStore, name) is getattr(PostgresStore, name)


@pytest.mark.parametrize("method", sorted(FUNCTIONS))
def test_each_function_row_matches_the_catalog(conn: Conn, method: str) -> None:
    fn = FUNCTIONS[method]
    found = conn.execute(
        "select p.proretset as set, t.typtype as kind, p.pronargs - p.pronargdefaults as required, "
        "coalesce(p.proargnames, '{}') as names, coalesce(p.proargmodes, '{}') as modes, "
        "array(select format_type(a, null) from unnest(p.proargtypes) a) as types "
        "from pg_proc p join pg_type t on t.oid = p.prorettype "
        "where p.pronamespace = 'public'::regnamespace and p.proname = %(fn)s", {"fn": fn.name}).fetchall()
    assert len(found) == 1, f"public.{fn.name}: {len(found)} functions of that name"
    row = found[0]
    inputs = [n for n, m in zip(row["names"], row["modes"] or ["i"] * len(row["names"]), strict=False)
              if m in ("i", "b", "v")]
    declared = dict(zip(inputs, row["types"], strict=True))
    assert set(fn.args) <= set(declared), f"{fn.name}: no parameter {sorted(set(fn.args) - set(declared))}"
    assert set(inputs[:row["required"]]) <= set(fn.args), f"{fn.name}: a required parameter is not sent"
    assert {k: a.type for k, a in fn.args.items()} == {k: declared[k] for k in fn.args}
    composite = row["kind"] in ("c", "p")  # a table type, or `returns table (...)` (record)
    kind = ("rows" if composite else "values") if row["set"] else ("row" if composite else "value")
    assert fn.returns == kind


def test_each_read_names_columns_that_exist(conn: Conn) -> None:
    columns = columns_of(conn)
    problems = []
    for method, call in CALLS.items():
        if isinstance(call, Read):
            have = columns.get(call.relation, set())
            used = {*call.columns, *(c for c, _ in call.order), *([call.count_by] if call.count_by else [])}
            if call.embed is not None:
                used.add(call.embed.key)
                if not set(call.embed.columns) <= columns.get(call.embed.table, set()):
                    problems.append(f"{method}: {call.embed.table} lacks {call.embed.columns}")
            if not used <= have:
                problems.append(f"{method}: {call.relation} lacks {sorted(used - have)}")
        elif isinstance(call, Insert) and not call.columns <= columns.get(call.table, set()):
            problems.append(f"{method}: {call.table} lacks {sorted(call.columns - columns[call.table])}")
        elif isinstance(call, Export) and "conversation_id" not in columns["v_scenarios"]:
            problems.append(f"{method}: v_scenarios lacks conversation_id")
    assert set(SCENARIO_FILTERS.values()) <= columns["v_scenarios"]
    assert set(REVIEW_FILTERS.values()) <= columns["v_review_queue"] | {"id"}
    assert problems == []


# -- the two transports return the same ----------------------------------------------------------------
def _as_postgrest(row: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(row, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v)))


@pytest.fixture
def pair(seeded: PostgresStore, db_tax: Taxonomy) -> Iterator[tuple[PostgresStore, SupabaseStore]]:
    """The seeded database with some history, and a SupabaseStore served its rows."""
    from tests.conftest import scenario_rows

    store = seeded
    ids = store.add_scenarios(scenario_rows(db_tax, 3))
    store.record_review("seed-01", "needs_edit", reviewer="Dana Reyes, CFP", notes="tone")
    store.record_review("seed-01", "approved", reviewer="Ana")
    store.revise_label("seed-02", 0, "emotion.intensity", 0.4, author="Ana", reason="calmer")
    job = store.create_job(ids, created_by="Ana")
    store.fail_item(store.claim_items("w", job_id=job)[0].id, "boom", worker="w")
    relations = ("v_scenarios", "v_review_queue", "v_generation_jobs", "conversations", "conversation_turns",
                 "reviews", "label_revisions", "conversation_metadata")
    with SupabaseStub() as stub:
        with store.connection("read") as conn:
            for name in relations:
                stub.table(name, table_rows([_as_postgrest(r) for r in conn.execute(f"select * from public.{name}")]))  # noqa: S608
            items = conn.execute("select i.*, json_build_object('tier', s.tier, 'persona', s.persona, 'emotional_arc', "
                                 "s.emotional_arc, 'topic', s.topic) as scenarios from public.generation_job_items i "
                                 "join public.scenarios s on s.id = i.scenario_id").fetchall()
        stub.table("generation_job_items", table_rows([_as_postgrest(r) for r in items]))
        yield store, SupabaseStore(stub.url, FAKE_ANON_KEY, access_token=FAKE_ACCESS_TOKEN)


READS: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("list_scenarios", (), {}),
    ("list_scenarios", ({"tier": ["template"], "status": ["approved", "not_generated"]},), {"limit": 7}),
    ("list_scenarios", ({"ids": [2, 3, 91]},), {}),
    ("get_scenario", (2,), {}),
    ("get_scenario", (999,), {}),
    ("get_conversation", ("seed-03",), {}),
    ("conversation_versions", (1,), {}),
    ("conversation_turn_rows", ("seed-02",), {}),
    ("seed_examples", (), {}),
    ("reviews_for", ("seed-01",), {}),
    ("label_revisions_for", ("seed-02",), {}),
    ("review_queue", ({"source": ["seed"], "status": ["approved"]},), {"limit": 4}),
    ("review_queue_ids", ({"scenario_id": [1, 2]},), {"current_only": False}),
    ("reviewer_names", (), {}),
    ("conversation_metadata", ("seed-01",), {}),
    ("get_job", (1,), {}),
    ("list_jobs", (), {}),
    ("job_items", (1,), {}),
    ("job_items_with_status", (1, ["failed", "pending"]), {"limit": 2}),
    ("export_counts", ({"tier": ["template"]},), {}),
    ("export_conversations", (), {"review_statuses": ["approved"], "limit": 3}),
]


@pytest.mark.parametrize(("method", "args", "kwargs"), READS, ids=[f"{m}-{i}" for i, (m, _, _) in enumerate(READS)])
def test_both_transports_read_the_same(pair: tuple[PostgresStore, SupabaseStore], method: str,
                                       args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    postgres, supabase = pair
    expected = getattr(postgres, method)(*args, **kwargs)
    got = getattr(supabase, method)(*args, **kwargs)
    if method == "export_conversations":  # the same documents, as text each its own way
        expected = [(r.scenario_id, r.version, json.loads(r.document), r.training) for r in expected]
        got = [(r.scenario_id, r.version, json.loads(r.document), r.training) for r in got]
    assert got == expected
    assert expected or args == (999,), "a comparison of nothing"
