"""generate_one end to end: the fake Anthropic server and a real (embedded) PostgreSQL."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from lib.generation.engine import generate_one
from lib.generation.llm import LLMSettings
from lib.store.postgres import PostgresStore
from lib.core.taxonomy import Taxonomy
from lib.core.validation import check_conversation
from tests.fake_anthropic import Behaviour, FakeAnthropic

ROOT = Path(__file__).resolve().parent.parent


def settings_for(fake: FakeAnthropic, **kw: Any) -> LLMSettings:
    values: dict[str, Any] = dict(api_key=fake.api_key, base_url=fake.url, backoff_base_s=0.01, backoff_max_s=0.05,
                                  retry_after_cap_s=0.2, timeout_s=5.0, max_retries=2)
    values.update(kw)
    return LLMSettings(**values)


def add_tiers(store: PostgresStore, tax: Taxonomy) -> dict[str, int]:
    ctx, edge = tax.scenario_contexts[0], tax.edge_cases[0]
    rows = [
        {"tier": "template", "persona": "anxious_first_time_investor", "emotional_arc": "struggle_to_success",
         "topic": "first_portfolio", "intent": "understand_options", "tone": "professional",
         "outcome_type": "action_plan", "context_id": None, "context": None},
        {"tier": "scenario", "persona": ctx.personas[0], "emotional_arc": ctx.arcs[0], "topic": ctx.topics[0],
         "intent": "make_decision", "tone": "professional", "outcome_type": "action_plan", "context_id": ctx.id,
         "context": ctx.context},
        {"tier": "edge_case", "persona": edge.personas[0], "emotional_arc": edge.arcs[0], "topic": edge.topics[0],
         "intent": "decision_support", "tone": "urgent", "outcome_type": "referral", "context_id": edge.id,
         "context": edge.context},
    ]
    ids = store.add_scenarios(rows, origin="manual")
    return dict(zip(("template", "scenario", "edge_case"), ids))


def log_rows(conn: psycopg.Connection[Any], scenario_id: int | None = None) -> list[dict[str, Any]]:
    if scenario_id is None:
        return conn.execute("select * from public.generation_logs order by id").fetchall()
    return conn.execute("select * from public.generation_logs where scenario_id = %(id)s order by id",
                        {"id": scenario_id}).fetchall()


def test_generate_one_stores_a_valid_conversation_for_each_tier(seeded: PostgresStore, conn: psycopg.Connection,
                                                                fake: FakeAnthropic, db_tax: Taxonomy) -> None:
    ids = add_tiers(seeded, db_tax)
    s = settings_for(fake)
    for tier, sid in ids.items():
        result = generate_one(seeded, sid, settings=s, tax=db_tax)
        assert result.ok, result.reason
        scenario = seeded.get_scenario(sid)
        assert scenario["status"] == "generated" and scenario["conversation_id"] == result.conversation_id
        assert scenario["quality_score"] == 10
        stored = seeded.get_conversation(result.conversation_id)
        assert stored is not None and stored.scenario.tier == tier
        assert check_conversation(stored, db_tax).passed
        assert [r["idx"] for r in seeded.conversation_turn_rows(stored.id)] == list(range(len(stored.turns)))
        row = conn.execute("select c.*, t.name as template_name from public.conversations c "
                           "left join public.prompt_templates t on t.id = c.prompt_template_id "
                           "where c.id = %(id)s", {"id": stored.id}).fetchone()
        assert row["template_name"] == stored.provenance.template_name and row["model"] == "claude-sonnet-5-5"
        assert row["output_tokens"] == result.usage.output_tokens
        assert float(row["cost_usd"]) == pytest.approx(result.cost_usd, abs=1e-6)
        [log] = log_rows(conn, sid)
        assert log["outcome"] == "ok" and log["purpose"] == "generate" and log["raw_response"]
        assert log["template_sha256"] == stored.provenance.template_sha256
        assert log["stop_reason"] == "end_turn" and log["input_tokens"] > 0 and log["duration_ms"] >= 0
        assert log["parameters"]["tier"] == tier
    # the examples came from the database's seeds
    assert fake.message_requests()[0].body["system"][0]["text"].count("<seed_example>") == 1


def test_no_log_row_holds_the_api_key(seeded: PostgresStore, conn: psycopg.Connection, fake: FakeAnthropic,
                                      db_tax: Taxonomy) -> None:
    ids = add_tiers(seeded, db_tax)
    s = settings_for(fake)
    fake.script("malformed", "valid",                                 # repaired
                Behaviour("rate_limit", retry_after="0"), "valid",   # retried
                "refusal",                                            # failed
                "unauthorized")                                       # stopped
    for sid in [ids["template"], ids["scenario"], ids["edge_case"], ids["template"]]:
        generate_one(seeded, sid, settings=s, tax=db_tax)
    rows = log_rows(conn)
    assert len(rows) == 5
    assert {r["outcome"] for r in rows} == {"invalid", "repaired", "ok", "refused", "error"}
    for r in rows:
        text = json.dumps(r, default=str)
        assert fake.api_key not in text
        assert "sk-ant" not in text
    # nor anywhere else in the database
    for table in ("conversations", "conversation_metadata", "prompt_templates", "scenarios"):
        dump = json.dumps(conn.execute(f"select * from public.{table}").fetchall(), default=str)  # noqa: S608
        assert fake.api_key not in dump


def test_regenerate_with_feedback_stores_a_linked_new_version(seeded: PostgresStore, conn: psycopg.Connection,
                                                              fake: FakeAnthropic, db_tax: Taxonomy) -> None:
    sid = add_tiers(seeded, db_tax)["template"]
    s = settings_for(fake)
    first = generate_one(seeded, sid, settings=s, tax=db_tax)
    seeded.record_review(first.conversation_id, "needs_edit", reviewer="dana", notes="too fast")
    second = generate_one(seeded, sid, settings=s, tax=db_tax,
                          feedback='Slow down in turn 2; the "$18,000" figure is wrong. {fix}')
    assert second.ok
    prompt = fake.message_requests()[-1].body["messages"][0]["content"]
    assert '<reviewer_notes>Slow down in turn 2; the "$18,000" figure is wrong. {fix}</reviewer_notes>' in prompt
    assert "[0] user: " in prompt  # the previous version, turn by turn
    rows = conn.execute("select id, version, is_current, previous_version_id from public.conversations "
                        "where scenario_id = %(id)s order by version", {"id": sid}).fetchall()
    assert [(r["version"], r["is_current"]) for r in rows] == [(1, False), (2, True)]
    assert rows[1]["previous_version_id"] == first.conversation_id == rows[0]["id"]
    assert seeded.get_scenario(sid)["status"] == "generated"
    feedback_log = log_rows(conn, sid)[-1]["parameters"]["feedback"]
    assert feedback_log["previous_conversation_id"] == first.conversation_id
    assert conn.execute("select count(*) as n from public.prompt_templates where name = 'feedback'").fetchone()["n"] == 1


def test_a_failure_sets_the_status_and_logs_every_attempt(seeded: PostgresStore, conn: psycopg.Connection,
                                                          fake: FakeAnthropic, db_tax: Taxonomy) -> None:
    sid = add_tiers(seeded, db_tax)["template"]
    fake.default = "unknown_label"
    result = generate_one(seeded, sid, settings=settings_for(fake), tax=db_tax)
    assert not result.ok and seeded.get_scenario(sid)["status"] == "failed"
    rows = log_rows(conn, sid)
    assert [r["attempt"] for r in rows] == [1, 2, 3] and [r["purpose"] for r in rows] == ["generate", "repair", "repair"]
    assert all(r["outcome"] == "invalid" and "known_labels" in r["error"] for r in rows)
    assert seeded.counts()["conversations"] == 10  # only the seeds
    # a failed regeneration leaves the existing conversation's status
    fake.default = "valid"
    assert generate_one(seeded, sid, settings=settings_for(fake), tax=db_tax).ok
    fake.default = "refusal"
    generate_one(seeded, sid, settings=settings_for(fake), tax=db_tax)
    assert seeded.get_scenario(sid)["status"] == "generated"
    assert log_rows(conn, sid)[-1]["outcome"] == "refused"


def test_an_invalid_key_leaves_the_status_and_stops(seeded: PostgresStore, fake: FakeAnthropic, db_tax: Taxonomy) -> None:
    sid = add_tiers(seeded, db_tax)["template"]
    fake.script("forbidden")
    result = generate_one(seeded, sid, settings=settings_for(fake), tax=db_tax)
    assert result.fatal and "the API key is invalid" in (result.reason or "")
    assert seeded.get_scenario(sid)["status"] == "not_generated"


def test_with_a_job_item(seeded: PostgresStore, conn: psycopg.Connection, fake: FakeAnthropic, db_tax: Taxonomy) -> None:
    ids = add_tiers(seeded, db_tax)
    job = seeded.create_job([ids["template"], ids["scenario"]], max_attempts=2)
    items = seeded.claim_items("w1", limit=2)
    by_scenario = {i.scenario_id: i for i in items}
    s = settings_for(fake)
    ok = generate_one(seeded, ids["template"], settings=s, tax=db_tax, job_item_id=by_scenario[ids["template"]].id,
                      job_id=job, worker="w1")
    assert ok.ok
    fake.default = "overloaded"
    failed = generate_one(seeded, ids["scenario"], settings=s, tax=db_tax, job_item_id=by_scenario[ids["scenario"]].id,
                          job_id=job, worker="w1")
    assert not failed.ok and failed.retryable
    rows = {r["scenario_id"]: r for r in seeded.job_items(job)}
    assert rows[ids["template"]]["status"] == "succeeded"
    assert rows[ids["template"]]["conversation_id"] == ok.conversation_id
    assert rows[ids["scenario"]]["status"] == "pending" and "did not answer" in rows[ids["scenario"]]["error"]
    assert seeded.get_scenario(ids["template"])["status"] == "generated"
    assert seeded.get_scenario(ids["scenario"])["status"] == "queued"
    logs = log_rows(conn)
    assert {r["item_id"] for r in logs} == {by_scenario[ids["template"]].id, by_scenario[ids["scenario"]].id}
    assert {r["job_id"] for r in logs} == {job}
    assert [r["outcome"] for r in logs if r["scenario_id"] == ids["scenario"]] == ["overloaded"]


def test_set_generation_status_rules(seeded: PostgresStore, db_tax: Taxonomy) -> None:
    from lib.store.protocol import InvalidInput, NotFound

    sid = add_tiers(seeded, db_tax)["template"]
    assert seeded.set_scenario_status(sid, "generating") == "generating"
    assert seeded.set_scenario_status(sid, "failed") == "failed"
    assert seeded.set_scenario_status(sid, None) == "not_generated"
    with pytest.raises(InvalidInput, match="must be generating, failed or null"):
        seeded.set_scenario_status(sid, "approved")
    with pytest.raises(NotFound, match="#987654"):
        seeded.set_scenario_status(987654, None)
    assert {c.id for c in seeded.seed_examples()} == {f"seed-{n:02d}" for n in range(1, 11)}
