"""The Scenarios page under AppTest: the default plan, filters, selection, the detail view, planning."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from lib.store.postgres import PostgresStore
from lib.ui.session import FILTERS_KEY, FOCUS_KEY, SELECTED_KEY

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "scenarios.py")


def run(at: AppTest | None = None) -> AppTest:
    if at is None:
        at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def showing(at: AppTest) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("Showing"))


def param(at: AppTest, key: str) -> str:
    value = at.query_params[key]
    return value if isinstance(value, str) else value[0]


def multiselect(at: AppTest, label: str):
    return next(w for w in at.multiselect if w.label == label)


def test_first_start_shows_the_default_plan_with_the_seeds(app_env: str) -> None:
    at = run()
    assert showing(at) == "Showing **1–100** of **100** scenarios"
    table = at.dataframe[0].value
    assert len(table) == 100
    assert table["Status"].map(lambda v: list(v) == ["approved"]).sum() == 10  # the seeds, attached to their scenarios
    assert table["Quality"].dropna().eq(10).sum() == 10


def test_filters_apply_at_once_show_chips_and_clear(app_env: str) -> None:
    at = run()
    multiselect(at, "Persona").set_value(["recent_retiree"])
    run(at)
    table = at.dataframe[0].value
    assert 0 < len(table) < 100 and set(table["Persona"]) == {"Recent retiree"}
    assert showing(at) == f"Showing **1–{len(table)}** of **{len(table)}** (of 100 scenarios)"
    assert at.query_params["persona"] == "recent_retiree"
    multiselect(at, "Tier").set_value(["edge_case"])
    run(at)
    narrowed = at.dataframe[0].value
    assert len(narrowed) <= len(table) and set(narrowed["Tier"]) <= {"Edge case"}
    chips = at.get("button_group")[0]
    assert len(chips.options) == 2
    next(b for b in at.button if b.label == "Clear all").click()
    run(at)
    assert showing(at) == "Showing **1–100** of **100** scenarios"
    assert at.session_state[FILTERS_KEY] == {}


def test_status_filter_and_an_empty_result_explain_themselves(app_env: str) -> None:
    at = run()
    multiselect(at, "Status").set_value(["failed"])
    run(at)
    assert any("No scenario matches these filters" in i.value for i in at.info)


def tax_tier_name(_: str, tier: str) -> str:
    from lib.core.taxonomy import load_taxonomy

    return next(t.name for t in load_taxonomy().tiers if t.id == tier)


def test_filters_come_from_a_shared_link(app_env: str) -> None:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["tier"] = "template"
    at.query_params["persona"] = "no_such_persona,recent_retiree"
    run(at)
    assert at.session_state[FILTERS_KEY] == {"tier": ["template"], "persona": ["recent_retiree"]}
    table = at.dataframe[0].value
    assert len(table) > 0 and set(table["Persona"]) == {"Recent retiree"}
    assert set(table["Tier"]) == {tax_tier_name(app_env, "template")}


def test_selection_through_session_state_opens_the_detail_with_the_conversation(app_env: str) -> None:
    store = PostgresStore(app_env, min_size=1, max_size=1)
    try:
        seed_scenario = next(r for r in store.list_scenarios() if r["conversation_source"] == "seed")
        other = next(r for r in store.list_scenarios() if r["conversation_id"] is None)
    finally:
        store.close()
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state[SELECTED_KEY] = [seed_scenario["id"], other["id"]]
    at.session_state[FOCUS_KEY] = seed_scenario["id"]
    run(at)
    assert any(m.value.startswith("**2** selected") for m in at.markdown)
    assert any(h.value.replace("\\", "").startswith(f"#{seed_scenario['id']} · ") for h in at.subheader)
    assert len(at.chat_message) >= 8  # the seed rendered turn by turn
    assert at.chat_message[0].name == "user"
    at.session_state[FOCUS_KEY] = other["id"]
    run(at)
    assert any("no conversation yet" in i.value for i in at.info)


def test_planning_previews_coverage_then_adds(app_env: str) -> None:
    at = run()
    at.number_input(key="pl_n").set_value(30)
    run(at)
    assert not any(b.label == "Add 30 scenarios" for b in at.button)  # a preview comes first
    next(b for b in at.button if b.label == "Preview coverage").click()
    run(at)
    assert any("pairs persona x emotional_arc" in str(v) for v in at.dataframe[-1].value["Coverage of"])
    assert any(b.label == "Add 30 scenarios" for b in at.button)
    next(b for b in at.button if b.label == "Add 30 scenarios").click()
    run(at)
    assert showing(at) == "Showing **1–100** of **130** scenarios"


def test_a_tier_mix_that_is_not_100_percent_is_explained(app_env: str) -> None:
    at = run()
    at.number_input(key="pl_mix_template").set_value(90)
    run(at)
    assert any("adds up to" in w.value for w in at.warning)


def test_a_link_names_page_sort_and_columns_and_says_what_it_left_out(app_env: str) -> None:
    at = AppTest.from_file(PAGE, default_timeout=60)
    for key, value in {"sort": "-id", "columns": "arc,tier,colour", "page": "x", "colour": "red"}.items():
        at.query_params[key] = value
    at.query_params["persona"] = "recent_retiree,no_such_persona"
    run(at)
    table = at.dataframe[0].value
    assert list(table["ID"]) == sorted(table["ID"], reverse=True)  # sorted in the database, newest first
    assert list(at.dataframe[0].proto.column_order) == ["Arc", "Tier"]
    notice = next(c.value for c in at.caption if "parameters the Scenarios page does not know" in c.value)
    for left_out in ("persona=no_such_persona", "columns=colour", "page=x", "colour=red"):
        assert left_out in notice.replace("\\", ""), notice
    assert param(at, "sort") == "-id" and param(at, "columns") == "arc,tier"
    assert "colour" not in at.query_params and "page" not in at.query_params  # the URL names what is shown


def test_the_table_pages_in_the_database_and_the_url_keeps_the_page(app_env: str) -> None:
    from lib.core.planner import plan
    from lib.core.taxonomy import load_taxonomy

    store = PostgresStore(app_env, min_size=1, max_size=1)
    try:
        extra = plan(load_taxonomy(), 40, seed=3).scenarios
        store.add_scenarios([s.as_dict() for s in extra], plan_batch="test")
    finally:
        store.close()
    at = run()
    assert showing(at) == "Showing **1–100** of **140** scenarios" and len(at.dataframe[0].value) == 100
    assert any(b.label == "Generate all not generated (130)" for b in at.button)  # every page's rows, not this one's
    next(b for b in at.button if b.key == "scn_next").click()
    run(at)
    assert showing(at) == "Showing **101–140** of **140** scenarios" and len(at.dataframe[0].value) == 40
    assert param(at, "page") == "2"
    multiselect(at, "Tier").set_value(["template"])
    run(at)
    assert "page" not in at.query_params  # a new filter starts at its first page
