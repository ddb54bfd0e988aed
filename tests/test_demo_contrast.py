"""Contrastive turns in the keyless demo: the demo replay answers contrastive requests with a failed turn of
each kind asked for (the writer the tests' fake answers with too), the pairs it writes carry the replay's
model, and the preference export leaves them out unless it includes demo data; Coverage counts them, as it
counts demo conversations."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from lib.core.models import Conversation
from lib.core.seeds import load_seeds
from lib.core.taxonomy import Taxonomy
from lib.core.vocabulary import DEMO_MODEL
from lib.export.pipeline import run as export_run
from lib.export.select import ExportOptions
from lib.generation.contrast import ContrastResult, acontrast_conversation
from lib.generation.contrast_jobs import ContrastAsk, start_contrast_job
from lib.generation.contrast_prompt import Asks
from lib.generation.jobs import RunnerError
from lib.generation.llm import LLMClient, LLMSettings
from lib.generation.replay import DEMO_KEY, ReplayServer
from lib.generation.replay_contrast import failed_turns
from lib.store.postgres import PostgresStore

SEED = "seed-01"


@pytest.fixture(scope="module")
def replay(db_tax: Taxonomy) -> Iterator[ReplayServer]:
    server = ReplayServer(db_tax, latency=(0.0, 0.02)).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def conv() -> Conversation:
    return next(c for c in load_seeds().conversations if c.id == SEED)


def contrast(server: ReplayServer, tax: Taxonomy, conv: Conversation, asks: Asks, n: int = 1) -> ContrastResult:
    async def go() -> ContrastResult:
        settings = LLMSettings(api_key=DEMO_KEY, base_url=server.url, model=DEMO_MODEL, max_retries=0)
        async with LLMClient(settings) as llm:
            return await acontrast_conversation(conv, asks, llm=llm, tax=tax, n=n)

    return asyncio.run(go())


def test_the_replay_writes_every_kind_of_the_taxonomy_in_its_own_words(
    replay: ReplayServer, db_tax: Taxonomy, conv: Conversation
) -> None:
    tax = db_tax
    kinds = tuple(k.id for k in tax.failures.kinds)
    result = contrast(replay, tax, conv, {1: kinds, 3: kinds[:2]}, n=2)
    assert result.ok and [a.outcome for a in result.attempts] == ["ok"], result.reason
    assert len(result.responses) == 2 * (len(kinds) + 2) and not result.note
    first = {r.kind: r.text for r in result.responses if r.turn == 1}
    assert len(set(first.values())) == len(kinds)  # no kind falls back to another's text
    topic = tax.by_id("topics")[conv.scenario.topic].name
    assert any(topic[1:] in r.text for r in result.responses)  # written about the topic, by its name
    rows = result.rows()
    assert {r["model"] for r in rows} == {DEMO_MODEL} and sum(r["cost_usd"] for r in rows) == 0


def test_a_kind_the_writer_has_no_text_for_still_gets_a_reply_of_that_kind() -> None:
    requests = "- turn 3, in reply to turn 2 (anxiety): 1 minimising, 2 tough_love"
    replies = failed_turns(requests, "first portfolio")
    assert [(r["turn"], r["kind"]) for r in replies] == [(3, "minimising"), (3, "tough_love"), (3, "tough_love")]
    assert len({r["text"] for r in replies}) == 3 and all("anxiety" in r["why"] for r in replies)


def test_a_demo_pair_is_exported_only_with_demo_data_and_counted_in_coverage(
    seeded: PostgresStore, db_tax: Taxonomy, tmp_path: Path
) -> None:
    real = "Honestly, it's not a big deal. Lots of people are in a far worse spot."
    demo = "Great news!!! This is a super exciting opportunity. Let's crush it!"
    for model, text, kind in (("claude-test", real, "minimising"), (DEMO_MODEL, demo, "off_voice")):
        response = {"turn_idx": 3, "failure_kind": kind, "text": text, "why": "It fails the person.", "model": model}
        seeded.save_contrast_result({"conversation_id": SEED, "logs": [], "responses": [response]})
    for row in seeded.contrastive_responses(SEED):
        seeded.decide_contrast(int(row["id"]), "accepted", reviewer="Dana")

    options = ExportOptions(selection="approved", eval_ratio=0, formats=["messages"])
    without = export_run(seeded, options, db_tax, tmp_path / "without", make_zip=False)
    with_demo = options.model_copy(update={"include_demo": True})
    both = export_run(seeded, with_demo, db_tax, tmp_path / "with", make_zip=False)

    def rejected(result_path: Path) -> list[str]:
        lines = (result_path / "preference" / "train.jsonl").read_text("utf-8").splitlines()
        return [json.loads(line)["rejected"][0]["content"] for line in lines]

    assert without.counts["preference_pairs"] == 1 and rejected(without.path) == [real]
    assert both.counts["preference_pairs"] == 2 and sorted(rejected(both.path)) == sorted([real, demo])
    # Coverage counts demo conversations as any other (coverage_counts has no model rule): so their pairs
    counted = {(r["emotion"], r["failure_kind"]): r["n"] for r in seeded.contrastive_pair_counts(True)}
    emotion = seeded.get_conversation(SEED).current_turns()[2].emotion.primary  # type: ignore[union-attr]
    assert counted[(emotion, "off_voice")] == 1 and counted[(emotion, "minimising")] == 1


def test_a_demo_contrastive_job_runs_in_realtime_only(seeded: PostgresStore, db_tax: Taxonomy) -> None:
    with pytest.raises(RunnerError, match="realtime only"):
        start_contrast_job(seeded, [SEED], ContrastAsk(turns=(3,)), db_tax, mode="batch", demo=True)
    job_id, queued = start_contrast_job(seeded, [SEED], ContrastAsk(turns=(3,)), db_tax, demo=True)
    job = seeded.get_job(job_id)
    assert queued == 1 and job is not None and job["model"] == DEMO_MODEL and job["settings"]["demo"] is True
