"""The Review page under AppTest, on a database booted like a first start (10 approved seeds, 90
scenarios): the queue and its filters, each decision, label corrections, seed examples,
regeneration with feedback, the label analytics, and safe rendering of generated text."""
from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lib.core.models import Conversation
from lib.store.postgres import PostgresStore
from lib.core.taxonomy import load_taxonomy
from tests.conftest import make_conversation
from tests.quality_data import generate_approvable

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "pages" / "review.py")
NAME = "Ana Reviewer"
EVIL = "<script>alert(1)</script> I feel lost ![x](http://e/x.png) and [click](http://evil) **now** $5 :red[x]"


@pytest.fixture
def store(app_env: str) -> Iterator[PostgresStore]:
    """The page's database (seeds imported, default plan)."""
    s = PostgresStore(app_env, min_size=1, max_size=2)
    try:
        yield s
    finally:
        s.close()


def open_page(name: str | None = NAME) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    if name:
        at.session_state["br_reviewer"] = name
    at.run()
    assert not at.exception, at.exception
    return at


def click(at: AppTest, label: str) -> AppTest:
    matches = [b for b in at.button if b.label == label]
    assert matches, f"no button {label!r}; buttons: {[b.label for b in at.button]}"
    matches[0].click().run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    return "\n".join([m.value for m in at.markdown] + [c.value for c in at.caption])


def position(at: AppTest) -> str:
    return next(m.value for m in at.markdown if " of " in m.value and m.value.startswith("**"))


def current(at: AppTest) -> str:
    return str(at.session_state["br_review_current"])


def generate(store: PostgresStore, n: int = 1, *, texts_: dict[int, str] | None = None,
             prefix: str = "gen") -> list[Conversation]:
    """Save n generated conversations for planned scenarios (as the generation engine would), with
    seed-01's turns and labels so that they pass the hard checks and can be approved."""
    return generate_approvable(store, load_taxonomy(), n, prefix, texts=texts_)


def open_labels(at: AppTest, conversation_id: str, turn: int) -> AppTest:
    """Open the turn's "Correct labels" popover (its widgets exist only while it is open)."""
    at.session_state[f"rv_pop_{conversation_id}_{turn}"] = True
    at.run()
    assert not at.exception, at.exception
    return at


def show_analytics(at: AppTest) -> AppTest:
    at.session_state["rv_tab"] = ":material/insights: Label analytics"
    at.run()
    assert not at.exception, at.exception
    return at


def details_of(at: AppTest) -> dict[str, str]:
    """The Details tab: Field -> Value over its tables."""
    return {row["Field"]: row["Value"] for df in at.dataframe if list(df.value.columns) == ["Field", "Value"]
            for _, row in df.value.iterrows()}


def recent(at: datetime) -> bool:
    return datetime.now(timezone.utc) - at < timedelta(minutes=5)


# -- the queue ------------------------------------------------------------------------------------
def test_the_default_queue_is_empty_until_something_is_generated_and_offers_the_seeds(store: PostgresStore) -> None:
    at = open_page()
    assert at.multiselect(key="rv_f_status").value == ["unreviewed"]
    assert "Nothing is waiting for review" in texts(at)
    click(at, "Review the seeds")
    assert position(at) == "**1 of 10**"
    assert current(at) == "seed-01"
    assert len(at.chat_message) == len(store.get_conversation("seed-01").turns)  # type: ignore[union-attr]
    click(at, "Next")
    assert position(at) == "**2 of 10**"
    click(at, "Previous")
    assert current(at) == "seed-01"


def test_generated_conversations_wait_in_the_default_queue_with_their_details(store: PostgresStore) -> None:
    convs = generate(store, 3)
    at = open_page()
    assert position(at) == "**1 of 3**"
    assert current(at) == convs[0].id
    page = texts(at)
    assert ":gray-badge[Generated]" in page and "Not reviewed" in page
    # the integrity report: checked on the labels in force, every check with its reason
    assert [m.label for m in at.metric][:3] == ["Quality score", "Checks passed", "Hard failures"]
    assert "Checked on the labels as generated" in page and "checks passed" in " ".join(e.label for e in at.expander)
    assert "Not rated by the judge yet" in " ".join(i.value for i in at.info)
    # details: dimensions, model, tokens, cost
    details = details_of(at)
    assert details["Model"] == "claude-test"
    assert details["Input tokens"] == "100" and details["Cost"] == "$0.0100"
    assert details["Scenario"].startswith("#") and details["Persona"]
    # the arc: one point per user turn
    assert len(at.get("plotly_chart")) >= 1


def test_filters_narrow_the_queue_and_an_empty_result_can_be_cleared(store: PostgresStore) -> None:
    convs = generate(store, 3)
    at = open_page()
    persona = convs[1].scenario.persona
    at.session_state["rv_pop_filters"] = True  # open "More filters"
    at.run()
    at.multiselect(key="rv_f_persona").set_value([persona]).run()
    assert position(at).endswith(f" of {sum(c.scenario.persona == persona for c in convs)}**")
    assert current(at) == next(c.id for c in convs if c.scenario.persona == persona)
    at.slider(key="rv_f_quality").set_value((9, 10)).run()  # the test conversations score 8
    assert "No conversation matches these filters" in texts(at)
    click(at, "Clear all filters")
    assert position(at) == "**1 of 3**"


# -- decisions -----------------------------------------------------------------------------------
def test_approve_records_who_and_when_and_moves_to_the_next(store: PostgresStore) -> None:
    convs = generate(store, 2)
    at = open_page()
    at.text_area(key=f"rv_notes_{convs[0].id}").input("Warm and accurate.")
    at.button(key="rv_approve").click().run()
    assert not at.exception
    rows = store.reviews_for(convs[0].id)
    assert [(r["decision"], r["reviewer"], r["notes"]) for r in rows] == [("approved", NAME, "Warm and accurate.")]
    assert recent(rows[0]["created_at"])
    assert store.get_conversation(convs[0].id).review.status == "approved"  # type: ignore[union-attr]
    assert current(at) == convs[1].id and position(at) == "**2 of 2**"  # the queue keeps its places
    assert "Approved" in at.success[0].value and "next one" in at.success[0].value


def test_needs_edit_is_recorded_and_a_seed_example_stops_being_one(store: PostgresStore) -> None:
    at = open_page()
    click(at, "Review the seeds")
    at.toggle(key="rv_advance").set_value(False).run()
    at.text_area(key="rv_notes_seed-01").input("Turn 5 is too long.")
    at.button(key="rv_needs_edit").click().run()
    last = store.reviews_for("seed-01")[-1]
    assert (last["decision"], last["reviewer"], last["notes"]) == ("needs_edit", NAME, "Turn 5 is too long.")
    assert store.get_scenario(store.review_queue({"ids": ["seed-01"]})[0]["scenario_id"])["status"] == "needs_edit"  # type: ignore[index]
    assert "seed-01" not in [c.id for c in store.seed_examples()]
    assert current(at) == "seed-01"  # advance is off
    assert "no longer a seed example" in at.success[0].value
    assert ":orange-badge[Needs edit]" in texts(at)
    assert at.toggle(key="rv_seed_seed-01").value is False


def test_reject_needs_a_reason_and_notes(store: PostgresStore) -> None:
    at = open_page()
    click(at, "Review the seeds")
    before = len(store.reviews_for("seed-01"))
    at.button(key="rv_reject").click().run()
    assert "A rejection needs a reason" in at.error[0].value
    at.selectbox(key="rv_reason_seed-01").set_value("off_voice").run()
    at.button(key="rv_reject").click().run()
    assert "needs notes too" in at.error[0].value
    assert len(store.reviews_for("seed-01")) == before  # nothing recorded
    at.text_area(key="rv_notes_seed-01").input("Sounds like a sales pitch in turn 3.")
    at.button(key="rv_reject").click().run()
    last = store.reviews_for("seed-01")[-1]
    assert (last["decision"], last["reason_code"], last["reviewer"], last["notes"]) == (
        "rejected", "off_voice", NAME, "Sounds like a sales pitch in turn 3.")
    assert recent(last["created_at"])
    assert current(at) == "seed-02"
    # a new session (a restart of the page) shows the decision and its history
    again = open_page(name="Ben")
    click(again, "Review the seeds")
    assert ":red-badge[Rejected]" in texts(again)
    history = [m.value.replace("\\", "") for m in again.markdown if "-badge[" in m.value and " UTC" in m.value]
    assert history[0].startswith(f":red-badge[Rejected] :red-badge[Off-voice] {NAME} · ")
    assert history[0].endswith(":small[Sounds like a sales pitch in turn 3.]")
    assert history[1].startswith(":green-badge[Approved]") and "Bright Run seed authors" in history[1]


def test_a_reload_keeps_the_queue_and_the_place_in_it(store: PostgresStore) -> None:
    at = open_page()
    click(at, "Review the seeds")
    at.button(key="rv_next").click().run()
    at.button(key="rv_next").click().run()
    assert position(at) == "**3 of 10**"
    params = {k: at.query_params[k] for k in at.query_params}
    assert params["conversation"] in (["seed-03"], "seed-03") and params["source"] in (["seed"], "seed")
    reloaded = AppTest.from_file(PAGE, default_timeout=60)  # a new session on the same address
    reloaded.session_state["br_reviewer"] = NAME
    for key, value in params.items():
        reloaded.query_params[key] = value
    reloaded.run()
    assert not reloaded.exception, reloaded.exception
    assert position(reloaded) == "**3 of 10**" and current(reloaded) == "seed-03"


def test_without_a_name_decisions_are_off_until_one_is_entered(store: PostgresStore) -> None:
    generate(store, 1)
    at = open_page(name=None)
    assert "Who is reviewing?" in texts(at)
    assert at.button(key="rv_approve").disabled
    at.text_input(key="rv_name_input").input("Dana Reyes")
    click(at, "Start reviewing")
    assert at.session_state["br_reviewer"] == "Dana Reyes"
    assert not at.button(key="rv_approve").disabled
    assert "Who is reviewing?" not in texts(at)


def test_entering_a_name_keeps_the_conversation_a_link_opened(store: PostgresStore) -> None:
    generate(store, 1)  # the queue (not reviewed) holds another conversation, not the seed
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["conversation"] = "seed-04"
    at.run()
    assert current(at) == "seed-04"
    at.text_input(key="rv_name_input").input("Dana Reyes")
    click(at, "Start reviewing")
    assert current(at) == "seed-04" and at.query_params["conversation"] == "seed-04"


def test_mark_as_seed_example_after_approval(store: PostgresStore) -> None:
    conv = generate(store, 1)[0]
    at = open_page()
    assert at.toggle(key=f"rv_seed_{conv.id}").disabled  # not approved yet
    at.button(key="rv_approve").click().run()
    assert not at.toggle(key=f"rv_seed_{conv.id}").disabled
    at.toggle(key=f"rv_seed_{conv.id}").set_value(True).run()
    assert conv.id in [c.id for c in store.seed_examples()]
    doc = store.get_conversation(conv.id)
    assert doc is not None and doc.training.use_as_seed_example
    assert store.conversation_metadata(conv.id)["review.seed_example"]["by"] == NAME
    assert ":material/star: Seed example" in texts(at)


# -- label corrections ---------------------------------------------------------------------------
def test_correcting_a_user_turn_emotion_stores_revisions_and_shows_the_history(store: PostgresStore) -> None:
    at = open_page()
    click(at, "Review the seeds")
    turn0 = store.get_conversation("seed-01").turns[0]  # type: ignore[union-attr]
    assert turn0.emotion.primary == "anxiety"  # type: ignore[union-attr]
    k = "rv_seed-01_0"
    assert not at.get("selectbox") or f"{k}_emotion" not in [w.key for w in at.selectbox]  # closed: no widgets
    open_labels(at, "seed-01", 0)
    at.selectbox(key=f"{k}_emotion").set_value("shame").run()
    at.selectbox(key=f"{k}_sub_shame").set_value("embarrassment").run()  # the save waits for it
    at.slider(key=f"{k}_intensity").set_value(0.5)
    at.text_input(key=f"{k}_why").input("reads as shame about not investing")
    at.button(key=f"{k}_save").click().run()
    assert not at.exception

    revs = store.label_revisions_for("seed-01")
    assert [(r["turn_idx"], r["field"], r["old_value"], r["new_value"]) for r in revs] == [
        (0, "emotion.primary", "anxiety", "shame"), (0, "emotion.sub_emotion", "fear", "embarrassment"),
        (0, "emotion.intensity", 0.75, 0.5)]
    assert all(r["author"] == NAME and r["source"] == "human_review" and recent(r["created_at"]) for r in revs)
    assert revs[0]["reason"] == "reads as shame about not investing"
    doc = store.get_conversation("seed-01")
    assert doc is not None
    assert doc.turns[0].emotion.primary == "anxiety"  # type: ignore[union-attr]  # never overwritten
    assert doc.current_value(0, "emotion.primary") == "shame"
    page = texts(at).replace("\\", "")  # the captions are escaped markdown
    assert "Emotion: Anxiety → Shame · Ana Reviewer" in page
    assert "Sub-emotion: fear → embarrassment" in page and "Intensity: 0.75 → 0.50" in page
    assert "-badge[Shame]" in page
    assert current(at) == "seed-01"  # a correction does not move on
    # saved, the popover closed; opened again it holds the labels in force, and saving them changes nothing
    assert f"{k}_save" not in [b.key for b in at.button]
    open_labels(at, "seed-01", 0)
    at.button(key=f"{k}_save").click().run()
    assert "Nothing to save" in at.error[0].value
    assert len(store.label_revisions_for("seed-01")) == 3

    # ... and the label analytics count it, overall and by topic
    show_analytics(at)
    table = next(df.value for df in at.dataframe if "Times" in df.value.columns)
    assert {(r["Field"], r["From"], r["To"]) for _, r in table.iterrows()} >= {("Emotion", "Anxiety", "Shame")}
    at.button_group(key="rv_an_by").set_value("topic").run()
    table = next(df.value for df in at.dataframe if "Times" in df.value.columns)
    mine = table[(table["From"] == "Anxiety") & (table["To"] == "Shame")]
    assert list(mine["Topic"]) == ["First portfolio"] and list(mine["Times"]) == [1]


def test_correcting_an_assistant_turn_strategies(store: PostgresStore) -> None:
    at = open_page()
    click(at, "Review the seeds")
    k = "rv_seed-01_1"
    open_labels(at, "seed-01", 1)
    at.selectbox(key=f"{k}_strategy").set_value("reflective_listening")
    at.multiselect(key=f"{k}_supporting").set_value(["empathic_validation", "normalizing"])
    at.button(key=f"{k}_save").click().run()
    revs = store.label_revisions_for("seed-01")
    assert [(r["turn_idx"], r["field"], r["new_value"]) for r in revs] == [
        (1, "strategies.primary", "reflective_listening"),
        (1, "strategies.supporting", ["empathic_validation", "normalizing"])]
    assert all(r["author"] == NAME for r in revs)
    assert ":blue-badge[Reflective listening]" in texts(at)


def test_changing_the_emotion_family_offers_its_sub_emotions_and_stores_the_primary_first(
        store: PostgresStore) -> None:
    at = open_page()
    click(at, "Review the seeds")
    k = "rv_seed-01_0"
    open_labels(at, "seed-01", 0)
    at.selectbox(key=f"{k}_emotion").set_value("relief").run()
    sub = at.selectbox(key=f"{k}_sub_relief")
    assert sub.options == ["(none)", "calm", "gratitude", "reassurance", "feeling supported", "unburdened"]
    assert sub.value is None  # fear is not a kind of relief: the reviewer is asked, nothing is cleared
    assert at.button(key=f"{k}_save").disabled
    assert any("choose its sub-emotion (or none) to save" in c.value.replace("\\", "") for c in at.caption)
    sub.set_value("calm").run()
    at.button(key=f"{k}_save").click().run()
    assert not at.session_state[f"rv_pop_seed-01_0"]  # the popover closes over the confirmation
    revs = store.label_revisions_for("seed-01")
    # relief's valence and arousal come along (the turn's were anxiety's, outside relief's range)
    assert [(r["field"], r["new_value"]) for r in revs] == [("emotion.primary", "relief"),
                                                           ("emotion.valence", 0.65), ("emotion.arousal", 0.25),
                                                           ("emotion.sub_emotion", "calm")]


# -- regeneration --------------------------------------------------------------------------------
def test_regenerate_with_feedback_queues_a_job_and_the_new_version_appears_linked(store: PostgresStore) -> None:
    conv = generate(store, 1)[0]
    at = open_page()
    at.button(key="rv_regenerate").click().run()
    assert "Write what should change in the notes first" in at.error[0].value
    at.text_area(key=f"rv_notes_{conv.id}").input("Make turn 2 less formal.")
    at.button(key="rv_regenerate").click().run()
    message = at.info[0].value.replace("\\", "")
    assert "queued as job #" in message and "No Anthropic API key is configured" in message
    job = store.list_jobs()[0]
    items = store.job_items(job["id"])
    assert [(i["feedback"], i["previous_conversation_id"]) for i in items] == [("Make turn 2 less formal.", conv.id)]
    assert job["created_by"] == NAME

    # a worker picks it up and stores the new version
    item = store.claim_items("test-worker", job_id=job["id"])[0]
    scenario = store.get_scenario(item.scenario_id)
    store.save_generated(make_conversation(scenario, "gen-0-v2"), item_id=item.id)
    click(at, "Refresh queue")
    assert current(at) == "gen-0-v2" and position(at) == "**1 of 1**"
    page = texts(at)
    assert ":gray-badge[Version 2]" in page
    details = details_of(at)
    assert details["Replaces"] == conv.id and details["Version"] == "2 of 2"
    at.button(key=f"rv_open_{conv.id}").click().run()  # the earlier version is one click away
    assert current(at) == conv.id and ":orange-badge[Earlier version]" in texts(at)
    assert at.button(key="rv_regenerate").disabled


# -- safe rendering ------------------------------------------------------------------------------
def test_generated_html_links_images_and_scripts_render_as_text(store: PostgresStore) -> None:
    conv = generate(store, 1, texts_={0: EVIL, 1: "<b>bold</b> <img src=x onerror=alert(1)> [a](javascript:x)"})[0]
    at = open_page()
    assert current(at) == conv.id
    bodies = [m for m in at.markdown]
    assert all(not m.allow_html for m in bodies)
    # the two turns (a span a check quotes is marked with our own :orange-background[...] around the
    # escaped text), and the findings under them and in the Checks tab that quote the text
    shown = [m.value for m in bodies if "alert" in m.value]
    turns = [v for v in shown if "-badge[" not in v and not v.startswith("- ")]
    assert len(turns) == 2 and len(shown) > 2
    assert turns[0].startswith("\\<script\\>alert\\(1\\)\\</script\\>") and "\\$5" in turns[0]
    assert "\\(http\u2060\\://e/x\\.png\\)" in turns[0]  # a word joiner keeps a URL from becoming a link
    for body in shown:  # every character markdown, HTML or LaTeX would act on is escaped
        assert re.search(r"(?<!\\)[<>()!=$]", body) is None, body
        for raw in (":red[x", "**now", "**bold", "[click]", "[x]", "[a]"):  # [ ] : * are in our own markup too
            assert raw not in body, (raw, body)
    assert "<script>" not in texts(at)
    # notes typed by a reviewer are shown as text too
    at.text_area(key=f"rv_notes_{conv.id}").input("<script>x</script> [n](http://evil)")
    at.toggle(key="rv_advance").set_value(False)
    at.button(key="rv_needs_edit").click().run()
    history = [m.value for m in at.markdown if ":orange-badge[Needs edit]" in m.value and " UTC" in m.value]
    assert history and history[0].endswith(":small[\\<script\\>x\\</script\\> \\[n\\]\\(http\u2060\\://evil\\)]")
    assert "<script>x" not in texts(at)


def test_a_conversation_opened_by_link(store: PostgresStore) -> None:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["br_reviewer"] = NAME
    at.query_params["conversation"] = "seed-03"
    at.run()
    assert current(at) == "seed-03"
    assert "Opened by link: the queue is empty" in texts(at)



def test_a_demo_replay_conversation_wears_its_badge(store: PostgresStore) -> None:
    from lib.core.vocabulary import DEMO_LABEL, DEMO_MODEL
    from tests.quality_data import approvable

    [real] = generate(store, 1, prefix="real")
    row = store.list_scenarios({"status": ["not_generated"], "tier": ["template"]})[0]
    demo = approvable(row, "demo-0")
    demo.provenance.model = DEMO_MODEL  # what a demo replay stores
    store.save_generated(demo, scenario_id=row["id"])
    at = open_page()
    seen: dict[str, bool] = {}
    while len(seen) < 2:
        header = next(m.value for m in at.markdown if ":gray-badge[Version" in m.value)
        seen[current(at)] = DEMO_LABEL in header
        if len(seen) < 2:
            at = click(at, "Next")
    assert seen == {real.id: False, "demo-0": True}
