"""lib.review without a database: the queue helpers, the view built from a conversation, the
actions' checks (with a fake store that records calls) and the analytics tables and charts."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

import lib.review as rv
from lib.core.checks.labels import arc_curve
from lib.core.models import Conversation
from lib.core.seeds import load_seeds
from lib.core.taxonomy import Taxonomy, load_taxonomy
from lib.core.validation import CHECKS
from lib.ui.display import emotion_colours


@pytest.fixture(scope="module")
def tax() -> Taxonomy:
    return load_taxonomy()


@pytest.fixture(scope="module")
def seed() -> Conversation:
    return next(c for c in load_seeds().conversations if c.id == "seed-01")


NOW = datetime(2025, 11, 22, 10, 30, tzinfo=timezone.utc)


def row_for(conv: Conversation, **extra: Any) -> dict[str, Any]:
    return {"id": conv.id, "scenario_id": 7, "version": 1, "is_current": True, "previous_version_id": None,
            "next_version_id": None, "review_status": conv.review.status, "use_as_seed_example": True,
            "model": None, "template_name": None, "template_version": None, **extra}


def view_of(conv: Conversation, tax: Taxonomy, **extra: Any) -> rv.ConversationView:
    return rv.build_view(conv, row_for(conv, **extra), reviews=[], versions=[row_for(conv, **extra)],
                         metadata={}, tax=tax)


class FakeStore:
    """Records the writes lib.review asks for."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.stats: list[dict[str, Any]] = []

    def record_review(self, cid: str, decision: str, **kw: Any) -> int:
        self.calls.append(("record_review", cid, decision, kw))
        return 1

    def set_seed_example(self, cid: str, value: bool, *, by: str) -> bool:
        self.calls.append(("set_seed_example", cid, value, by))
        return value

    def revise_label(self, cid: str, turn: int, field: str, value: Any, **kw: Any) -> int:
        self.calls.append(("revise_label", turn, field, value, kw["author"], kw["source"]))
        return len(self.calls)

    def create_job(self, ids: list[int], **kw: Any) -> int:
        self.calls.append(("create_job", ids, kw))
        return 42

    def label_correction_stats(self, by: str | None = None, *, source: str | None = None) -> list[dict[str, Any]]:
        return self.stats


# -- the queue ------------------------------------------------------------------------------------
def test_queue_filters_default_round_trip_and_clamp() -> None:
    f = rv.QueueFilters()
    assert f.is_default() and f.store_filters() == {"status": ["unreviewed"]}
    g = f.replace(status=[], persona=["a"], quality=[3, 12])
    assert g.store_filters() == {"persona": ["a"]} and g.quality == (3, 10)
    assert rv.QueueFilters.from_dict(g.as_dict()) == g
    assert rv.QueueFilters.from_dict({"quality": [9, 2]}).quality == (2, 9)
    assert rv.QueueFilters.from_dict(None) == f


def test_queue_filters_travel_in_a_url_and_come_back_the_same() -> None:
    f = rv.QueueFilters()
    assert f.to_query() == {}  # the default queue keeps the address short
    g = f.replace(status=[], reviewer=["Dana Reyes, CFP", "Ben"], quality=[3, 9], rating="flagged", below=3)
    query = g.to_query()
    assert query["status"] == [""] and query["reviewer"] == ["Dana Reyes, CFP", "Ben"]  # a comma stays in a name
    assert rv.QueueFilters.from_query(query) == g
    assert rv.QueueFilters.from_query({"quality": ["x-y"], "below": ["many"], "rating": ["nonsense"]}) == f


def test_position_and_steps_stay_inside_the_queue() -> None:
    q = ["a", "b", "c"]
    assert [rv.position(q, x) for x in ("a", "c", "z", None)] == [1, 3, 0, 0]
    assert rv.step(q, "a", -1) == "a" and rv.step(q, "a", 1) == "b" and rv.step(q, "c", 1) == "c"
    assert rv.step(q, "z", 1) == "a" and rv.step([], "a", 1) is None
    assert rv.next_after(q, "b") == "c" and rv.next_after(q, "c") is None and rv.next_after(q, "z") is None


# -- the view -------------------------------------------------------------------------------------
def test_view_of_a_seed_has_labels_arc_quality_and_details(seed: Conversation, tax: Taxonomy) -> None:
    view = view_of(seed, tax)
    first = view.turns[0]
    assert (first.role, first.emotion, first.emotion_name, first.sub_emotion, first.intensity) == (
        "user", "anxiety", "Anxiety", "fear", 0.75)
    assert first.band and first.label_line.startswith("Anxiety · fear · intensity 0.75")
    assert view.turns[1].strategy_name == "Empathic validation" and view.turns[1].supporting_names
    users = [t for t in view.turns if t.role == "user"]
    assert list(view.arc["turn"]) == [t.idx for t in users]  # the chart numbers turns as the chat does
    assert list(view.arc["colour"]) == [emotion_colours(tax)[t.emotion] for t in users]  # type: ignore[index]
    assert len(view.target_curve) == len(users)
    # the seed was stored without checks: the report is computed now
    assert view.quality.score == 10 and len(view.quality.checks) == len(CHECKS) and "Checked on the labels" in view.quality_note
    details = {(s, f): v for s, f, v in view.details}
    assert details[("Scenario", "Persona")] == "Anxious first-time investor"
    assert details[("Generation", "Model")] == "(none: written by hand)"
    assert details[("Usage", "Cost")] == "$0.0000" and ("Scenario", "Scenario") in details
    assert rv.details_frame(view, "Usage").columns.tolist() == ["Field", "Value"]


def test_the_arc_figure_uses_the_emotion_colours(seed: Conversation, tax: Taxonomy) -> None:
    view = view_of(seed, tax)
    colours = emotion_colours(tax)
    fig = rv.arc_figure(view, colours)
    markers = {t.name: t.marker.color for t in fig.data if t.mode == "markers"}
    assert markers == {tax.by_id("emotions")[e].name: colours[e] for e in dict.fromkeys(view.arc["emotion"])}
    assert any(t.name == "Arc target" for t in fig.data)


def test_revisions_show_per_turn_with_names(seed: Conversation, tax: Taxonomy) -> None:
    conv = seed.model_copy(deep=True)
    conv.revise(0, "emotion.primary", "shame", source="human_review", author="Ana", reason="self-blame")
    conv.revise(1, "strategies.supporting", ["reframing"], source="human_review", author="Ana")
    view = view_of(conv, tax)
    rev = view.turns[0].revisions[0]
    assert (rev.field_label, rev.old, rev.new, rev.author, rev.reason) == (
        "Emotion", "Anxiety", "Shame", "Ana", "self-blame")
    assert view.turns[0].emotion == "shame"  # the label in force
    assert view.turns[1].revisions[0].new == "Reframing"
    assert "2 corrections applied" in view.quality_note


def test_resample_and_label_texts(tax: Taxonomy) -> None:
    assert arc_curve([0.8, 0.2], 4) == [0.8, 0.6, 0.4, 0.2]
    assert arc_curve([0.5, 0.9, 0.1], 1) == [0.5] and arc_curve([0.5], 0) == []
    assert rv.label_value_text("emotion.intensity", 0.5, tax) == "0.50"
    assert rv.label_value_text("strategies.supporting", [], tax) == "(none)"
    assert rv.label_value_text("emotion.sub_emotion", "self_blame", tax) == "self blame"


def test_badge_colours_are_streamlit_names(tax: Taxonomy) -> None:
    allowed = {"red", "orange", "yellow", "green", "blue", "violet", "gray"}
    assert {rv.badge_colour(e.color) for e in tax.emotions} <= allowed
    assert rv.badge_colour("#d62728") == "red" and rv.badge_colour("#5cb85c") == "green"
    assert rv.badge_colour("#808080") == "gray" and rv.badge_colour("oops") == "gray"


# -- actions --------------------------------------------------------------------------------------
def test_decide_checks_name_reason_and_notes(seed: Conversation, tax: Taxonomy) -> None:
    store = FakeStore()
    view = view_of(seed, tax)
    with pytest.raises(rv.ReviewError, match="Enter your name"):
        rv.decide(store, view, "approved", reviewer=" ")  # type: ignore[arg-type]
    with pytest.raises(rv.ReviewError, match="needs a reason"):
        rv.decide(store, view, "rejected", reviewer="Ana", notes="bad")  # type: ignore[arg-type]
    with pytest.raises(rv.ReviewError, match="needs notes too"):
        rv.decide(store, view, "rejected", reviewer="Ana", reason_code="off_voice")  # type: ignore[arg-type]
    assert store.calls == []
    result = rv.decide(store, view, "rejected", reviewer="Ana", reason_code="off_voice",  # type: ignore[arg-type]
                       notes=" too salesy ", seen=2)
    # one call: record_review itself ends a rejected conversation's time as a seed example
    assert store.calls == [("record_review", "seed-01", "rejected",
                            {"reviewer": "Ana", "reason_code": "off_voice", "notes": "too salesy", "review_count": 2})]
    assert "no longer a seed example" in result.message
    store.calls.clear()
    rv.decide(store, view, "approved", reviewer="Ana", reason_code="off_voice")  # type: ignore[arg-type]
    assert store.calls == [("record_review", "seed-01", "approved", {"reviewer": "Ana", "reason_code": None,
                                                                      "notes": "", "review_count": None})]


def test_corrections_write_only_what_changed_primary_first(seed: Conversation, tax: Taxonomy) -> None:
    store = FakeStore()
    view = view_of(seed, tax)
    with pytest.raises(rv.ReviewError, match="Nothing to save"):
        rv.correct_user_turn(store, view, 0, primary="anxiety", sub_emotion="fear", intensity=0.75, author="Ana",
                             reason="", tax=tax)
    with pytest.raises(rv.ReviewError, match="calm is not a kind of anxiety"):
        rv.correct_user_turn(store, view, 0, primary="anxiety", sub_emotion="calm", intensity=0.75, author="Ana",
                             reason="", tax=tax)
    with pytest.raises(rv.ReviewError, match="Turn 1 is an assistant turn"):
        rv.correct_user_turn(store, view, 1, primary="anxiety", sub_emotion=None, intensity=0.5, author="Ana",
                             reason="", tax=tax)
    result = rv.correct_user_turn(store, view, 0, primary="shame", sub_emotion="guilt", intensity=0.75,
                                  author="Ana", reason="why", tax=tax)
    assert [c[1:5] for c in store.calls] == [(0, "emotion.primary", "shame", "Ana"),
                                             (0, "emotion.sub_emotion", "guilt", "Ana")]
    assert all(c[5] == "human_review" for c in store.calls)
    assert "emotion and sub-emotion" in result.message
    store.calls.clear()
    rv.correct_assistant_turn(store, view, 1, primary="empathic_validation",
                              supporting=["empathic_validation", "reframing", "reframing"], author="Ana", reason="",
                              tax=tax)
    assert [c[1:4] for c in store.calls] == [(1, "strategies.supporting", ["reframing"])]
    with pytest.raises(rv.ReviewError, match="Unknown strategy 'magic'"):
        rv.correct_assistant_turn(store, view, 1, primary="magic", supporting=[], author="Ana", reason="", tax=tax)


def test_a_new_family_asks_for_its_sub_emotion_instead_of_clearing_it(seed: Conversation, tax: Taxonomy) -> None:
    # Regression: a new primary emotion cleared the sub-emotion on its own and recorded a second correction.
    store = FakeStore()
    view = view_of(seed, tax)
    assert view.turns[0].sub_emotion == "fear"
    with pytest.raises(rv.ReviewError, match="fear is not a kind of shame: choose its sub-emotion"):
        rv.correct_user_turn(store, view, 0, primary="shame", sub_emotion=None, intensity=0.75, author="Ana",
                             reason="", tax=tax)
    assert store.calls == []
    rv.correct_user_turn(store, view, 0, primary="anxiety", sub_emotion=None, intensity=0.5, author="Ana",
                         reason="", tax=tax)
    assert [c[2:4] for c in store.calls] == [("emotion.intensity", 0.5)]  # the sub-emotion in force stays
    store.calls.clear()
    rv.correct_user_turn(store, view, 0, primary="shame", sub_emotion="", intensity=0.75, author="Ana",
                         reason="", tax=tax)
    assert ("emotion.sub_emotion", None) in [c[2:4] for c in store.calls]  # none, because the reviewer said so


def test_a_new_emotion_family_brings_its_valence_arousal_and_secondary_along(seed: Conversation, tax: Taxonomy) -> None:
    # Regression: correcting turn 0 from anxiety to hope left valence -0.6 (outside hope's range), a hard
    # integrity failure that blocked approval with no field on the form to mend it.
    from lib.core.validation import check_conversation

    store = FakeStore()
    view = view_of(seed, tax)
    before = seed.current_turns()[0].emotion
    assert before.secondary == "confusion" and before.valence < 0
    hope = tax.by_id("emotions")["hope"]
    rv.correct_user_turn(store, view, 0, primary="hope", sub_emotion="", intensity=0.75, author="Ana",
                         reason="she is hopeful", tax=tax)
    changed = {c[2]: c[3] for c in store.calls}
    assert changed["emotion.primary"] == "hope" and changed["emotion.valence"] == hope.valence
    assert "emotion.secondary" not in changed  # confusion may stay beside hope
    corrected = seed.model_copy(deep=True)
    for _, turn, field, value, author, source in store.calls:
        corrected.revise(turn, field, value, source=source, author=author)
    report = check_conversation(corrected, tax)
    assert "affect_in_range" not in [f.name for f in report.failures]

    store.calls.clear()
    rv.correct_user_turn(store, view, 0, primary="confusion", sub_emotion="", intensity=0.75, author="Ana",
                         reason="", tax=tax)
    assert ("emotion.secondary", None) in [(c[2], c[3]) for c in store.calls]  # never the primary twice


def test_regeneration_needs_notes_and_says_when_it_runs(seed: Conversation, tax: Taxonomy) -> None:
    store = FakeStore()
    view = view_of(seed, tax)
    with pytest.raises(rv.ReviewError, match="Write what should change"):
        rv.queue_regeneration(store, view, notes=" ", reviewer="Ana")
    result = rv.queue_regeneration(store, view, notes="warmer", reviewer="Ana", model="m")
    assert store.calls[0][1] == [7] and store.calls[0][2]["feedback"] == "warmer"
    assert "job #42" in result.message and "No Anthropic API key" in result.message
    assert "No Anthropic API key" not in rv.queue_regeneration(store, view, notes="x", reviewer="Ana",
                                                               has_api_key=True).message
    with pytest.raises(rv.ReviewError, match="earlier version"):
        rv.queue_regeneration(store, view_of(seed, tax, is_current=False), notes="x", reviewer="Ana")


def test_seed_example_needs_approval(seed: Conversation, tax: Taxonomy) -> None:
    view = view_of(seed, tax, review_status="needs_edit")
    with pytest.raises(rv.ReviewError, match="approve it first"):
        rv.set_seed_example(FakeStore(), view, True, by="Ana")


# -- analytics ------------------------------------------------------------------------------------
def test_label_analytics_names_values_and_groups(tax: Taxonomy) -> None:
    store = FakeStore()
    store.stats = [
        {"field": "emotion.primary", "from_value": "anxiety", "to_value": "shame", "group_id": "first_portfolio",
         "corrections": 3, "conversations": 2, "authors": 1, "last_at": NOW},
        {"field": "strategies.supporting", "from_value": "normalizing", "to_value": "(none)",
         "group_id": "first_portfolio", "corrections": 1, "conversations": 1, "authors": 1, "last_at": NOW},
    ]
    df = rv.label_analytics(store, tax, "topic")
    assert df.columns.tolist() == ["Field", "From", "To", "Topic", "Times", "Conversations", "Authors", "Last"]
    assert df.iloc[0][["Field", "From", "To", "Topic"]].tolist() == ["Emotion", "Anxiety", "Shame", "First portfolio"]
    assert df.iloc[1][["From", "To"]].tolist() == ["Normalizing", "(none)"]
    assert len(rv.corrections_chart(df, "topic").data) == 2  # stacked by field
    overall = rv.label_analytics(store, tax)
    assert "Topic" not in overall.columns
    assert list(rv.corrections_chart(overall, None).data[0].y)[-1] == "Emotion: Anxiety → Shame"
    with pytest.raises(rv.ReviewError):
        rv.label_analytics(store, tax, "colour")


@pytest.mark.parametrize(
    ("intensity", "band"),
    [(0.0, "low"), (0.39, "low"), (0.395, "low"), (0.4, "medium"), (0.699, "medium"), (0.7, "high"), (1.0, "high"),
     (1.2, ""), (-0.1, ""), (None, "")],
)
def test_every_intensity_in_range_has_the_band_it_starts_in(intensity: float | None, band: str) -> None:
    from lib.review.text import intensity_band

    anxiety = load_taxonomy().by_id("emotions")["anxiety"]
    assert intensity_band(anxiety, intensity) == band
