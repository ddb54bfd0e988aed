"""Row level security and roles, as Supabase runs them: SET LOCAL ROLE anon / authenticated /
service_role with request.jwt.claims, members giving each signed-in user an app role."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from lib.store.postgres import PostgresStore
from lib.core.taxonomy import Taxonomy
from tests.conftest import add_member, as_role, make_conversation, scenario_rows

Conn = psycopg.Connection[dict[str, Any]]


@pytest.fixture
def world(store: PostgresStore, db_tax: Taxonomy) -> dict[str, Any]:
    """Three scenarios, one with a saved conversation, and a job with one pending item."""
    ids = store.add_scenarios(scenario_rows(db_tax, 3))
    scn = store.get_scenario(ids[0])
    assert scn is not None
    store.save_generated(make_conversation(scn, "conv-a"), scenario_id=ids[0])
    job = store.create_job([ids[1]])
    return {"ids": ids, "job": job, "scenario": scn}


def refused(conn: Conn, role: str, statement: str, params: dict[str, Any] | None = None,
            user_id: Any = None) -> str:
    """Run one statement as the role; it must fail with permission denied. Returns the message."""
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as err:
        with as_role(conn, role, user_id):
            conn.execute(statement, params)
    return str(err.value)


def rows_as(conn: Conn, role: str, statement: str, params: dict[str, Any] | None = None,
            user_id: Any = None) -> list[dict[str, Any]]:
    with as_role(conn, role, user_id):
        return conn.execute(statement, params).fetchall()


REVIEW = "select public.record_review(p_conversation_id => 'conv-a', p_decision => 'approved', p_reviewer => 'R')"
REVISE = ("select public.revise_label(p_conversation_id => 'conv-a', p_turn => 0, p_field => 'emotion.intensity', "
          "p_new_value => '0.3'::jsonb, p_author => 'R')")
ADD = "select public.add_scenarios(p_rows => %(rows)s)"
CLAIM = "select * from public.claim_job_items(p_worker => 'w')"
SYNC = "select public.sync_taxonomy(p_taxonomy => '{}'::jsonb)"


def test_anon_can_neither_read_nor_write(conn: Conn, world: dict[str, Any], db_tax: Taxonomy) -> None:
    for table in ("scenarios", "conversations", "conversation_turns", "reviews", "members", "personas",
                  "v_scenarios", "generation_jobs"):
        refused(conn, "anon", f"select * from public.{table}")
    refused(conn, "anon", "insert into public.reviews (conversation_id, decision, reviewer) values ('conv-a', 'approved', 'x')")
    refused(conn, "anon", "update public.scenarios set status = 'approved'")
    refused(conn, "anon", "delete from public.scenarios")
    for call in (REVIEW, REVISE, CLAIM, SYNC):
        refused(conn, "anon", call)
    refused(conn, "anon", ADD, {"rows": Jsonb(scenario_rows(db_tax, 1))})


def test_a_signed_in_user_who_is_not_a_member_sees_nothing(conn: Conn, world: dict[str, Any]) -> None:
    stranger = __import__("uuid").uuid4()
    assert rows_as(conn, "authenticated", "select * from public.scenarios", user_id=stranger) == []
    assert rows_as(conn, "authenticated", "select * from public.v_scenarios", user_id=stranger) == []
    assert "you are not a member" in refused(conn, "authenticated", REVIEW, user_id=stranger)


def test_a_viewer_reads_everything_and_writes_nothing(conn: Conn, world: dict[str, Any], db_tax: Taxonomy) -> None:
    viewer = add_member(conn, "viewer")
    assert len(rows_as(conn, "authenticated", "select * from public.v_scenarios", user_id=viewer)) == 3
    assert len(rows_as(conn, "authenticated", "select * from public.conversation_turns", user_id=viewer)) == 4
    assert len(rows_as(conn, "authenticated", "select * from public.emotions", user_id=viewer)) == len(db_tax.emotions)

    message = refused(conn, "authenticated", REVIEW, user_id=viewer)
    assert "to record a review decision you need the reviewer role (you are viewer)" in message
    refused(conn, "authenticated", REVISE, user_id=viewer)
    refused(conn, "authenticated", ADD, {"rows": Jsonb(scenario_rows(db_tax, 1))}, user_id=viewer)
    refused(conn, "authenticated", CLAIM, user_id=viewer)
    # direct writes: an insert is refused by the policy, an update or delete finds no row it may touch
    refused(conn, "authenticated",
            "insert into public.scenarios (tier, persona, emotional_arc, topic, intent, tone, outcome_type) "
            "select tier, persona, emotional_arc, topic, intent, tone, outcome_type from public.scenarios limit 1",
            user_id=viewer)
    refused(conn, "authenticated", "update public.scenarios set status = 'approved'", user_id=viewer)
    with as_role(conn, "authenticated", viewer):
        assert conn.execute("delete from public.generation_job_items").rowcount == 0
        assert conn.execute("update public.members set role = 'admin'").rowcount == 0
    assert {r["status"] for r in conn.execute("select status from public.scenarios")} == {"generated", "queued", "not_generated"}


def test_a_reviewer_records_decisions_and_revisions_but_does_not_generate(
        conn: Conn, store: PostgresStore, world: dict[str, Any], db_tax: Taxonomy) -> None:
    reviewer = add_member(conn, "reviewer")
    with as_role(conn, "authenticated", reviewer):
        review_id = conn.execute(REVIEW).fetchone()
        revision_id = conn.execute(REVISE).fetchone()
    assert review_id and revision_id
    [review] = store.reviews_for("conv-a")
    assert (review["decision"], review["reviewer_id"]) == ("approved", reviewer)
    [revision] = store.label_revisions_for("conv-a")
    assert revision["author_id"] == reviewer
    assert store.get_scenario(world["ids"][0])["status"] == "approved"  # type: ignore[index]

    refused(conn, "authenticated", ADD, {"rows": Jsonb(scenario_rows(db_tax, 1))}, user_id=reviewer)
    refused(conn, "authenticated", CLAIM, user_id=reviewer)
    # history is written only through the functions
    refused(conn, "authenticated",
            "insert into public.reviews (conversation_id, decision, reviewer) values ('conv-a', 'approved', 'me')",
            user_id=reviewer)


def test_an_operator_plans_and_generates_but_does_not_manage_members_or_taxonomy(
        conn: Conn, world: dict[str, Any], db_tax: Taxonomy) -> None:
    operator = add_member(conn, "operator")
    with as_role(conn, "authenticated", operator):
        added = conn.execute(ADD, {"rows": Jsonb(scenario_rows(db_tax, 2))}).fetchall()
        claimed = conn.execute(CLAIM).fetchall()
        conn.execute(REVIEW)  # operators may also review
    assert len(added) == 2 and len(claimed) == 1
    refused(conn, "authenticated", SYNC, user_id=operator)
    refused(conn, "authenticated", "insert into public.members (user_id, email, role) values "
            "(gen_random_uuid(), 'x@example.com', 'admin')", user_id=operator)
    with as_role(conn, "authenticated", operator):
        assert conn.execute("update public.members set role = 'admin'").rowcount == 0
        assert conn.execute("update public.emotions set name = 'x'").rowcount == 0


def test_an_admin_manages_members(conn: Conn, world: dict[str, Any]) -> None:
    admin = add_member(conn, "admin")
    with as_role(conn, "authenticated", admin):
        conn.execute("insert into public.members (user_id, email, role) values "
                     "(gen_random_uuid(), 'new@example.com', 'reviewer')")
        assert conn.execute("update public.members set role = 'operator' where email = 'new@example.com'").rowcount == 1
    assert conn.execute("select role from public.members where email = 'new@example.com'").fetchone() == {
        "role": "operator"}


def test_the_service_role_may_do_everything(conn: Conn, world: dict[str, Any], db_tax: Taxonomy) -> None:
    with as_role(conn, "service_role"):
        assert len(conn.execute("select * from public.v_scenarios").fetchall()) == 3
        conn.execute(ADD, {"rows": Jsonb(scenario_rows(db_tax, 1))})
        assert conn.execute(CLAIM).fetchall()
        conn.execute(REVIEW)
        conn.execute(REVISE)
        conn.execute("update public.scenarios set created_by = 'svc'")
        conn.execute("insert into public.members (user_id, email, role) values (gen_random_uuid(), 'a@example.com', 'admin')")
        conn.execute("select public.sync_taxonomy(p_taxonomy => '{}'::jsonb)")
    assert conn.execute("select count(*) as n from public.scenarios where created_by = 'svc'").fetchone() == {"n": 4}


def test_history_stays_append_only_even_for_the_service_role(conn: Conn, world: dict[str, Any]) -> None:
    with as_role(conn, "service_role"):
        conn.execute(REVIEW)
    with pytest.raises(psycopg.errors.RestrictViolation):
        with as_role(conn, "service_role"):
            conn.execute("delete from public.reviews")


@pytest.mark.parametrize(("db_role", "claims", "expected"), [
    ("authenticated", {"role": "authenticated"}, "reviewer"),
    # a client writes its own claims: a role claim changes nothing (the bug: this was the service)
    ("authenticated", {"role": "service_role"}, "reviewer"),
    ("service_role", {"role": "service_role"}, "service"),
    # no SET ROLE: the owner's own connection, whatever the claims say
    (None, {"role": "authenticated"}, "service"),
])
def test_the_role_comes_from_the_database_role_and_membership_never_a_claim(
        conn: Conn, db_role: str | None, claims: dict[str, str], expected: str) -> None:
    reviewer = add_member(conn, "reviewer")
    with conn.transaction():
        conn.execute("select set_config('request.jwt.claims', %(c)s, true)",
                     {"c": json.dumps({**claims, "sub": str(reviewer)})})
        if db_role:
            conn.execute(f"set local role {db_role}")
        role = conn.execute("select public.app_role() as r").fetchone()
    assert role == {"r": expected}


def test_functions_are_not_executable_by_public(conn: Conn) -> None:
    check: Callable[[str], bool] = lambda fn: conn.execute(  # noqa: E731
        "select has_function_privilege('anon', %(fn)s, 'execute') as ok", {"fn": fn}).fetchone()["ok"]
    names = [r["sig"] for r in conn.execute(
        "select p.oid::regprocedure::text as sig from pg_proc p "
        "where p.pronamespace in ('public'::regnamespace, 'app_private'::regnamespace)")]
    assert names
    assert [n for n in names if check(n)] == []
