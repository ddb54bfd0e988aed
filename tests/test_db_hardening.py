"""The database enforces who did what, as an attacker and a careless user would try it, role by role on a
migrated PostgreSQL: privileges over every table and function (TRUNCATE included), identity from the
session in hosted mode, forged document fields, two reviewers deciding at once, sizes, the last admin,
seed examples, and Supabase's own linter (splinter) on the result."""

from __future__ import annotations

import re
import threading
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from lib.core.taxonomy import Taxonomy
from lib.store.postgres import PostgresStore
from lib.store.protocol import STALE_SQLSTATE, InvalidInput, Stale
from lib.store.supabase import SupabaseStore
from tests.conftest import add_member, as_role, make_conversation
from tests.supabase_stub import SupabaseStub
from tests.test_supabase_store import hosted, stub  # noqa: F401  (the supabase-py adapter against a stub)
from tests.test_roles import world  # noqa: F401  (conv-a, a job for scenario 2, one member per role)

Conn = psycopg.Connection[dict[str, Any]]
MEMBER_ROLES = ["viewer", "reviewer", "operator", "admin"]
RANK = {"none": 0, "viewer": 1, "reviewer": 2, "operator": 3, "admin": 4}
SPLINTER = Path(__file__).parent / "fixtures" / "splinter" / "splinter.sql"
OWNER_ONLY = ("TRUNCATE", "TRIGGER", "REFERENCES")


def email(conn: Conn, user_id: uuid.UUID) -> str:
    return str(
        conn.execute("select email from public.members where user_id = %(u)s", {"u": user_id}).fetchone()["email"]
    )


def relations(conn: Conn) -> list[str]:
    return [
        r["relname"]
        for r in conn.execute(
            "select c.relname from pg_class c where c.relnamespace = 'public'::regnamespace "
            "and c.relkind in ('r', 'p', 'v', 'm', 'f') order by 1"
        )
    ]


# -- privileges: every relation, every function -------------------------------------------------------------


def test_no_api_role_holds_a_privilege_that_bypasses_row_level_security(conn: Conn) -> None:
    held = [
        (role, rel, priv)
        for rel in relations(conn)
        for role in ("anon", "authenticated", "service_role")
        for priv in OWNER_ONLY
        if conn.execute(
            "select has_table_privilege(%(r)s, %(t)s, %(p)s) as ok", {"r": role, "t": f"public.{rel}", "p": priv}
        ).fetchone()["ok"]
    ]
    assert held == []
    anon = [
        rel
        for rel in relations(conn)
        if conn.execute(
            "select has_any_column_privilege('anon', %(t)s, 'select, insert, update') as ok", {"t": f"public.{rel}"}
        ).fetchone()["ok"]
    ]
    assert anon == []


def test_a_table_created_later_gives_no_api_role_truncate(conn: Conn) -> None:
    with conn.transaction():
        conn.execute("create table public.later_table (id integer primary key)")
        rights = {
            (role, priv): conn.execute(
                "select has_table_privilege(%(r)s, 'public.later_table', %(p)s) as ok", {"r": role, "p": priv}
            ).fetchone()["ok"]
            for role in ("anon", "authenticated", "service_role")
            for priv in (*OWNER_ONLY, "SELECT")
        }
        raise psycopg.Rollback
    assert [k for k, ok in rights.items() if ok and k[1] in OWNER_ONLY] == []
    assert not rights[("anon", "SELECT")]


@pytest.mark.parametrize("role", [*MEMBER_ROLES, "service_role"])
def test_truncate_is_refused_on_every_table_for_every_role(conn: Conn, world: dict[str, Any],
                                                           role: str) -> None:
    tables = [
        r["relname"]
        for r in conn.execute(
            "select relname from pg_class where relnamespace = 'public'::regnamespace and relkind in ('r', 'p')"
        )
    ]
    for table in tables:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            with as_role(
                conn,
                "service_role" if role == "service_role" else "authenticated",
                None if role == "service_role" else world["members"][role],
            ):
                conn.execute(sql.SQL("truncate {} cascade").format(sql.Identifier("public", table)))
    assert conn.execute("select count(*) as n from public.conversations").fetchone()["n"] == 1


API_FUNCTIONS = """
select p.oid, p.proname, p.proargtypes::regtype[]::text[] as types, p.prosrc from pg_proc p
 where p.prosecdef and (p.pronamespace = 'public'::regnamespace
    or p.pronamespace = 'app_private'::regnamespace and exists (
       select 1 from pg_proc w where w.pronamespace = 'public'::regnamespace and w.proname = p.proname
          and w.proargtypes = p.proargtypes))
 order by 2
"""


def secured_functions(conn: Conn) -> list[dict[str, Any]]:
    """Every security-definer function of the API (in app_private behind its public wrapper, or one left in
    public): its call through public with null arguments and the least role its first require_role names
    (None: it checks no role)."""
    out = []
    for r in conn.execute(API_FUNCTIONS):
        least = re.search(r"require_role\('([a-z]+)'", r["prosrc"])
        args = ", ".join(f"null::{t}" for t in r["types"])
        out.append(
            {
                "name": r["proname"],
                "call": f"select public.{r['proname']}({args})",
                "least": least.group(1) if least else None,
            }
        )
    return out


def callers(conn: Conn, fn: str) -> set[str]:
    return {
        role
        for role in ("anon", "authenticated", "service_role")
        if conn.execute(
            "select has_function_privilege(%(r)s, %(f)s, 'execute') as ok", {"r": role, "f": fn}
        ).fetchone()["ok"]
    }


def callable_helpers(conn: Conn) -> list[str]:
    """The functions of app_private an API role may call that are not the API itself."""
    api = {r["oid"] for r in conn.execute(API_FUNCTIONS)}
    return [
        r["sig"]
        for r in conn.execute(
            "select p.oid, p.oid::regprocedure::text as sig from pg_proc p "
            "where p.pronamespace = 'app_private'::regnamespace order by 2"
        ).fetchall()
        if r["oid"] not in api and callers(conn, r["sig"])
    ]


def test_the_api_is_definer_functions_in_app_private_behind_invoker_wrappers(conn: Conn) -> None:
    """Public holds no security-definer function; each wrapper is callable by exactly the roles that may call
    the function it wraps, and no other function of app_private is callable by an API role."""
    left = conn.execute("select count(*) as n from pg_proc where pronamespace = 'public'::regnamespace and prosecdef")
    assert left.fetchone()["n"] == 0
    wrapped = conn.execute(
        "select p.proname, p.oid::regprocedure::text as moved, w.oid::regprocedure::text as wrapper, w.prosecdef, "
        "w.prosrc from pg_proc p join pg_proc w on w.pronamespace = 'public'::regnamespace "
        "and w.proname = p.proname and w.proargtypes = p.proargtypes "
        "where p.pronamespace = 'app_private'::regnamespace and p.prosecdef"
    ).fetchall()
    assert len(wrapped) > 30
    for r in wrapped:
        assert not r["prosecdef"] and f"app_private.{r['proname']}(" in r["prosrc"]
        assert callers(conn, r["wrapper"]) == callers(conn, r["moved"]), r["wrapper"]
        assert "anon" not in callers(conn, r["moved"]), r["moved"]
    assert callable_helpers(conn) == []
    with conn.transaction():
        conn.execute("create function app_private.later_helper() returns integer language sql as 'select 1'")
        conn.execute("grant execute on function app_private.later_helper() to authenticated")
        later = callable_helpers(conn)
        raise psycopg.Rollback
    assert later == ["app_private.later_helper()"]


def test_every_function_refuses_every_caller_below_its_role(conn: Conn, world: dict[str, Any]) -> None:
    """The role x function matrix: anon calls nothing; a signed-in caller below the role a function names
    is refused before it does anything."""
    functions = secured_functions(conn)
    assert len(functions) > 30
    unchecked = sorted(f["name"] for f in functions if f["least"] is None)
    assert unchecked == ["app_role", "whoami"]  # they read the caller's own role and row
    refusals = 0
    for f in functions:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            with as_role(conn, "anon"):
                conn.execute(f["call"])
        for role in RANK:
            if f["least"] is None or RANK[role] >= RANK[f["least"]]:
                continue
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match=f"you need the {f['least']} role"):
                with as_role(conn, "authenticated", world["members"].get(role) or uuid.uuid4()):
                    conn.execute(f["call"])
            refusals += 1
    assert refusals > 60


# -- identity from the session ------------------------------------------------------------------------------


def test_a_signed_in_reviewer_cannot_record_a_decision_or_revision_for_someone_else(
    conn: Conn, store: PostgresStore, world: dict[str, Any]
) -> None:
    me = world["members"]["reviewer"]
    with as_role(conn, "authenticated", me):
        conn.execute(
            "select public.record_review(p_conversation_id => 'conv-a', p_decision => 'approved', "
            "p_reviewer => 'someone else')"
        )
        conn.execute(
            "select public.revise_label(p_conversation_id => 'conv-a', p_turn => 0, "
            "p_field => 'emotion.intensity', p_new_value => '0.3'::jsonb, p_author => 'labelbot')"
        )
        conn.execute("select public.set_seed_example(p_conversation_id => 'conv-a', p_value => true, p_by => 'boss')")
        conn.execute(
            "select public.record_human_rating(p_conversation_id => 'conv-a', p_criterion => 'empathy', "
            "p_score => 4, p_rater => 'the judge', p_pass_at => 3, p_reason => 'fine')"
        )
    [review] = store.reviews_for("conv-a")
    [revision] = store.label_revisions_for("conv-a")
    assert (review["reviewer"], review["reviewer_id"]) == (email(conn, me), me)
    assert (revision["author"], revision["author_id"]) == (email(conn, me), me)
    assert store.conversation_metadata("conv-a")["review.seed_example"]["by"] == email(conn, me)
    [rating] = store.conversation_ratings("conv-a")
    assert (rating["rater"], rating["source"]) == (email(conn, me), "human")
    doc = store.get_conversation("conv-a")
    assert doc is not None and doc.review.reviewer == email(conn, me) and doc.label_history[0].author == email(conn, me)


def test_a_signed_in_reviewer_cannot_claim_an_automated_or_operator_revision(conn: Conn, world: dict[str, Any]) -> None:
    for source in ("automated", "operator_realtime"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            with as_role(conn, "authenticated", world["members"]["reviewer"]):
                conn.execute(
                    "select public.revise_label(p_conversation_id => 'conv-a', p_turn => 0, "
                    "p_field => 'emotion.intensity', p_new_value => '0.3'::jsonb, p_author => 'labelbot', "
                    "p_source => %(s)s)",
                    {"s": source},
                )


def test_locally_the_name_is_the_parameter(store: PostgresStore, world: dict[str, Any]) -> None:
    store.record_review("conv-a", "approved", reviewer="Dana")
    assert store.reviews_for("conv-a")[0]["reviewer"] == "Dana"


def test_save_generated_ignores_the_review_seed_split_and_history_a_document_claims(
    conn: Conn, store: PostgresStore, db_tax: Taxonomy, world: dict[str, Any]
) -> None:
    scn = store.get_scenario(world["ids"][2])
    assert scn is not None
    doc = make_conversation(scn, "conv-forged").model_dump(mode="json")
    doc["review"] = {"status": "approved", "reviewer": "boss", "reviewed_at": "2020-01-01T00:00:00Z"}
    doc["training"] = {"use_as_seed_example": True, "split": "test"}
    doc["label_history"] = [
        {
            "turn": 0,
            "field": "emotion.intensity",
            "old_value": 0.7,
            "new_value": 0.2,
            "source": "human_review",
            "author": "boss",
            "at": "2020-01-01T00:00:00Z",
        }
    ]
    with as_role(conn, "authenticated", world["members"]["operator"]):
        conn.execute(
            "select public.save_generated(p_conversation => %(d)s, p_scenario_id => %(s)s)",
            {"d": Jsonb(doc), "s": scn["id"]},
        )
    row = conn.execute(
        "select review_status, use_as_seed_example, document from public.conversations where id = 'conv-forged'"
    ).fetchone()
    assert (row["review_status"], row["use_as_seed_example"]) == ("unreviewed", False)
    assert row["document"]["review"] == {"status": "unreviewed", "reviewer": None, "notes": None, "reviewed_at": None}
    assert row["document"]["label_history"] == []
    assert row["document"]["training"] == {"use_as_seed_example": False, "split": None}
    assert store.reviews_for("conv-forged") == [] and store.label_revisions_for("conv-forged") == []
    assert store.conversation_turn_rows("conv-forged")[0]["emotion_intensity"] == 0.7
    assert store.get_scenario(scn["id"])["status"] == "generated"  # type: ignore[index]


# -- two reviewers at once ----------------------------------------------------------------------------------


def test_two_concurrent_decisions_leave_status_and_history_in_agreement(
    db_dsn: str, conn: Conn, world: dict[str, Any]
) -> None:
    alice, bob = add_member(conn, "reviewer"), add_member(conn, "reviewer")
    names = {alice: email(conn, alice), bob: email(conn, bob)}
    def decide(c: psycopg.Connection[Any], who: uuid.UUID, decision: str, seen: int, start: threading.Barrier,
               outcome: dict[uuid.UUID, str]) -> None:
        start.wait()  # both decisions leave together: the row lock, not the test, orders them
        try:
            with as_role(c, "authenticated", who):
                c.execute("select public.record_review(p_conversation_id => 'conv-a', p_decision => %(d)s, "
                          "p_reason_code => 'other', p_review_count => %(n)s)", {"d": decision, "n": seen})
            outcome[who] = "ok"
        except psycopg.Error as exc:
            outcome[who] = f"{exc.sqlstate}: {exc.diag.message_primary}"

    with psycopg.connect(db_dsn, autocommit=True) as a, psycopg.connect(db_dsn, autocommit=True) as b:
        for trial in range(100):
            seen = conn.execute("select count(*) as n from public.reviews where conversation_id = 'conv-a'"
                                ).fetchone()["n"]
            start, outcome = threading.Barrier(2), {}
            first, second = ("approved", "rejected") if trial % 2 else ("rejected", "approved")
            threads = [threading.Thread(target=decide, args=(a, alice, first, seen, start, outcome)),
                       threading.Thread(target=decide, args=(b, bob, second, seen, start, outcome))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            [winner] = [w for w, o in outcome.items() if o == "ok"]
            [loser] = [w for w, o in outcome.items() if o != "ok"]
            assert outcome[loser].startswith(STALE_SQLSTATE), outcome
            assert f"was changed by {names[winner]} at " in outcome[loser] and "reload" in outcome[loser]
            state = conn.execute(
                "select c.review_status, s.status, q.last_reviewer, "
                "(select r.decision from public.reviews r where r.conversation_id = c.id order by r.id desc limit 1) "
                "as latest, (select count(*) from public.reviews r where r.conversation_id = c.id) as n "
                "from public.conversations c join public.scenarios s on s.id = c.scenario_id "
                "join public.v_review_queue q on q.id = c.id where c.id = 'conv-a'"
            ).fetchone()
            assert state["review_status"] == state["status"] == state["latest"], (trial, state)
            assert state["last_reviewer"] == names[winner] and state["n"] == seen + 1


def test_the_store_raises_stale_with_who_and_when(store: PostgresStore, world: dict[str, Any]) -> None:
    store.record_review("conv-a", "approved", reviewer="Alice", review_count=0)
    with pytest.raises(Stale, match=r"changed by Alice at \d{4}-\d\d-\d\d .*reload"):
        store.record_review("conv-a", "rejected", reviewer="Bob", reason_code="other", review_count=0)
    assert [r["reviewer"] for r in store.reviews_for("conv-a")] == ["Alice"]


def test_the_hosted_store_raises_stale_and_leaves_out_the_failing_row(hosted: SupabaseStore,
                                                                      stub: SupabaseStub) -> None:
    stub.error("/rest/v1/rpc/record_review", 400, {
        "code": STALE_SQLSTATE, "hint": "Your decision was not recorded.",
        "message": "conversation c was changed by bob@example.com at 2026-12-02 01:00:00 UTC (rejected): reload it"})
    with pytest.raises(Stale, match="changed by bob@example.com .*not recorded"):
        hosted.record_review("c", "approved", reviewer="x", review_count=0)
    stub.error("/rest/v1/rpc/create_job", 400, {
        "code": "23514", "details": "Failing row contains (" + "f" * 5000 + ")",
        "message": 'new row for relation "generation_job_items" violates check constraint '
                   '"generation_job_items_feedback_at_most_10000_characters"'})
    with pytest.raises(InvalidInput) as err:
        hosted.create_job([1], feedback="f" * 20_000)
    assert "at_most_10000_characters" in str(err.value) and "fff" not in str(err.value)


# -- seed examples, the last admin, sizes -------------------------------------------------------------------


@pytest.mark.parametrize("decision", ["rejected", "needs_edit"])
def test_a_conversation_not_approved_stops_being_a_seed_example(
    store: PostgresStore, conn: Conn, world: dict[str, Any], decision: str
) -> None:
    store.record_review("conv-a", "approved", reviewer="Ana")
    store.set_seed_example("conv-a", True, by="Ana")
    store.record_review("conv-a", decision, reviewer="Ben", reason_code="other")  # type: ignore[arg-type]
    row = conn.execute(
        "select use_as_seed_example, document -> 'training' as t from public.conversations where id = 'conv-a'"
    ).fetchone()
    assert row == {"use_as_seed_example": False, "t": {"use_as_seed_example": False, "split": None}}
    assert store.seed_examples() == []
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("update public.conversations set use_as_seed_example = true where id = 'conv-a'")


def test_an_admin_cannot_demote_or_remove_every_admin_by_a_direct_write(conn: Conn, world: dict[str, Any]) -> None:
    admin = world["members"]["admin"]
    for statement in ("update public.members set role = 'viewer'", "delete from public.members where role = 'admin'"):
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="last admin"):
            with as_role(conn, "authenticated", admin):
                conn.execute(statement)
    other = add_member(conn, "admin")
    with as_role(conn, "authenticated", admin):
        assert (
            conn.execute("update public.members set role = 'viewer' where user_id = %(u)s", {"u": other}).rowcount == 1
        )


@pytest.mark.parametrize(
    ("call", "size"),
    [
        (lambda s: s.record_review("conv-a", "needs_edit", reviewer="Ana", notes="n" * 1_048_576), "1,048,576"),
        (lambda s: s.record_review("conv-a", "approved", reviewer="x" * 100_000), "100,000"),
        (lambda s: s.revise_label("conv-a", 0, "emotion.primary", "e" * 10_000, author="Ana"), "10,002"),
        (lambda s: s.revise_label("conv-a", 0, "emotion.intensity", 0.3, author="Ana", reason="r" * 5_000), "5,000"),
    ],
)
def test_an_oversized_text_is_refused_without_being_echoed(
    store: PostgresStore, world: dict[str, Any], call: Any, size: str
) -> None:
    with pytest.raises(InvalidInput) as err:
        call(store)
    message = str(err.value)
    assert f"is {size} characters long; the limit is" in message and len(message) < 300


def test_a_check_constraint_on_size_does_not_echo_the_row(store: PostgresStore, world: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput) as err:
        store.create_job([world["ids"][2]], feedback="f" * 20_000)
    assert "feedback_at_most_10000_characters" in str(err.value) and "fff" not in str(err.value)


# -- Supabase's linter --------------------------------------------------------------------------------------


def test_splinter_finds_nothing_at_warn_or_error(conn: Conn) -> None:
    """Every lint of the dashboard's advisors, on this migrated database, with nothing excluded."""
    query = SPLINTER.read_text(encoding="utf-8").split(";", 1)[1]  # its first statement: set local search_path
    with conn.transaction():
        conn.execute("select set_config('pgrst.db_schemas', 'public', true)")
        conn.execute("set local search_path = ''")
        lints = conn.execute(query).fetchall()
    assert [(x["name"], x["detail"]) for x in lints if x["level"] in ("WARN", "ERROR")] == []
    assert [x["detail"] for x in lints if x["name"] == "unindexed_foreign_keys"] == []


def test_splinter_flags_a_definer_function_left_in_public(conn: Conn) -> None:
    """The lint above can fail: a definer function a later migration adds to public is reported."""
    query = SPLINTER.read_text(encoding="utf-8").split(";", 1)[1]
    with conn.transaction():
        conn.execute(
            "create function public.later_api() returns integer language sql security definer "
            "set search_path = '' as 'select 1'"
        )
        conn.execute("grant execute on function public.later_api() to authenticated")
        conn.execute("select set_config('pgrst.db_schemas', 'public', true)")
        conn.execute("set local search_path = ''")
        lints = conn.execute(query).fetchall()
        raise psycopg.Rollback
    flagged = [
        x["metadata"]["name"] for x in lints if x["name"] == "authenticated_security_definer_function_executable"
    ]
    assert flagged == ["later_api"]
