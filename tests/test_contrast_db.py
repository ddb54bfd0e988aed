"""Contrastive jobs against a real (embedded) PostgreSQL and the fake Anthropic server: a job over one approved
conversation stores failed responses of the kinds that suit, with why, tokens and cost; bad answers are
retried and never stored; saving is idempotent per item; reviewers accept or reject, viewers cannot."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from lib.core.taxonomy import Taxonomy
from lib.generation import contrast_cli
from lib.generation.contrast_jobs import ContrastAsk, start_contrast_job
from lib.generation.contrast_prompt import emotion_before
from lib.generation.jobs import RunnerError
from lib.store.postgres import PostgresStore
from lib.store.protocol import InvalidInput, NotFound
from tests.conftest import add_member, as_role, make_conversation
from tests.fake_anthropic import FakeAnthropic
from tests.fake_contrast import is_contrast_request
from tests.test_judge_cli import env  # noqa: F401 (a fixture)
from tests.test_worker import make_worker, run_until_idle

SEED = "seed-01"


def rows(db_dsn: str, query: str, **params: Any) -> list[dict[str, Any]]:
    with psycopg.connect(db_dsn, row_factory=dict_row) as c:
        return c.execute(query, params).fetchall()


def run_job(store: PostgresStore, fake: FakeAnthropic, tax: Taxonomy, ask: ContrastAsk) -> dict[str, Any]:
    job_id, queued = start_contrast_job(store, [SEED], ask, tax, created_by="op")
    assert queued == 1
    run_until_idle(make_worker(store, fake, tax))
    job = store.get_job(job_id)
    assert job is not None and job["task"] == "contrast"
    return job


def test_a_contrastive_job_stores_failed_turns_of_the_kinds_that_suit_with_why_tokens_and_cost(
    seeded: PostgresStore, fake: FakeAnthropic, db_tax: Taxonomy, db_dsn: str
) -> None:
    job = run_job(seeded, fake, db_tax, ContrastAsk(n=1))
    assert job["status"] == "completed" and job["succeeded_items"] == 1, job
    conv = seeded.get_conversation(SEED)
    assert conv is not None
    turns = conv.current_turns()
    stored = seeded.contrastive_responses(SEED)
    assert {r["turn_idx"] for r in stored} == {i for i, t in enumerate(turns) if t.role == "assistant"}
    for r in stored:
        suited = {f.id for f in db_tax.failures.suited_to(emotion_before(turns, r["turn_idx"]) or "")}
        assert r["failure_kind"] in suited
        assert r["status"] == "proposed" and r["why"].strip() and r["text"] != turns[r["turn_idx"]].text
        assert r["input_tokens"] > 0 and r["output_tokens"] > 0 and r["cost_usd"] > 0 and r["model"]
        assert r["job_item_id"] is not None and len(r["prompt_sha256"]) == 64
    logs = rows(
        db_dsn,
        "select purpose, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd "
        "from public.generation_logs where job_id = %(j)s",
        j=job["id"],
    )
    assert [log["purpose"] for log in logs] == ["contrast"]  # one request for the whole conversation
    assert sum(r["output_tokens"] for r in stored) == logs[0]["output_tokens"]
    assert float(job["cost_usd"]) == pytest.approx(sum(float(r["cost_usd"]) for r in stored), abs=1e-4)
    assert len([r for r in fake.message_requests() if is_contrast_request(r.body)]) == 1
    # the scenario is left as it was: a contrastive job writes no conversation
    [item] = seeded.job_items(job["id"])
    assert (seeded.get_scenario(item["scenario_id"]) or {}).get("status") == "approved"


def test_named_turns_and_kinds_with_n_each(seeded: PostgresStore, fake: FakeAnthropic, db_tax: Taxonomy) -> None:
    run_job(seeded, fake, db_tax, ContrastAsk(turns=(3,), kinds=("lecturing", "minimising"), n=2))
    stored = seeded.contrastive_responses(SEED)
    assert (
        sorted((r["turn_idx"], r["failure_kind"]) for r in stored) == [(3, "lecturing")] * 2 + [(3, "minimising")] * 2
    )
    assert len({r["text"] for r in stored}) == 4


@pytest.mark.parametrize("bad", ["wrong_kind", "user_turn", "labelled"])
def test_a_bad_answer_is_retried_then_failed_and_never_stored(
    seeded: PostgresStore, fake: FakeAnthropic, db_tax: Taxonomy, db_dsn: str, bad: str
) -> None:
    fake.script(bad, bad)  # the answer and its repair round
    job = run_job(seeded, fake, db_tax, ContrastAsk(turns=(3,), kinds=("minimising",)))
    [item] = seeded.job_items(job["id"])
    assert item["status"] == "failed" and "passed the checks" in item["error"]
    assert seeded.contrastive_responses(SEED) == []
    logs = rows(db_dsn, "select outcome, cost_usd from public.generation_logs where job_id = %(j)s", j=job["id"])
    assert [log["outcome"] for log in logs] == ["invalid"] * 2
    assert float(seeded.get_job(job["id"])["cost_usd"]) == pytest.approx(sum(float(r["cost_usd"]) for r in logs))


def test_a_bad_answer_then_a_good_repair_stores_only_the_good_one(
    seeded: PostgresStore, fake: FakeAnthropic, db_tax: Taxonomy
) -> None:
    fake.script("wrong_kind", "valid")
    job = run_job(seeded, fake, db_tax, ContrastAsk(turns=(3,), kinds=("minimising",)))
    [item] = seeded.job_items(job["id"])
    assert item["status"] == "succeeded"
    assert [r["failure_kind"] for r in seeded.contrastive_responses(SEED)] == ["minimising"]


def test_an_overloaded_api_retries_the_item(seeded: PostgresStore, fake: FakeAnthropic, db_tax: Taxonomy) -> None:
    fake.script(*["overloaded"] * 3)  # the client's own tries of the first attempt
    job = run_job(seeded, fake, db_tax, ContrastAsk(turns=(3,), kinds=("minimising",)))
    [item] = seeded.job_items(job["id"])
    assert item["status"] == "succeeded" and item["attempts"] == 2
    assert len(seeded.contrastive_responses(SEED)) == 1


def test_only_approved_conversations_and_assistant_turns_can_be_queued(seeded: PostgresStore, db_tax: Taxonomy) -> None:
    with pytest.raises(RunnerError, match="not an assistant turn"):
        start_contrast_job(seeded, [SEED], ContrastAsk(turns=(2,)), db_tax)
    seeded.record_review(SEED, "needs_edit", reviewer="Ana")
    with pytest.raises(RunnerError, match="only approved"):
        start_contrast_job(seeded, [SEED], ContrastAsk(), db_tax)
    assert seeded.create_contrast_job([SEED]) is None  # the database refuses it too


def test_a_replaced_version_is_not_contrasted(seeded: PostgresStore, db_tax: Taxonomy) -> None:
    """Its pairs would never be exported (the export reads current versions only)."""
    scenario = next(s for s in seeded.list_scenarios() if s.get("conversation_id") == SEED)
    seeded.save_generated(make_conversation(scenario, "seed-v2"), scenario_id=scenario["id"])
    with pytest.raises(RunnerError, match="a newer version has replaced it"):
        start_contrast_job(seeded, [SEED], ContrastAsk(), db_tax)
    assert seeded.create_contrast_job([SEED]) is None


def test_a_conversation_queued_once_is_not_queued_again(seeded: PostgresStore, db_tax: Taxonomy) -> None:
    start_contrast_job(seeded, [SEED], ContrastAsk(), db_tax)
    with pytest.raises(RunnerError, match="queued in a contrastive job already"):
        start_contrast_job(seeded, [SEED], ContrastAsk(), db_tax)


def record(text: str = "Honestly, it's not a big deal.", turn: int = 3) -> dict[str, Any]:
    return {
        "conversation_id": SEED,
        "logs": [],
        "responses": [
            {
                "turn_idx": turn,
                "failure_kind": "minimising",
                "text": text,
                "why": "It shrinks the worry.",
                "model": "claude-fake",
                "input_tokens": 10,
                "output_tokens": 5,
                "cost_usd": 0.001,
            }
        ],
    }


def test_saving_is_idempotent_per_item_and_refuses_a_person_turn_or_a_copy(seeded: PostgresStore) -> None:
    job_id = seeded.create_contrast_job([SEED])
    assert job_id is not None
    [item] = seeded.job_items(job_id)
    first = seeded.save_contrast_result(record(), item_id=item["id"])
    again = seeded.save_contrast_result(record(), item_id=item["id"])  # a retry after a lost reply
    assert (first["responses"], first["created"]) == (1, True) and (again["responses"], again["created"]) == (1, False)
    assert len(seeded.contrastive_responses(SEED)) == 1
    assert seeded.get_job(job_id)["status"] == "completed"
    conv = seeded.get_conversation(SEED)
    assert conv is not None
    with pytest.raises(InvalidInput, match="not an assistant turn"):
        seeded.save_contrast_result(record(turn=2))
    with pytest.raises(InvalidInput, match="repeats the turn"):
        seeded.save_contrast_result(record(text=conv.current_turns()[3].text))


def test_reviewers_accept_or_reject_a_contrast_and_viewers_cannot(
    seeded: PostgresStore, conn: psycopg.Connection[dict[str, Any]]
) -> None:
    seeded.save_contrast_result(record())
    [row] = seeded.contrastive_responses(SEED)
    accepted = seeded.decide_contrast(row["id"], "accepted", reviewer="Ana", note="clear")
    assert (accepted["status"], accepted["reviewed_by"], accepted["review_note"]) == ("accepted", "Ana", "clear")
    rejected = seeded.decide_contrast(row["id"], "rejected", reviewer="Ben")
    assert (rejected["status"], rejected["reviewed_by"]) == ("rejected", "Ben") and rejected["reviewed_at"]
    with pytest.raises(InvalidInput, match="expected accepted or rejected"):
        seeded.decide_contrast(row["id"], "proposed", reviewer="Ana")
    with pytest.raises(NotFound):
        seeded.decide_contrast(row["id"] + 1000, "accepted", reviewer="Ana")

    viewer, reviewer = add_member(conn, "viewer"), add_member(conn, "reviewer")
    decide = "select status, reviewed_by from public.decide_contrast(p_id => %(id)s, p_decision => 'accepted', p_reviewer => 'X')"
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="reviewer role"):
        with as_role(conn, "authenticated", viewer):
            conn.execute(decide, {"id": row["id"]})
    with as_role(conn, "authenticated", viewer):  # viewers read them
        assert [r["id"] for r in conn.execute("select id from public.contrastive_responses")] == [row["id"]]
    with as_role(conn, "authenticated", reviewer):  # signed in: recorded for the member, not the name passed
        decided = conn.execute(decide, {"id": row["id"]}).fetchone()
        assert (
            decided is not None and decided["status"] == "accepted" and decided["reviewed_by"].startswith("reviewer-")
        )
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        with as_role(conn, "anon"):
            conn.execute(decide, {"id": row["id"]})


def test_a_batch_job_sends_its_requests_as_a_message_batch_and_stores_the_same_rows(
    seeded: PostgresStore, fake: FakeAnthropic, db_tax: Taxonomy, db_dsn: str
) -> None:
    sent: dict[str, dict[str, Any]] = {}

    def behaviour(custom_id: str, params: dict[str, Any]) -> str:
        sent[custom_id] = params
        return "wrong_kind"  # repaired with a live call

    fake.batch_behaviour = behaviour
    job_id, _ = start_contrast_job(seeded, [SEED], ContrastAsk(turns=(1, 3)), db_tax, mode="batch")
    worker = make_worker(seeded, fake, db_tax)
    run_until_idle(worker)
    job = seeded.get_job(job_id)
    assert job is not None and job["status"] == "completed" and len(worker.batches_submitted) == 1
    [params] = sent.values()
    assert is_contrast_request(params)
    assert len(fake.message_requests()) == 1  # only the repair went through the normal API
    logs = rows(
        db_dsn,
        "select outcome, parameters ->> 'source' as source from public.generation_logs "
        "where job_id = %(j)s order by id",
        j=job_id,
    )
    assert [(r["outcome"], r["source"]) for r in logs] == [("invalid", "batch"), ("repaired", None)]
    assert {r["turn_idx"] for r in seeded.contrastive_responses(SEED)} == {1, 3}


@pytest.fixture
def cli_env(env: dict[str, str], db_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", db_dsn)


def test_the_cli_queues_a_job_and_with_wait_runs_it(
    cli_env: None, seeded: PostgresStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert contrast_cli.main([SEED, "--turns", "3", "--kinds", "minimising", "--n", "2", "--wait"]) == 0
    out, err = capsys.readouterr()
    assert "contrastive turns for 1 conversation (realtime)" in out and "2 failed response(s) for 1 turn(s)" in out
    assert "1 written, 0 failed" in err
    assert [r["failure_kind"] for r in seeded.contrastive_responses(SEED)] == ["minimising", "minimising"]
    # queued without --wait: a worker elsewhere runs it
    assert contrast_cli.main(["seed-02"]) == 0
    assert "a worker runs it" in capsys.readouterr().err
    assert contrast_cli.main(["seed-02"]) == 2  # already queued
    assert contrast_cli.main([SEED, "--turns", "2"]) == 2
    assert "not an assistant turn" in capsys.readouterr().err


def test_an_accepted_pair_written_by_a_job_is_what_the_preference_export_reads(
    seeded: PostgresStore, fake: FakeAnthropic, db_tax: Taxonomy
) -> None:
    run_job(seeded, fake, db_tax, ContrastAsk(turns=(3,), kinds=("minimising", "lecturing")))
    accepted, rejected = seeded.contrastive_responses(SEED)
    seeded.decide_contrast(accepted["id"], "accepted", reviewer="Ana")
    seeded.decide_contrast(rejected["id"], "rejected", reviewer="Ana")
    [pair] = seeded.export_preference_pairs([SEED])
    conv = seeded.get_conversation(SEED)
    assert conv is not None
    assert (pair["turn_idx"], pair["failure_kind"], pair["rejected"]) == (3, accepted["failure_kind"], accepted["text"])
    assert pair["chosen"] == conv.current_turns()[3].text and len(pair["before"]) == 3
