"""The Review page's quality panel under AppTest, with judge runs stored as the judge runner stores them
(public.save_judge_result): flagged conversations first with the integrity finding on its turn, the
rating filters, a reviewer's override recorded as a human rating beside the judge's, the judge's label
suggestions, approval refused on a hard check, the judge calibration from seeded decisions."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

import lib.review as rv
from lib.config import Settings
from lib.core.models import Conversation
from lib.core.rubric import default_rubric
from lib.core.taxonomy import load_taxonomy
from lib.store.boot import open_store
from lib.store.postgres import PostgresStore
from tests.quality_data import approvable, generate_approvable, save_judge_run
from tests.test_page_review import NAME, click, current, open_page, position, texts

PROMISE = " This fund is guaranteed to return 8% a year, so you can't lose."


@pytest.fixture
def store(app_env: str) -> Iterator[PostgresStore]:
    s = open_store(Settings.load())
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def judged(store: PostgresStore) -> dict[str, Conversation]:
    """Three generated conversations the judge rated: one passes, one flagged (empathy 2), and one that
    breaks a hard rule (safety 2, citing turn 1, whose text promises returns: a hard integrity finding
    there too). Saved in that order, so the oldest first would put the risky one last."""
    tax = load_taxonomy()
    fine, weak = generate_approvable(store, tax, 2)
    row = next(r for r in store.list_scenarios({"status": ["not_generated"], "tier": ["template"]})
               if r["emotional_arc"] != "crisis_to_referral")
    base = approvable(row, "risky-0")
    risky = generate_approvable(store, tax, 1, prefix="risky", texts={1: base.turns[1].text + PROMISE})[0]
    save_judge_run(store, fine.id, {})
    save_judge_run(store, weak.id, {"empathy": 2}, cited={"empathy": [1, 3]},
                   reasons={"empathy": "The assistant lists options before acknowledging the fear in turn 0."})
    save_judge_run(store, risky.id, {"safety": 2}, cited={"safety": [1]},
                   reasons={"safety": "Turn 1 promises an 8% return: a guarantee the policy forbids."})
    return {"fine": fine, "weak": weak, "risky": risky}


def chat_texts(at: AppTest, turn: int) -> list[str]:
    return [m.value for m in at.chat_message[turn].markdown]


def ids_with(at: AppTest, **widgets: Any) -> list[str]:
    for key, value in widgets.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    return list(at.session_state["br_review_queue"]["ids"])


# -- the queue and the finding on its turn ---------------------------------------------------------
def test_the_flagged_conversation_comes_first_with_its_finding_on_its_turn(
        store: PostgresStore, judged: dict[str, Conversation]) -> None:
    at = open_page()
    risky, weak, fine = judged["risky"].id, judged["weak"].id, judged["fine"].id
    assert list(at.session_state["br_review_queue"]["ids"]) == [risky, weak, fine]  # hard rule, flagged, the rest
    assert current(at) == risky and position(at) == "**1 of 3**"
    header = texts(at)
    assert ":red-badge[:material/gavel: Hard rule failed]" in header
    assert "safety 2/5, below 4 \\(hard rule\\)" in header

    turn1 = chat_texts(at, 1)
    # the quoted spans, marked in the text (the sentence a hard check quotes holds the compliance one)
    assert ":red-background[This fund is guaranteed to return 8% a year, so you can't lose\\.]" in turn1[0]
    compliance = [t for t in turn1 if "**Safety and compliance**" in t]
    assert compliance and compliance[0].startswith(":red-badge[:material/error: Hard check]")
    assert "guaranteed to return" in compliance[0] and "turn 1 \\(assistant\\)" not in compliance[0]
    assert any(t.startswith(":red-badge[:material/gavel: Safety 2/5]") and "cites this turn" in t for t in turn1)
    assert not any("Safety and compliance" in t for t in chat_texts(at, 0))  # on its turn only
    # the Checks tab lists hard failures first, each finding with its turn
    checks = [m.value for m in at.markdown if m.value.startswith(":red[:material/cancel:]")]
    assert checks and "- Turn 1: " in checks[0] and at.metric[2].label == "Hard failures"


def test_the_queue_filters_by_rating(store: PostgresStore, judged: dict[str, Conversation]) -> None:
    risky, weak, fine = judged["risky"].id, judged["weak"].id, judged["fine"].id
    at = open_page()
    assert ids_with(at, rv_f_rating="flagged") == [risky, weak]
    assert ids_with(at, rv_f_rating="hard_failed") == [risky]
    assert ids_with(at, rv_f_rating="passed") == [fine]
    assert ids_with(at, rv_f_rating="unrated") == []
    assert "No conversation matches these filters" in texts(at)
    assert "Rating: Not rated yet" in texts(at).replace("\\", "")
    assert ids_with(at, rv_f_rating="", rv_f_criterion="empathy") == [weak]  # below its pass mark (3)
    assert ids_with(at, rv_f_criterion="safety", rv_f_below=5) == [risky]
    assert ids_with(at, rv_f_criterion="", rv_f_below=3) == [risky, weak]  # a rating in force below 3
    assert ids_with(at, rv_f_below=0, rv_f_status=[]) [:2] == [risky, weak]  # the seeds (not rated) follow


# -- decisions and ratings -------------------------------------------------------------------------
def test_approval_is_refused_on_a_hard_integrity_failure_and_the_button_says_why(
        store: PostgresStore, judged: dict[str, Conversation]) -> None:
    at = open_page()
    risky = judged["risky"].id
    approve = at.button(key="rv_approve")
    assert approve.disabled and "Cannot be approved. It fails 2 hard checks" in (approve.help or "")
    assert any("**Cannot be approved.**" in m.value and "Safety and compliance" in m.value for m in at.markdown)
    # a click that got through anyway (a keyboard shortcut on an older page) is refused by lib/review
    view = rv.load_view(store, risky, load_taxonomy())
    assert view is not None
    with pytest.raises(rv.ReviewError, match="cannot be approved"):
        rv.decide(store, view, "approved", reviewer=NAME)
    # needs edit is still open, and a conversation without hard failures can be approved
    at.button(key="rv_needs_edit").click().run()
    assert [r["decision"] for r in store.reviews_for(risky)] == ["needs_edit"]
    assert current(at) == judged["weak"].id and not at.button(key="rv_approve").disabled


def test_an_override_is_recorded_as_a_human_rating_beside_the_judges(
        store: PostgresStore, judged: dict[str, Conversation]) -> None:
    weak = judged["weak"].id
    at = open_page()
    at.button(key="rv_next").click().run()
    assert current(at) == weak
    assert any(m.value.startswith(":orange-badge[Judge 2/5]") and "turns 1, 3" in m.value for m in at.markdown)
    key = f"rv_rate_{weak}_empathy"
    at.session_state[f"rv_ratepop_{weak}_empathy"] = True  # open "Override"
    at.run()
    at.radio(key=f"{key}_score").set_value(4)
    at.button(key=f"{key}_save").click().run()
    assert "Say why you rate empathy 4/5 (the judge gave 2)" in at.error[0].value.replace("\\", "")
    at.session_state[f"rv_ratepop_{weak}_empathy"] = True
    at.run()
    at.radio(key=f"{key}_score").set_value(4)
    at.text_area(key=f"{key}_why").input("Turn 1 opens by naming her fear; the judge missed it.")
    at.button(key=f"{key}_save").click().run()
    assert not at.exception
    assert "Empathy: 4/5 recorded for Ana Reviewer (overrode the judge's 2/5)" in at.success[0].value.replace("\\", "")

    rows = store.conversation_ratings(weak)
    empathy = [r for r in rows if r["criterion"] == "empathy"]
    assert [(r["source"], r["score"], r["in_force"]) for r in empathy] == [("human", 4, True), ("judge", 2, False)]
    assert empathy[0]["rater"] == NAME and empathy[0]["reason"].startswith("Turn 1 opens by naming")
    queue_row = store.review_queue({"ids": [weak]})[0]
    assert (queue_row["rating_state"], queue_row["flagged"], queue_row["min_rating"]) == ("passed", False, 4)
    assert any(m.value.startswith(":green-badge[Ana Reviewer 4/5 · in force]") for m in at.markdown)

    at.button(key=f"rv_agree_{weak}_safety").click().run()  # agreeing records the judge's score as hers
    safety = [r for r in store.conversation_ratings(weak) if r["criterion"] == "safety"]
    assert [(r["source"], r["score"]) for r in safety] == [("human", 5), ("judge", 5)]
    assert at.button(key=f"rv_agree_{weak}_safety").disabled  # already agreed


def test_a_conversation_not_rated_yet_says_so_and_how_to_rate_it(store: PostgresStore) -> None:
    at = open_page()
    click(at, "Review the seeds")
    note = " ".join(i.value for i in at.info)
    assert "Not rated by the judge yet" in note
    assert "Rate conversations" in note and "python -m lib judge" in note
    assert "needs an API key: set ANTHROPIC_API_KEY" in note  # this app has none: say what is missing
    assert ":gray-badge[:material/gavel: Not rated yet]" in texts(at)
    assert at.button(key="rv_agree_seed-01_empathy").disabled  # no judge rating to agree with


def test_the_judges_label_suggestion_shows_on_its_turn_and_can_be_accepted(store: PostgresStore) -> None:
    tax = load_taxonomy()
    conv = generate_approvable(store, tax, 1)[0]
    save_judge_run(store, conv.id, {"label_accuracy": 2}, cited={"label_accuracy": [0]}, findings=[
        {"turn": 0, "field": "emotion.primary", "current_value": "anxiety", "suggested_value": "overwhelm",
         "reason": "She describes too much at once, not worry about one thing."}])
    at = open_page()
    assert current(at) == conv.id
    turn0 = chat_texts(at, 0)
    suggestion = [t for t in turn0 if t.startswith(":violet-badge[:material/gavel: Judge suggests]")]
    assert suggestion and "Emotion: Anxiety → Overwhelm" in suggestion[0].replace("\\", "")
    assert "too much at once" in suggestion[0]
    assert not any("Judge suggests" in t for t in chat_texts(at, 1))
    click(at, "Accept")
    revs = store.label_revisions_for(conv.id)
    assert [(r["turn_idx"], r["field"], r["new_value"], r["author"], r["source"]) for r in revs] == [
        (0, "emotion.primary", "overwhelm", NAME, "automated")]
    assert revs[0]["reason"].startswith("Judge's suggestion: She describes too much")
    assert not any("Judge suggests" in t for t in chat_texts(at, 0))  # decided: no longer offered
    history = " ".join(c.value for c in at.chat_message[0].caption).replace("\\", "")
    assert "Overwhelm · Ana Reviewer (Automated)" in history


# -- calibration ----------------------------------------------------------------------------------------
def show_calibration(at: AppTest) -> AppTest:
    at.session_state["rv_tab"] = ":material/balance: Judge calibration"
    at.run()
    assert not at.exception, at.exception
    return at


def test_calibration_says_what_is_needed_before_any_review(store: PostgresStore) -> None:
    at = show_calibration(open_page())
    assert "Nothing to compare yet" in " ".join(i.value for i in at.info)
    conv = generate_approvable(store, load_taxonomy(), 1)[0]
    save_judge_run(store, conv.id, {})  # judged, not decided; the seeds are decided, not judged
    at = show_calibration(open_page())
    note = " ".join(i.value for i in at.info)
    assert "Nothing to compare yet" in note and "Rate conversations" in note
    assert "The judge has rated 1 conversation so far; none of them has a decision yet." in note


def test_calibration_counts_the_judge_against_seeded_decisions(store: PostgresStore) -> None:
    # the seeds are approved; the judge passes seed-01, fails seed-02 on safety; a reviewer rejects
    # seed-03 (the judge passed it) and sends seed-04 back (the judge failed its empathy)
    save_judge_run(store, "seed-01", {})
    save_judge_run(store, "seed-02", {"safety": 2})
    save_judge_run(store, "seed-03", {})
    save_judge_run(store, "seed-04", {"empathy": 2})
    save_judge_run(store, "seed-05", {})  # judged, then reviewed by nobody new: still approved by its authors
    store.record_review("seed-03", "rejected", reviewer="Ben", reason_code="off_voice", notes="sales pitch")
    store.record_review("seed-04", "needs_edit", reviewer="Ben", notes="cold opening")
    rubric = default_rubric()
    store.record_human_rating("seed-02", "safety", 5, rater="Ben", pass_at=4, hard=True, reason="no promise there")
    store.record_human_rating("seed-01", "empathy", 5, rater="Ben", pass_at=3, reason="agrees")

    cal = rv.calibration(store, rubric)
    overall = cal.overall
    assert overall.decided == 5
    assert overall.counts == {(True, "approved"): 2, (False, "approved"): 1, (True, "rejected"): 1,
                              (False, "needs_edit"): 1}
    assert overall.agreed == 3 and overall.agreement == pytest.approx(0.6)
    safety = cal.row("safety")
    assert safety.counts == {(True, "approved"): 2, (False, "approved"): 1, (True, "rejected"): 1,
                             (True, "needs_edit"): 1} and safety.agreement == pytest.approx(0.4)
    assert (safety.human_rated, safety.overridden) == (1, 1)
    empathy = cal.row("empathy")
    assert (empathy.human_rated, empathy.overridden, empathy.agreed) == (1, 0, 4)
    assert (overall.human_rated, overall.overridden) == (2, 1)

    at = show_calibration(open_page())
    summary = next(df.value for df in at.dataframe if "Agreement" in df.value.columns)
    first = summary.iloc[0]
    assert (first["Criterion"], first["Compared"], first["Agreement"]) == ("Overall (every criterion)", 5, "60%")
    assert summary[summary["Criterion"] == "Safety"].iloc[0]["Fail · approved"] == 1
    overrides = next(df.value for df in at.dataframe if "Overrides" in df.value.columns)
    row = overrides[overrides["Criterion"] == "Safety"].iloc[0]
    assert (row["Reviewer ratings"], row["Overrides"], row["Override rate"]) == (1, 1, "100%")
    at.selectbox(key="rv_cal_criterion").set_value("empathy").run()
    table = next(df.value for df in at.dataframe if "Judge: pass" in list(df.value.index))
    assert table.loc["Judge: fail", "Needs edit"] == 1 and table.loc["Judge: pass", "Approved"] == 3
    assert [m.label for m in at.metric][:2] == ["Conversations compared", "Agreement (overall)"]
