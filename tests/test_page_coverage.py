"""The Coverage page under AppTest, on a database booted like a first start (10 approved seeds, 100
scenarios): the three views, the gaps, and planning scenarios for the gaps in two clicks."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import lib.coverage as coverage
from lib.store.postgres import PostgresStore
from lib.core.taxonomy import Taxonomy

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "coverage.py")
SCOPE_KEY, PLAN_KEY = "br_coverage_scope", "br_coverage_plan"


def run(at: AppTest | None = None) -> AppTest:
    if at is None:
        at = AppTest.from_file(PAGE, default_timeout=90)
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def button(at: AppTest, starts: str):
    return next(b for b in at.button if b.label.startswith(starts))


def scenarios_in(dsn: str) -> int:
    store = PostgresStore(dsn, min_size=1, max_size=1)
    try:
        return store.counts()["scenarios"]
    finally:
        store.close()


def test_approved_view_on_a_first_start_shows_the_seeds_and_that_most_targets_are_unmet(
        app_env: str, tax: Taxonomy) -> None:
    at = run()
    assert at.radio(key=SCOPE_KEY).value == "approved"
    m = metrics(at)
    assert m["Conversations"] == "10"
    total = 11 + 11 + 18 + 27 + 3
    assert m["Targets met"] == f"0 of {total}" and m["Emotions at target"] == "0 of 11"
    # unmet targets are information, not an error
    assert any(f"{total} of {total} targets are not met yet" in i.value for i in at.info)
    assert len(at.get("plotly_chart")) == len(coverage.FIGURES) + 1  # and the contrastive pairs
    gaps = at.dataframe[0].value
    assert len(gaps) == total
    shame = gaps[gaps["name"] == "Shame"].iloc[0]
    assert (shame["target"], shame["count"], shame["short_by"]) == (50, 1, 49)  # the seeds have one shame turn
    assert {"Emotion", "Strategy", "Length", "Persona", "Topic"} == set(gaps["kind_name"])


def test_toggle_counts_all_generated_then_planned_and_says_how_planned_is_estimated(app_env: str) -> None:
    at = run()
    at.radio(key=SCOPE_KEY).set_value("generated")
    run(at)
    assert metrics(at)["Conversations"] == "10"  # the seeds are the only conversations
    assert not any("How planned counts are estimated" in i.value for i in at.info)
    at.radio(key=SCOPE_KEY).set_value("planned")
    run(at)
    m = metrics(at)
    assert m["Conversations"] == "100"
    assert any("How planned counts are estimated" in i.value and "milestone" in i.value for i in at.info)
    met, total = (int(x) for x in m["Targets met"].split(" of "))
    assert 0 < met < total  # the default plan meets most targets, not all
    gaps = at.dataframe[0].value
    # Regression: the short bucket (2-3 exchanges) sat below the quality rules' 8 turns and was never met.
    # The buckets now live inside the rules: no target is impossible, and planning can fill every gap.
    assert not any("Impossible" in h for h in gaps["how"])
    # what planning cannot fill is distress alone, and the warning names the rule that holds it back
    stuck = [w.value for w in at.warning if "Planning cannot fill" in w.value]
    assert len(stuck) == 1 and "Distress" in stuck[0] and "plausibility.sensitive" in stuck[0]


def test_plan_scenarios_for_the_gaps_previews_then_adds_them(app_env: str, tax: Taxonomy) -> None:
    at = run()  # in the approved view: planning still works on what the whole table will miss
    button(at, "Plan scenarios to fill these gaps").click()
    run(at)
    preview = at.session_state[PLAN_KEY]
    n = preview["n"]
    assert n > 0
    assert any(md.value == f"#### Preview: {n} new scenarios" for md in at.markdown)
    change, rows = at.dataframe[-2].value, at.dataframe[-1].value
    assert len(rows) == n and {"Persona", "Emotional arc", "Topic"} <= set(rows.columns)
    emotions = change[change["kind_name"] == "Emotion"]
    # distress comes only with crisis_to_referral, which the crisis cap (plausibility.sensitive) holds back
    assert emotions.loc[emotions["name"] != "Distress", "met"].all()
    assert any("every target planning can fill" in md.value for md in at.markdown)
    assert scenarios_in(app_env) == 100  # nothing added yet

    run(at)  # a rerun keeps the same preview
    assert at.session_state[PLAN_KEY] == preview and len(at.dataframe[-1].value) == n

    button(at, f"Add these {n} scenarios").click()
    run(at)
    assert scenarios_in(app_env) == 100 + n
    assert any(f"Added {n} scenarios to the scenario table" in s.value for s in at.success)
    assert PLAN_KEY not in at.session_state

    at.radio(key=SCOPE_KEY).set_value("planned")
    run(at)
    assert metrics(at)["Conversations"] == str(100 + n)
    # every emotion but distress: only crisis_to_referral starts in it, and the crisis cap holds those rows
    # to 5% of the table; its gap says so with the rule's name
    assert metrics(at)["Emotions at target"] in ("10 of 11", "11 of 11")
    store = PostgresStore(app_env, min_size=1, max_size=1)
    try:
        left = coverage.gaps(coverage.load(store, tax, "planned"), tax)
    finally:
        store.close()
    assert set(left["id"]) <= {"distress"} and all("plausibility.sensitive" in h for h in left["how"])
    assert any("every target that planning can fill is met" in s.value for s in at.success)
    assert not [b for b in at.button if b.label.startswith("Plan scenarios")]


def test_a_chosen_size_and_discarding_the_preview(app_env: str) -> None:
    at = run()
    at.number_input(key="br_coverage_plan_size").set_value(5)
    button(at, "Plan scenarios to fill these gaps").click()
    run(at)
    assert at.session_state[PLAN_KEY]["n"] == 5
    assert any("Once generated, they would meet" in md.value and "Plan more" in md.value for md in at.markdown)
    button(at, "Discard the preview").click()
    run(at)
    assert PLAN_KEY not in at.session_state
    assert not [b for b in at.button if b.label.startswith("Add these")]
    assert scenarios_in(app_env) == 100


def test_a_database_error_is_one_clear_line(app_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from lib.store import StoreError

    def broken(self, *args, **kwargs):  # noqa: ANN001
        raise StoreError("cannot count the coverage (planned): connection reset; try again")

    monkeypatch.setattr(PostgresStore, "coverage_counts", broken)
    at = AppTest.from_file(PAGE, default_timeout=90).run()
    assert not at.exception
    assert [e.value.replace("\\", "") for e in at.error] == [  # the error's own words are escaped markdown
        "**The coverage could not be counted.** cannot count the coverage (planned): connection reset; try again"]


def test_a_planning_error_is_one_clear_line(app_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args, **kwargs):  # noqa: ANN002, ANN003
        raise ValueError("tier 'scenario' needs contexts, but the taxonomy has none")

    monkeypatch.setattr(coverage, "fill_plan", broken)
    at = run()
    button(at, "Plan scenarios to fill these gaps").click()
    at.run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "**The scenarios could not be planned.** tier 'scenario' needs contexts, but the taxonomy has none"]
    assert PLAN_KEY not in at.session_state
