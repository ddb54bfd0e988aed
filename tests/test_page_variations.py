"""Variation sets under AppTest: Review's "Make variations" popover on an approved conversation (two
clicks: open it, make them), and a variation on Review with its source beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streamlit.testing.v1 import AppTest

import pytest

from lib.core.taxonomy import load_taxonomy
from lib.coverage.variations import variation_frame
from lib.core.checks.labels import arc_curve, intensity_follows_arc
from lib.core.variation_sets import PROVENANCE_KEY, shifted_curve, variation_of
from lib.core.vocabulary import DEMO_MODEL, is_demo
from lib.generation.job_progress import is_demo_job
from lib.generation.variation_jobs import make_variations
from lib.review.view import load_view
from lib.store.postgres import PostgresStore
from lib.ui.display import escape_markdown
from lib.ui.session import FOCUS_KEY, SELECTED_KEY
from tests.conftest import make_conversation
from tests.test_page_generate import wait_for
from tests.test_page_review import store  # noqa: F401  (the page's database)

ROOT = Path(__file__).resolve().parent.parent
REVIEW = str(ROOT / "pages" / "review.py")
SCENARIOS = str(ROOT / "pages" / "scenarios.py")
COVERAGE = str(ROOT / "pages" / "coverage.py")
GENERATE = str(ROOT / "pages" / "generate.py")
NAME = "Ana Reviewer"


def open_review(conversation_id: str) -> AppTest:
    at = AppTest.from_file(REVIEW, default_timeout=60)
    at.session_state["br_reviewer"] = NAME
    at.query_params["conversation"] = conversation_id
    at.run()
    assert not at.exception, at.exception
    return at


def replayed(store: PostgresStore) -> dict[str, Any]:
    """The latest job once its demo replay has ended (a worker thread left running would write into the
    next test's database)."""
    job_id = store.list_jobs()[0]["id"]
    return wait_for(lambda: (j := store.get_job(job_id)) and j["outcome"] == "completed" and j, timeout=120)


def test_make_variations_on_review_adds_linked_scenarios_and_starts_their_job(store: PostgresStore) -> None:
    at = open_review("seed-01")
    assert at.number_input(key="rv_var_n").value == 20
    assert at.multiselect(key="rv_var_vary").value == ["topic"]
    go = at.button(key="rv_var_go")
    assert go.label == "Make 20 variations and generate"
    go.click().run()
    assert not at.exception, at.exception
    message = at.success[0].value
    assert "20 variations (topic) of seed-01 are queued as job #" in message and "[Generate](generate)" in message
    assert "No Anthropic API key is configured, so this is a demo replay" in message
    page = store.scenario_page({"source": ["seed-01"]}, limit=100)
    assert page.total == 20 and {r["origin"] for r in page.rows} == {"variation"}
    assert all(r["topic"] != "first_portfolio" for r in page.rows)
    job = store.list_jobs()[0]
    assert job["total_items"] == 20 and job["created_by"] == NAME
    done = replayed(store)  # without a key, the variations generate as a demo replay instead of waiting
    assert done["succeeded_items"] == 20 and done["model"] == DEMO_MODEL and is_demo_job(done)
    conv = store.get_conversation(str(store.get_scenario(int(page.rows[0]["id"]))["conversation_id"]))
    assert conv is not None and is_demo(conv.provenance.model) and variation_of(conv) is not None


def test_a_request_the_rules_cannot_fill_says_so_and_adds_nothing(store: PostgresStore) -> None:
    at = open_review("seed-04")  # crisis to referral: its outcome can only be a referral
    at.multiselect(key="rv_var_vary").set_value(["outcome"]).run()
    at.button(key="rv_var_go").click().run()
    assert not at.exception, at.exception
    assert "No variations were made" in at.error[0].value and "vary something else" in at.error[0].value
    assert store.scenario_page({"origin": ["variation"]}).total == 0


def test_an_unapproved_conversation_cannot_be_varied(store: PostgresStore) -> None:
    store.record_review("seed-02", "needs_edit", reviewer=NAME, notes="tone")
    at = open_review("seed-02")
    assert at.button(key="rv_var_go").disabled


def test_a_variation_on_review_shows_its_source_and_what_changed(store: PostgresStore) -> None:
    tax = load_taxonomy()
    made = make_variations(store, ["seed-01"], ["topic"], 1, tax, start=False)
    row = store.get_scenario(made.scenario_ids[0]) or {}
    conv = make_conversation(row, "gen-var-1")
    conv.provenance.parameters[PROVENANCE_KEY] = {"source_conversation_id": "seed-01", **row["variation"]}
    store.save_generated(conv, scenario_id=row["id"])
    at = open_review("gen-var-1")
    expander = [e for e in at.expander if "Variation of seed-01" in e.label]
    assert expander
    shown = "\n".join(m.value for m in at.markdown)
    assert "- Topic\\: First portfolio → Student loans" in shown
    source = store.get_conversation("seed-01")
    assert source is not None
    first = escape_markdown(source.turns[0].text)
    assert any(first in m.value and "0 · user" in m.value for m in at.markdown)
    at.button(key="var_src_open").click().run()
    assert at.session_state["br_review_current"] == "seed-01"


def test_the_scenario_table_shows_the_link_and_filters_by_source(store: PostgresStore) -> None:
    tax = load_taxonomy()
    make_variations(store, ["seed-01"], ["topic"], 3, tax, start=False)
    make_variations(store, ["seed-06"], ["tone", "outcome"], 2, tax, start=False)
    at = AppTest.from_file(SCENARIOS, default_timeout=60)
    at.query_params["source"] = "seed-01"
    at.run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert len(table) == 3 and set(table["Variation of"]) == {"seed-01 (topic)"}
    source = next(w for w in at.multiselect if w.label == "Variations of")
    assert source.value == ["seed-01"] and set(source.options) == {"seed-01 (3)", "seed-06 (2)"}
    source.set_value(["seed-06"]).run()
    table = at.dataframe[0].value
    assert set(table["Variation of"]) == {"seed-06 (tone, outcome)"} and at.query_params["source"] == "seed-06"
    next(w for w in at.multiselect if w.label == "Variations of").set_value([]).run()
    # page 1: the hundred planned rows, none a variation: a blank cell each, not "None"
    assert set(at.dataframe[0].value["Variation of"]) == {""}


def test_make_variations_for_the_selected_approved_rows(store: PostgresStore) -> None:
    rows = store.list_scenarios({"status": ["approved"]})
    chosen = [int(r["id"]) for r in rows if r["conversation_id"] in ("seed-01", "seed-08")]
    planned = int(store.list_scenarios({"status": ["not_generated"]}, limit=1)[0]["id"])
    at = AppTest.from_file(SCENARIOS, default_timeout=60)
    at.session_state[SELECTED_KEY] = [*chosen, planned]
    at.run()
    assert not at.exception, at.exception
    assert "1 selected rows are not approved and are left out." in [c.value for c in at.caption]
    at.number_input(key="scn_var_n").set_value(4).run()
    go = at.button(key="scn_var_go")
    assert go.label == "Make 8 variations and generate"
    go.click().run()
    assert not at.exception, at.exception
    assert "8 variations (topic) of " in at.success[0].value
    counts = {r["source_conversation_id"]: r["planned"] for r in store.variation_counts()}
    assert counts == {"seed-01": 4, "seed-08": 4}
    replayed(store)


def test_without_an_approved_row_selected_nothing_can_be_varied(store: PostgresStore) -> None:
    at = AppTest.from_file(SCENARIOS, default_timeout=60)
    at.run()
    assert at.button(key="scn_var_go").disabled


def test_coverage_counts_variations_per_source_against_the_target(store: PostgresStore) -> None:
    tax = load_taxonomy()
    made = make_variations(store, ["seed-01"], ["topic"], 3, tax, start=False)
    row = store.get_scenario(made.scenario_ids[0]) or {}
    store.save_generated(make_conversation(row, "gen-var-2"), scenario_id=row["id"])
    at = AppTest.from_file(COVERAGE, default_timeout=90)
    at.session_state["br_coverage_scope"] = "planned"
    at.run()
    assert not at.exception, at.exception
    frame = next(d.value for d in at.dataframe if "short_by" in d.value.columns and "source" in d.value.columns)
    got = frame.set_index("source").loc["seed-01"]
    assert (got["planned"], got["generated"], got["approved"], got["count"]) == (3, 1, 0, 3)
    assert got["target"] == tax.variation.sets.per_source_target == 20 and got["short_by"] == 17
    assert "**0 of 1** sources have reached the target." in [m.value for m in at.markdown]


def test_the_variation_frame_counts_what_the_scope_counts() -> None:
    rows = [
        {"source_conversation_id": "a", "planned": 25, "generated": 20, "approved": 5},
        {"source_conversation_id": "b", "planned": 2, "generated": 0, "approved": 0},
    ]
    approved = variation_frame(rows, 20, "approved").set_index("source")
    assert approved.loc["a", "short_by"] == 15 and approved.loc["a", "progress"] == 0.25
    planned = variation_frame(rows, 20, "planned")
    assert list(planned["source"]) == ["b", "a"] and planned.iloc[1]["progress"] == 1.0
    assert planned.iloc[1]["short_by"] == 0
    assert variation_frame(rows, 0, "generated")["progress"].tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="unknown coverage scope 'all'"):
        variation_frame(rows, 20, "all")


def test_the_generate_page_names_a_variation_job_by_what_it_varies(store: PostgresStore) -> None:
    tax = load_taxonomy()
    one = make_variations(store, ["seed-01"], ["topic"], 3, tax)
    two = make_variations(store, ["seed-06", "seed-08"], ["tone"], 2, tax)
    at = AppTest.from_file(GENERATE, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    options = at.selectbox(key="br_job").options
    assert any(o.startswith(f"#{one.job_id} · realtime · Variations of seed-01: 3 conversations · ") for o in options)
    assert any(
        o.startswith(f"#{two.job_id} · realtime · Variations of 2 conversations (seed-06, seed-08): 4 conversations")
        for o in options
    )
    assert not any("Generate 3 conversations" in o for o in options)


def test_review_draws_the_arc_target_an_intensity_variation_was_asked_for(store: PostgresStore) -> None:
    tax = load_taxonomy()
    made = make_variations(store, ["seed-01"], ["intensity"], 1, tax, start=False)
    row = store.get_scenario(made.scenario_ids[0]) or {}
    record = {"source_conversation_id": "seed-01", **row["variation"]}
    curve = tax.by_id("arcs")[row["emotional_arc"]].intensity_curve
    asked = arc_curve(shifted_curve(curve, record), 3)  # what the prompt asked for, at the three user turns
    conv = make_conversation(row, "gen-var-band", turns=6)
    for turn, target in zip(conv.turns[::2], asked, strict=True):
        turn.emotion.intensity = target  # type: ignore[union-attr]
    conv.provenance.parameters[PROVENANCE_KEY] = record
    assert intensity_follows_arc(conv, conv.turns, tax).findings == ()  # the check measures against it too
    store.save_generated(conv, scenario_id=row["id"])
    view = load_view(store, "gen-var-band", tax)
    assert view is not None
    assert view.target_curve == asked != arc_curve(curve, 3)
    lo, hi = record["band"]
    assert lo <= view.target_curve[0] <= hi


def test_the_scenario_detail_shows_a_variations_record_and_links_its_source_on_review(store: PostgresStore) -> None:
    tax = load_taxonomy()
    made = make_variations(store, ["seed-06"], ["tone", "outcome"], 1, tax, start=False)
    row = store.get_scenario(made.scenario_ids[0]) or {}
    at = AppTest.from_file(SCENARIOS, default_timeout=60)
    at.session_state[FOCUS_KEY] = row["id"]
    at.run()
    assert not at.exception, at.exception
    shown = [m.value for m in at.markdown]
    link = f"**Variation of** [{escape_markdown('seed-06')}](review?conversation=seed-06)"
    assert any(m.startswith(link) for m in shown)
    tones, outcomes = tax.names("tones"), tax.names("outcomes")
    old, new = row["variation"]["from"], row["variation"]["to"]
    lines = "\n".join(
        "- " + escape_markdown(line)
        for line in (
            f"Tone: {tones[old['tone']]} → {tones[new['tone']]}",
            f"Outcome: {outcomes[old['outcome']]} → {outcomes[new['outcome']]}",
        )
    )
    assert lines in shown
    planned = int(store.list_scenarios({"status": ["not_generated"], "origin": ["planned"]}, limit=1)[0]["id"])
    at.session_state[FOCUS_KEY] = planned
    at.run()
    assert not any(m.value.startswith("**Variation of**") for m in at.markdown)


def test_the_popover_shows_the_estimate_before_the_click_and_the_job_keeps_it(store: PostgresStore) -> None:
    at = open_review("seed-01")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Conversations"] == "20" and metrics["Estimated cost"].startswith(("about $", "under $"))
    assert "Estimated time" in metrics
    assert any(c.value.startswith("Estimate: ") for c in at.caption)
    at.number_input(key="rv_var_n").set_value(5).run()
    assert {m.label: m.value for m in at.metric}["Conversations"] == "5"
    at.button(key="rv_var_go").click().run()
    assert not at.exception, at.exception
    job = store.list_jobs()[0]
    assert job["total_items"] == 5 and job["settings"]["estimate"]["cost_usd"] > 0
    replayed(store)


def test_a_variations_estimate_counts_its_source_in_the_prompt_and_its_turns(store: PostgresStore) -> None:
    from lib.generation.estimate import estimate_job
    from lib.generation.llm import LLMSettings
    from lib.generation.variation_jobs import plan_sets

    tax = load_taxonomy()
    rows = plan_sets(store, ["seed-01"], ["topic"], 4, tax)[0].rows
    plain = [{k: v for k, v in r.items() if k not in ("source_conversation_id", "variation")} for r in rows]
    llm = LLMSettings()
    varied = estimate_job(store, rows, mode="realtime", llm_settings=llm, tax=tax)
    planned = estimate_job(store, plain, mode="realtime", llm_settings=llm, tax=tax)
    assert varied.count == planned.count == 4
    assert varied.per_conversation_usd > planned.per_conversation_usd  # the source's turns are in its prompt
