"""Roles on a real PostgreSQL with the Supabase shim: each role (anon, viewer, reviewer, operator,
admin) tries every write it must not do and is refused, by the functions' role checks or by RLS.
And admins manage members through add_member / set_member_role / remove_member."""
from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from lib.store.postgres import PostgresStore
from lib.core.taxonomy import Taxonomy
from tests.conftest import add_member, as_role, make_conversation, scenario_rows

Conn = psycopg.Connection[dict[str, Any]]
RANK = {"anon": 0, "viewer": 1, "reviewer": 2, "operator": 3, "admin": 4}
ROLES = list(RANK)
SOMEONE = "00000000-0000-4000-8000-00000000abcd"

# (what, the least role allowed, statement); statements that must raise permission denied
WRITES: list[tuple[str, str, str]] = [
    ("record a review", "reviewer", "select public.record_review(p_conversation_id => 'conv-a', "
                                    "p_decision => 'approved', p_reviewer => 'R')"),
    ("revise a label", "reviewer", "select public.revise_label(p_conversation_id => 'conv-a', p_turn => 0, "
                                   "p_field => 'emotion.intensity', p_new_value => '0.3'::jsonb, p_author => 'R')"),
    ("mark a seed example", "reviewer", "select public.set_seed_example(p_conversation_id => 'conv-a', "
                                        "p_value => true, p_by => 'R')"),
    ("add scenarios", "operator", "select public.add_scenarios(p_rows => %(rows)s)"),
    ("create a job", "operator", "select public.create_job(p_scenario_ids => array[%(sid)s]::bigint[])"),
    ("claim items", "operator", "select * from public.claim_job_items(p_worker => 'w')"),
    ("heartbeat", "operator", "select public.heartbeat_job_items(p_worker => 'w', p_item_ids => '{1}'::bigint[])"),
    ("fail an item", "operator", "select public.fail_job_item(p_item_id => 1, p_error => 'x')"),
    ("requeue", "operator", "select public.requeue_expired_items()"),
    ("stop a job", "operator", "select public.stop_job(p_job_id => %(job)s)"),
    ("resume a job", "operator", "select public.resume_job(p_job_id => %(job)s)"),
    ("fail a job", "operator", "select public.fail_job(p_job_id => %(job)s, p_error => 'x')"),
    ("release items", "operator", "select public.release_job_items(p_worker => 'w', p_item_ids => '{1}'::bigint[])"),
    ("lease batch jobs", "operator", "select * from public.claim_batch_jobs(p_worker => 'w')"),
    ("record a batch", "operator", "select public.record_job_batch(p_job_id => %(job)s, p_worker => 'w')"),
    ("claim batch items", "operator", "select * from public.claim_batch_items(p_worker => 'w', p_job_id => %(job)s, "
                                      "p_batch_id => 'b')"),
    ("release a batch job", "operator", "select public.release_batch_job(p_job_id => %(job)s, p_worker => 'w')"),
    ("set a scenario status", "operator", "select public.set_generation_status(p_scenario_id => %(sid)s, "
                                          "p_status => 'failed')"),
    ("save a conversation", "operator", "select public.save_generated(p_conversation => %(doc)s, "
                                        "p_scenario_id => %(sid)s)"),
    ("record a prompt template", "operator", "select public.upsert_prompt_template(p_name => 't', p_version => '1', "
                                             "p_sha256 => repeat('a', 64), p_body => 'b')"),
    ("insert a scenario", "operator", "insert into public.scenarios (tier, persona, emotional_arc, topic, intent, "
                                      "tone, outcome_type) select tier, persona, emotional_arc, topic, intent, tone, "
                                      "outcome_type from public.scenarios limit 1"),
    ("write a log row", "operator", "insert into public.generation_logs (outcome) values ('ok')"),
    ("sync the taxonomy", "admin", "select public.sync_taxonomy(p_taxonomy => '{}'::jsonb)"),
    ("import a seed", "admin", "select public.import_seed(p_conversation => %(doc)s)"),
    ("add a member", "admin", f"select public.add_member(p_email => 'x@example.com', p_role => 'admin', "
                              f"p_user_id => '{SOMEONE}')"),
    ("change a role", "admin", "select public.set_member_role(p_user_id => %(admin)s, p_role => 'viewer')"),
    ("remove a member", "admin", "select public.remove_member(p_user_id => %(admin)s)"),
    ("insert a member", "admin", f"insert into public.members (user_id, email, role) values ('{SOMEONE}', "
                                 "'y@example.com', 'admin')"),
    ("insert a conversation turn", "admin", "insert into public.conversation_turns (conversation_id, idx, role, text) "
                                            "values ('conv-a', 99, 'user', 'x')"),
    # nobody writes history or a scenario's status directly, whatever their role
    ("approve every scenario", "nobody", "update public.scenarios set status = 'approved'"),
    ("insert an approved scenario", "nobody", "insert into public.scenarios (tier, persona, emotional_arc, topic, "
                                              "intent, tone, outcome_type, status) select tier, persona, emotional_arc, "
                                              "topic, intent, tone, outcome_type, 'approved' from public.scenarios limit 1"),
    ("insert a review", "nobody", "insert into public.reviews (conversation_id, decision, reviewer) "
                                  "values ('conv-a', 'approved', 'me')"),
    ("insert a label revision", "nobody", "insert into public.label_revisions (conversation_id, turn_idx, field, "
                                          "source, author) values ('conv-a', 0, 'emotion.intensity', "
                                          "'human_review', 'me')"),
]

# updates and deletes RLS filters to no rows (no error): (what, least role, statement, table, column)
SILENT: list[tuple[str, str, str]] = [
    ("delete job items", "admin", "delete from public.generation_job_items"),
    ("promote every member", "admin", "update public.members set role = 'admin'"),
    ("rename an emotion", "admin", "update public.emotions set name = 'x'"),
    ("edit a conversation", "admin", "update public.conversations set review_status = 'approved'"),
    ("delete a conversation", "admin", "delete from public.conversations"),
]


@pytest.fixture
def world(store: PostgresStore, db_tax: Taxonomy, conn: Conn) -> dict[str, Any]:
    ids = store.add_scenarios(scenario_rows(db_tax, 3))
    scn = store.get_scenario(ids[0])
    assert scn is not None
    store.save_generated(make_conversation(scn, "conv-a"), scenario_id=ids[0])
    job = store.create_job([ids[1]])
    other = store.get_scenario(ids[2])
    members = {role: add_member(conn, role) for role in ("viewer", "reviewer", "operator", "admin")}
    params = {"rows": Jsonb(scenario_rows(db_tax, 1)), "sid": ids[2], "job": job, "admin": members["admin"],
              "doc": Jsonb(make_conversation(other, "conv-new").model_dump(mode="json"))}
    return {"ids": ids, "job": job, "members": members, "params": params}


def _as(conn: Conn, role: str, world: dict[str, Any]) -> Any:
    if role == "anon":
        return as_role(conn, "anon")
    return as_role(conn, "authenticated", world["members"][role])


def _cases(rows: list[tuple[str, str, str]]) -> list[Any]:
    return [pytest.param(role, what, stmt, id=f"{role}-{what}")
            for what, least, stmt in rows for role in ROLES if RANK[role] < RANK.get(least, 99)]


@pytest.mark.parametrize(("role", "what", "statement"), _cases(WRITES))
def test_a_role_is_refused_every_write_above_it(conn: Conn, world: dict[str, Any], role: str, what: str,
                                                 statement: str) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        with _as(conn, role, world):
            conn.execute(statement, world["params"])


@pytest.mark.parametrize(("role", "what", "statement"), _cases(SILENT))
def test_updates_and_deletes_above_a_role_touch_no_row(conn: Conn, world: dict[str, Any], role: str, what: str,
                                                       statement: str) -> None:
    try:
        with _as(conn, role, world):
            assert conn.execute(statement).rowcount == 0
    except psycopg.errors.InsufficientPrivilege:
        assert role == "anon"  # anon has no table rights at all


def test_the_refusal_says_which_role_is_needed(conn: Conn, world: dict[str, Any]) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="you need the admin role \\(you are operator\\)"):
        with _as(conn, "operator", world):
            conn.execute("select public.remove_member(p_user_id => %(admin)s)", world["params"])


@pytest.mark.parametrize("role", ["viewer", "reviewer", "operator", "admin"])
def test_every_member_reads_and_knows_their_role(conn: Conn, world: dict[str, Any], role: str) -> None:
    with _as(conn, role, world):
        assert len(conn.execute("select * from public.v_scenarios").fetchall()) == 3
        me = conn.execute("select * from public.whoami()").fetchone()
        info = conn.execute("select public.store_info() as i").fetchone()["i"]
    assert me["role"] == role and me["user_id"] == world["members"][role]
    assert info["counts"]["scenarios"] == 3 and info["migrations"]


def test_a_non_member_is_told_they_have_no_role(conn: Conn) -> None:
    with as_role(conn, "authenticated", uuid.uuid4()):
        me = conn.execute("select * from public.whoami()").fetchone()
    assert me["role"] is None
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="not a member"):
        with as_role(conn, "authenticated", uuid.uuid4()):
            conn.execute("select public.store_info()")


def test_an_admin_manages_members_through_the_functions(conn: Conn, world: dict[str, Any]) -> None:
    new = uuid.uuid4()
    with _as(conn, "admin", world):
        row = conn.execute("select * from public.add_member(p_email => 'new@example.com', p_role => 'reviewer', "
                           "p_user_id => %(id)s, p_display_name => 'New')", {"id": new}).fetchone()
        assert (row["role"], row["display_name"]) == ("reviewer", "New")
        row = conn.execute("select * from public.set_member_role(p_user_id => %(id)s, p_role => 'operator')",
                           {"id": new}).fetchone()
        assert row["role"] == "operator"
        assert conn.execute("select public.remove_member(p_user_id => %(id)s) as ok", {"id": new}).fetchone()["ok"]
    assert conn.execute("select count(*) as n from public.members where user_id = %(id)s",
                        {"id": new}).fetchone()["n"] == 0


def test_the_last_admin_can_be_neither_demoted_nor_removed(conn: Conn, world: dict[str, Any]) -> None:
    admin = world["members"]["admin"]
    for statement in ("select public.set_member_role(p_user_id => %(id)s, p_role => 'viewer')",
                      "select public.remove_member(p_user_id => %(id)s)"):
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="last admin"):
            with _as(conn, "admin", world):
                conn.execute(statement, {"id": admin})


def test_adding_a_member_who_has_not_signed_up_says_to_invite_them(conn: Conn, world: dict[str, Any]) -> None:
    with pytest.raises(psycopg.errors.NoDataFound, match="has signed up"):
        with _as(conn, "admin", world):
            conn.execute("select public.add_member(p_email => 'nobody@example.com')")


def test_an_unknown_role_is_refused(conn: Conn, world: dict[str, Any]) -> None:
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="unknown role"):
        with _as(conn, "admin", world):
            conn.execute(f"select public.add_member(p_email => 'z@example.com', p_role => 'owner', "
                         f"p_user_id => '{SOMEONE}')")
