"""The Generate page and the generation buttons of the Scenarios page, under AppTest.

Without a key everything shows and nothing generates; with a key pointing at the fake Anthropic
server, the app's worker thread (lib.ui.resources.worker) runs the jobs in this process."""
from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from lib.store.postgres import PostgresStore
from lib.core.taxonomy import Taxonomy
from lib.ui.session import FOCUS_KEY, SELECTED_KEY
from tests.fake_anthropic import FakeAnthropic, FakeLimits

PAGES = Path(__file__).resolve().parent.parent / "pages"
GENERATE = str(PAGES / "generate.py")
SCENARIOS = str(PAGES / "scenarios.py")


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, at.exception
    return at


def page(path: str) -> AppTest:
    return AppTest.from_file(path, default_timeout=60)


@pytest.fixture
def db(app_env: str) -> Iterator[PostgresStore]:
    s = PostgresStore(app_env, min_size=1, max_size=2)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def keyed(app_env: str, db_tax: Taxonomy, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAnthropic]:
    """An API key and ANTHROPIC_BASE_URL pointing at the fake: generation is on."""
    with FakeAnthropic(db_tax) as fake:
        fake.limits = FakeLimits(rpm=1_000_000, otpm=1_000_000_000)  # headers that do not slow the worker
        monkeypatch.setenv("ANTHROPIC_API_KEY", fake.api_key)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
        st.cache_resource.clear()  # the settings were read (and cached) without the key
        yield fake
        st.cache_resource.clear()  # stops the app's worker thread (get_worker's on_release)


def not_generated(db: PostgresStore, n: int) -> list[int]:
    return [r["id"] for r in db.list_scenarios({"status": ["not_generated"]})[:n]]


def wait_for(check: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def button(at: AppTest, label: str) -> Any:
    return next(b for b in at.button if b.label.startswith(label))


def texts(at: AppTest) -> str:
    return "\n".join(str(e.value) for kind in ("markdown", "caption", "info", "success", "error", "warning")
                     for e in getattr(at, kind))


# ---- offline ------------------------------------------------------------------------------------
def test_without_a_key_the_page_explains_and_shows_jobs_with_their_errors(db: PostgresStore) -> None:
    ids = not_generated(db, 3)
    job = db.create_job(ids, created_by="Dana")
    [item] = db.claim_items("w", job_id=job)
    db.fail_item(item.id, "Claude declined to write this conversation (policy).", cause="refused")
    at = run(page(GENERATE))
    assert any("needs an Anthropic API key" in i.value for i in at.info)
    assert at.selectbox(key="br_job").value == job
    [bar] = at.progress
    assert bar.text.startswith("**1 of 3** conversations") and bar.value == 33
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Failed"] == "1" and metrics["Succeeded"] == "0"
    # failures grouped by cause: one line each with its count; the example opens below it
    [group] = [e for e in at.expander if "declined" in e.label]
    assert group.label == "**1** × The model declined to write the conversation"
    assert "declined to write this conversation (policy)" in group.code[0].value
    assert f"scenario #{item.scenario_id}" in group.caption[0].value
    assert button(at, "Resume").disabled and button(at, "Retry failed").disabled  # nothing would run them
    button(at, "Stop").click()
    run(at)
    assert any("stopped: 2 not started were cancelled" in s.value for s in at.success)
    stopped = db.get_job(job)
    assert stopped is not None and stopped["status"] == "stopped"
    assert button(at, "Stop").disabled
    # rating needs the key too; the count of what is not rated yet shows anyway
    assert "**10** current conversations not rated by the quality judge yet" in texts(at)
    rate = button(at, "Rate conversations not rated yet")
    assert rate.disabled and "needs an Anthropic API key" in rate.help


def test_without_a_key_the_generation_buttons_are_disabled_with_a_hint(db: PostgresStore) -> None:
    at = page(SCENARIOS)
    at.session_state[SELECTED_KEY] = not_generated(db, 2)
    at.session_state[FOCUS_KEY] = at.session_state[SELECTED_KEY][0]
    run(at)
    for label in ("Generate selected (2)", "Generate all not generated (90)", "Retry failed (0)"):
        assert button(at, label).disabled, label
    assert at.button(key="gen_one").disabled
    assert "Generation needs an Anthropic API key" in texts(at)


def test_no_job_yet_says_where_to_start(db: PostgresStore) -> None:
    at = run(page(GENERATE))
    assert any("No generation job yet" in i.value for i in at.info)


# ---- with a key: the app's worker runs the jobs ------------------------------------------------------
def test_generate_selected_runs_in_the_app_worker_and_the_page_follows(db: PostgresStore,
                                                                       keyed: FakeAnthropic) -> None:
    ids = not_generated(db, 3)
    at = page(SCENARIOS)
    at.session_state[SELECTED_KEY] = ids
    run(at)
    button(at, "Generate selected (3)").click()
    run(at)
    assert any("3 conversations queued" in s.value for s in at.success)
    job = db.list_jobs(1)[0]
    assert job["created_by"] is None and job["kind"] == "realtime"
    wait_for(lambda: db.get_job(job["id"])["status"] == "completed")
    assert {r["status"] for r in db.list_scenarios({"ids": ids})} == {"generated"}

    # with a key the judge is on: each conversation was rated right after it was stored
    assert job["settings"]["judge"] is True
    wait_for(lambda: db.get_job(job["id"])["judge_calls"] == 3)
    gen = run(page(GENERATE))
    metrics = {m.label: m.value for m in gen.metric}
    assert metrics["Succeeded"] == "3" and metrics["Failed"] == "0" and metrics["Cost so far"].startswith("$0.")
    done = db.get_job(job["id"])
    assert metrics["Judge cost"] == f"${float(done['judge_cost_usd']):,.4f}" != "$0.0000"
    assert metrics["Generation cost"] == f"${float(done['cost_usd']) - float(done['judge_cost_usd']):,.4f}"
    assert metrics["Judge tokens"] != "—" and metrics["Generation tokens"] != "—"
    assert gen.selectbox(key="br_job").value == job["id"]
    table = gen.table[-1].value
    assert table["Progress"].iloc[0] == "3 of 3" and table["Status"].iloc[0] == "Completed"
    assert table["What"].iloc[0] == "Generate 3 conversations" and table["Judge cost"].iloc[0] == metrics["Judge cost"]


def test_generate_all_asks_first_with_the_count_cost_time_and_mode(db: PostgresStore, keyed: FakeAnthropic) -> None:
    keyed.batch_polls_to_end = 10**9  # the batch stays in progress: the test looks at the job only
    at = run(page(SCENARIOS))
    button(at, "Generate all not generated (90)").click()
    run(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Conversations"] == "90"
    assert metrics["Estimated cost"].startswith("about $") and metrics["Estimated time"].startswith("about ")
    assert any("token counting" in c.value for c in at.caption)  # no history yet: the fake counted the prompts
    assert any(r.path == "/v1/messages/count_tokens" for r in keyed.requests)
    realtime_cost = float(metrics["Estimated cost"].removeprefix("about $"))
    at.radio(key="gen_all_mode").set_value("batch")
    run(at)
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["Estimated cost"].removeprefix("about $")) == pytest.approx(realtime_cost / 2, rel=0.02)
    assert "within 24 h" in metrics["Estimated time"]
    button(at, "Start generating").click()
    run(at)
    job = db.list_jobs(1)[0]
    assert job["kind"] == "batch" and job["total_items"] == 90 and job["settings"]["estimate"]["cost_usd"] > 0
    assert any("90 conversations queued (economy batch)" in s.value for s in at.success)


def test_the_detail_generates_one_scenario(db: PostgresStore, keyed: FakeAnthropic) -> None:
    [sid] = not_generated(db, 1)
    at = page(SCENARIOS)
    at.session_state[FOCUS_KEY] = sid
    run(at)
    at.button(key="gen_one").click()
    run(at)
    job = db.list_jobs(1)[0]
    assert [i["scenario_id"] for i in db.job_items(job["id"])] == [sid]
    wait_for(lambda: db.get_scenario(sid)["status"] == "generated")
    run(at)
    assert at.button(key="gen_one").label == "Generate again"


def test_rate_conversations_not_rated_yet_asks_first_then_the_job_shows_like_any_other(
        db: PostgresStore, keyed: FakeAnthropic) -> None:
    at = run(page(GENERATE))  # no job yet: the rating button is there all the same
    assert "**10** current conversations not rated by the quality judge yet" in texts(at)
    button(at, "Rate conversations not rated yet").click()
    run(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Conversations"] == "10" and metrics["Estimated cost"].startswith("about $")
    assert metrics["Estimated time"].startswith("about ")
    assert any("judge's request counted for a seed conversation" in c.value for c in at.caption)
    realtime = float(metrics["Estimated cost"].removeprefix("about $"))
    at.radio(key="rate_mode").set_value("batch")
    run(at)
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["Estimated cost"].removeprefix("about $")) == pytest.approx(realtime / 2, rel=0.05)
    at.radio(key="rate_mode").set_value("realtime")
    run(at)
    button(at, "Start rating").click()
    run(at)
    job = db.list_jobs(1)[0]
    assert (job["task"], job["kind"], job["total_items"]) == ("judge", "realtime", 10)
    assert job["settings"]["estimate"]["cost_usd"] == pytest.approx(realtime, rel=0.01)
    assert any("10 conversations queued to be rated (realtime)" in s.value for s in at.success)
    wait_for(lambda: db.get_job(job["id"])["status"] == "completed")
    at = run(page(GENERATE))
    assert at.selectbox(key="br_job").value == job["id"]
    assert any(m.value.startswith(f"#### Job #{job['id']} · Realtime · Rate 10 conversations") for m in at.markdown)
    [bar] = at.progress
    assert bar.text.startswith("**10 of 10** conversations rated")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Generation cost"] == "—" and metrics["Judge cost"].startswith("$0.")
    assert "Every current conversation has a rating from the quality judge" in texts(at)
    assert button(at, "Rate conversations not rated yet").disabled
    assert len([r for r in keyed.message_requests()]) == 10


def test_a_demo_replay_job_says_so_in_the_job_list(db: PostgresStore) -> None:
    from lib.generation.jobs import start_demo_job

    job_id, queued = start_demo_job(db, 2)
    at = run(page(GENERATE))
    box = at.selectbox(key="br_job")
    assert queued == 2 and box.value == job_id
    assert any(option.startswith(f"#{job_id} · realtime · Demo replay: generate 2 conversations") for option in box.options)
