"""Demo replay without a key: the same worker and progress against the local replay endpoint; what it
stores passes the checks, is marked as replayed, costs nothing, and is left out of exports unless asked."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from lib.core.taxonomy import Taxonomy
from lib.core.validation import check_conversation
from lib.core.vocabulary import DEMO_MODEL, is_demo
from lib.export.pipeline import run as export_run
from lib.export.select import ExportOptions, replayed
from lib.generation import job_progress
from lib.generation import jobs as runner
from lib.generation.llm import LLMSettings, preflight
from lib.generation.ratelimit import AdaptiveLimiter
from lib.generation.replay import DEMO_KEY, ReplayServer
from lib.generation.worker import Worker
from lib.generation.worker_config import WorkerConfig
from lib.store.postgres import PostgresStore
from tests.conftest import scenario_rows


def test_a_demo_replay_job_stores_valid_conversations_marked_as_replayed(
    seeded: PostgresStore, db_tax: Taxonomy, tmp_path: Path
) -> None:
    server = ReplayServer(db_tax, latency=(0.0, 0.05)).start()
    try:
        settings = LLMSettings(api_key=DEMO_KEY, base_url=server.url, model=DEMO_MODEL)
        assert preflight(settings).ok
        planned = seeded.add_scenarios(scenario_rows(db_tax, 6))
        job_id, n = runner.start_demo_job(seeded, 4, created_by="Sales")
        job = seeded.get_job(job_id)
        assert n == 4 and job is not None and job_progress.is_demo_job(job)
        assert sorted(i["scenario_id"] for i in seeded.job_items(job_id)) == planned[:4]
        assert job_progress.job_title(job) == "Demo replay: generate 4 conversations"
        config = WorkerConfig(name="demo-test", concurrency=2, job_id=job_id, until_idle=True, poll_s=0.05)
        worker = Worker(seeded, settings, config, tax=db_tax, limiter=AdaptiveLimiter(2, slow_start=False))
        asyncio.run(asyncio.wait_for(worker.run(), 120))
    finally:
        server.stop()
    job = seeded.get_job(job_id)
    assert job is not None and (job["outcome"], job["succeeded_items"]) == ("completed", 4)
    assert float(job["cost_usd"]) == 0 and server.answered == 4  # every answer passed the checks at once
    assert worker.limiter.snapshot()["rpm"] == server.rpm  # the limiter read the endpoint's limits
    for item in seeded.job_items(job_id):
        conv = seeded.get_conversation(item["conversation_id"])
        assert conv is not None and is_demo(conv.provenance.model)
        assert check_conversation(conv, db_tax).passed

    # exports leave them out unless asked (read as the export reads them: in batches)
    everything = ExportOptions(selection="all", eval_ratio=0)
    kept = export_run(seeded, everything, db_tax, tmp_path / "without", make_zip=False)
    assert kept.counts["conversations"] == 10  # the seeds
    with_demo = export_run(seeded, everything.model_copy(update={"include_demo": True}), db_tax, tmp_path / "with", make_zip=False)
    assert with_demo.counts["conversations"] == 14


def test_replayed_tells_documents_apart_by_their_model() -> None:
    doc = {"provenance": {"source": "generated", "model": DEMO_MODEL}}
    assert replayed(doc) and replayed(json.dumps(doc))
    assert not replayed({"provenance": {"model": "claude-sonnet-4-5"}})
    # the model's name elsewhere in the text (a user typing it) does not make a conversation a replay
    assert not replayed(json.dumps({"turns": [{"text": DEMO_MODEL}], "provenance": {"model": "claude"}}))


def test_a_demo_replay_needs_a_scenario_to_replay(seeded: PostgresStore) -> None:
    with pytest.raises(runner.RunnerError, match="at least one"):
        runner.start_demo_job(seeded, 0)


def test_the_generate_page_starts_a_demo_replay_without_a_key(app_env: str, db_tax: Taxonomy) -> None:
    from tests.test_page_generate import GENERATE, button, page, run, texts, wait_for

    store = PostgresStore(app_env, min_size=1, max_size=2)
    try:
        at = run(page(GENERATE))
        assert "Generation needs an Anthropic API key" in texts(at)
        at.number_input(key="demo_n").set_value(2)
        run(at)
        button(at, "Start a demo replay").click()
        run(at)
        assert "2 scenarios queued for a demo replay" in texts(at), texts(at)
        [job] = store.list_jobs(5)
        assert job_progress.is_demo_job(job) and job["model"] == DEMO_MODEL
        done = wait_for(lambda: (j := store.get_job(job["id"])) and j["outcome"] == "completed" and j, timeout=90)
        assert done["succeeded_items"] == 2
        run(at)
        assert "Demo replay: generate 2 conversations" in texts(at)
    finally:
        store.close()
