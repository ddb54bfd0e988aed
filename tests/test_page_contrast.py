"""Review's "Contrastive turns" under AppTest, on the seeded database: the pairs side by side with their kind and
why, accept and reject, the ask for failed turns (kinds defaulting to those that suit the turn), and nothing of
it under a conversation that is not approved; without a key, the failed turns written as a demo replay."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest

from lib.core.taxonomy import Taxonomy
from lib.core.vocabulary import DEMO_MODEL
from lib.generation.job_progress import is_demo_job, job_title
from lib.store.postgres import PostgresStore
from lib.ui.display import DEMO_BADGE, escape_markdown
from tests.conftest import make_conversation
from tests.fake_anthropic import FakeAnthropic
from tests.test_page_generate import keyed, wait_for  # noqa: F401 (keyed: a fixture)
from tests.test_page_review import ROOT, click, open_page, store, texts  # noqa: F401 (store: a fixture)
from tests.test_worker import make_worker, run_until_idle

SEED = "seed-01"
FAILED = "Honestly, it's not a big deal. Lots of people are in a far worse spot."


def seed_page() -> AppTest:
    at = open_page()
    return click(at, "Review the seeds")


def save_pair(store: PostgresStore, turn: int = 3) -> int:
    store.save_contrast_result(
        {"conversation_id": SEED, "logs": [],
         "responses": [{"turn_idx": turn, "failure_kind": "minimising", "text": FAILED, "why": "It shrinks the worry."}]}
    )
    return int(store.contrastive_responses(SEED)[-1]["id"])


def test_a_pair_shows_side_by_side_and_a_reviewer_accepts_then_rejects_it(store: PostgresStore) -> None:
    pair = save_pair(store)
    at = seed_page()
    shown = texts(at)
    approved_turn = store.get_conversation(SEED).current_turns()[3].text  # type: ignore[union-attr]
    assert "Contrastive turns" in shown and "1 contrastive response: 1 proposed" in shown
    assert "**Approved turn**" in shown and "**Failed response**" in shown
    assert escape_markdown(approved_turn[:40]) in shown and escape_markdown(FAILED[:40]) in shown and "Why it fails: It shrinks the worry" in shown
    assert ":orange-badge[Minimising]" in shown
    at.button(key=f"ct_accepted_{pair}").click().run()
    assert not at.exception
    row = store.contrastive_responses(SEED)[0]
    assert (row["status"], row["reviewed_by"]) == ("accepted", "Ana Reviewer")
    assert "goes into the preference export" in "\n".join(s.value for s in at.success)
    assert at.button(key=f"ct_accepted_{pair}").disabled
    at.button(key=f"ct_rejected_{pair}").click().run()
    assert store.contrastive_responses(SEED)[0]["status"] == "rejected"


def test_without_a_name_nobody_decides(store: PostgresStore) -> None:
    pair = save_pair(store)
    at = open_page(name=None)
    click(at, "Review the seeds")
    assert at.button(key=f"ct_accepted_{pair}").disabled and at.button(key=f"ct_rejected_{pair}").disabled


def test_without_a_key_the_failed_turns_are_a_demo_replay_that_a_reviewer_accepts(store: PostgresStore) -> None:
    at = seed_page()
    assert any("No Anthropic API key is configured: the failed turns are written as a demo replay" in c.value
               for c in at.caption)
    at.selectbox(key=f"ct_turn_{SEED}").select(3).run()
    at.multiselect(key=f"ct_kinds_{SEED}_3").set_value(["minimising", "lecturing"]).run()
    go = at.button(key=f"ct_go_{SEED}")
    assert not go.disabled
    go.click().run()
    assert not at.exception, at.exception
    said = "\n".join(s.value for s in at.success)
    assert "is writing the failed turns" in said and "so this is a demo replay" in said
    [job] = [j for j in store.list_jobs(10) if j["task"] == "contrast"]
    assert job["model"] == DEMO_MODEL and is_demo_job(job) and job_title(job) == "Demo replay: contrast 1 conversation"
    done = wait_for(lambda: (j := store.get_job(job["id"])) and j["outcome"] == "completed" and j, timeout=90)
    assert done["succeeded_items"] == 1 and float(done["cost_usd"]) == 0
    rows = store.contrastive_responses(SEED)
    assert sorted(r["failure_kind"] for r in rows) == ["lecturing", "minimising"]
    assert {r["model"] for r in rows} == {DEMO_MODEL} and {r["turn_idx"] for r in rows} == {3}
    at.run()
    shown = texts(at)
    assert "2 contrastive responses: 2 proposed" in shown
    assert shown.count(DEMO_BADGE) >= 2  # each pair says a demo replay wrote it
    minimising = next(r for r in rows if r["failure_kind"] == "minimising")
    at.button(key=f"ct_accepted_{minimising['id']}").click().run()
    assert not at.exception, at.exception
    decided = {r["id"]: r for r in store.contrastive_responses(SEED)}[minimising["id"]]
    assert (decided["status"], decided["reviewed_by"]) == ("accepted", "Ana Reviewer")
    assert "goes into the preference export when it includes demo replays" in "\n".join(s.value for s in at.success)


def test_a_conversation_that_is_not_approved_has_no_contrastive_section(store: PostgresStore) -> None:
    store.record_review(SEED, "needs_edit", reviewer="Ana")
    at = open_page()
    at.session_state["br_review_current"] = SEED
    click(at, "Review the seeds")
    assert "Contrastive turns" not in texts(at)


def test_a_version_a_regeneration_replaced_has_no_contrastive_section(store: PostgresStore) -> None:
    """Its pairs would never be exported: the export reads the pairs of current versions."""
    scenario = next(s for s in store.list_scenarios() if s.get("conversation_id") == SEED)
    store.save_generated(make_conversation(scenario, "seed-01-v2"), scenario_id=scenario["id"])
    store.record_review("seed-01-v2", "approved", reviewer="Ana")
    at = open_page()
    at.query_params["conversation"] = SEED
    at.run()
    assert not at.exception, at.exception
    assert "Version 1" in texts(at) and "Contrastive turns" not in texts(at)


def test_asking_for_one_turn_queues_a_job_with_the_suited_kinds_and_the_pairs_follow(
    keyed: FakeAnthropic, store: PostgresStore, db_tax: Taxonomy
) -> None:
    at = seed_page()
    at.selectbox(key=f"ct_turn_{SEED}").select(3).run()
    kinds = at.multiselect(key=f"ct_kinds_{SEED}_3")
    assert kinds.value == [f.id for f in db_tax.failures.suited_to("anxiety")]  # turn 2 is anxious
    kinds.set_value(["minimising", "lecturing"]).run()
    at.button(key=f"ct_go_{SEED}").click().run()
    assert not at.exception
    [job] = [j for j in store.list_jobs(10) if j["task"] == "contrast"]
    assert job["settings"]["turns"] == [3] and job["settings"]["kinds"] == ["minimising", "lecturing"]
    assert "is writing the failed turns" in "\n".join(s.value for s in at.success)
    assert any("is writing failed turns" in i.value for i in at.info)  # the section follows the job
    run_until_idle(make_worker(store, keyed, db_tax))
    at.run()
    assert "2 contrastive responses: 2 proposed" in texts(at)
    assert not any("is writing failed turns" in i.value for i in at.info)


def test_the_generate_page_lists_the_contrastive_job(store: PostgresStore, db_tax: Taxonomy) -> None:
    job_id = store.create_contrast_job([SEED], settings={"turns": [3], "kinds": None, "n": 1})
    at = AppTest.from_file(str(ROOT / "pages" / "generate.py"), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    shown = "\n".join(m.value for m in at.markdown)
    assert f"Job #{job_id}" in shown and "Contrast 1 conversation" in shown


def test_the_ask_shows_its_estimate_before_the_click_and_the_job_keeps_it(
    keyed: FakeAnthropic, store: PostgresStore
) -> None:
    at = seed_page()
    at.selectbox(key=f"ct_turn_{SEED}").select(3).run()
    at.multiselect(key=f"ct_kinds_{SEED}_3").set_value(["minimising", "lecturing"]).run()
    at.number_input(key=f"ct_n_{SEED}").set_value(2).run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Failed responses"] == "4" and metrics["Estimated cost"].startswith(("about $", "under $"))
    assert "Estimated time" in metrics
    assert any(c.value.startswith("Estimate: requests counted by the API") for c in at.caption)
    assert any(r.path == "/v1/messages/count_tokens" for r in keyed.requests)
    at.button(key=f"ct_go_{SEED}").click().run()
    assert not at.exception
    [job] = [j for j in store.list_jobs(10) if j["task"] == "contrast"]
    assert job["settings"]["estimate"]["cost_usd"] > 0 and job["settings"]["estimate"]["seconds"] > 0


def test_a_contrast_estimate_grows_with_the_responses_asked_for(store: PostgresStore, db_tax: Taxonomy) -> None:
    from lib.generation.estimate import estimate_contrast
    from lib.generation.llm import LLMSettings

    conv = store.get_conversation(SEED)
    assert conv is not None
    one = estimate_contrast(store, [(conv, {3: ("minimising",)}, 1)], mode="realtime", llm_settings=LLMSettings(), tax=db_tax)
    four = estimate_contrast(
        store, [(conv, {3: ("minimising", "lecturing")}, 2)], mode="batch", llm_settings=LLMSettings(), tax=db_tax
    )
    assert 0 < one.cost_usd and one.seconds and four.seconds is None  # batch: within 24 h
    assert "350 output tokens per failed response" in one.basis
    full_price_four = estimate_contrast(
        store, [(conv, {3: ("minimising", "lecturing")}, 2)], mode="realtime", llm_settings=LLMSettings(), tax=db_tax
    )
    assert full_price_four.cost_usd > one.cost_usd and four.cost_usd < full_price_four.cost_usd
