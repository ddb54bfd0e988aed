"""Suggested label revisions from the judge's findings and the integrity checks: what the checks know a better
value for, proposed for the labels in force; accepted (an 'automated' revision recorded for the accepting
reviewer) or dismissed, one at a time or all at once; a suggestion made for a value no longer in force is
stale and refused; who may propose and who may decide."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

from lib.core.models import Conversation
from lib.core.taxonomy import Taxonomy
from lib.core.validation import check_conversation
from lib.review import suggestions as sg
from lib.review.errors import ReviewError
from lib.store.postgres import PostgresStore
from lib.store.protocol import InvalidInput, NotFound, PermissionDenied, Stale
from tests.conftest import add_member, as_role, make_conversation, scenario_rows
from tests.quality_data import save_judge_run

Conn = psycopg.Connection[dict[str, Any]]


def in_range(conv: Conversation, tax: Taxonomy) -> dict[str, Any]:
    """The conversation as JSON with each user turn's valence and arousal its family's typical values."""
    doc = conv.model_dump(mode="json")
    for t in doc["turns"]:
        if t["role"] == "user":
            family = tax.by_id("emotions")[t["emotion"]["primary"]]
            t["emotion"].update(valence=family.valence, arousal=family.arousal)
    return doc


def mislabelled(store: PostgresStore, tax: Taxonomy, conv_id: str = "conv-s") -> Conversation:
    """A conversation whose turn 0 has a valence outside its family's range and a secondary emotion equal to
    the primary, and whose turn 1 lists its primary strategy among the supporting ones, twice."""
    [sid] = store.add_scenarios(scenario_rows(tax, 1))
    scn = store.get_scenario(sid)
    assert scn is not None
    doc = in_range(make_conversation(scn, conv_id), tax)
    family = tax.by_id("emotions")[doc["turns"][0]["emotion"]["primary"]]
    doc["turns"][0]["emotion"]["valence"] = family.valence_range[1] + 0.1 if family.valence_range[1] < 1 else -1.0
    doc["turns"][0]["emotion"]["secondary"] = family.id
    doc["turns"][1]["strategies"]["supporting"] = ["normalizing", "empathic_validation", "normalizing"]
    conv = Conversation.model_validate(doc)
    store.save_generated(conv, scenario_id=sid)
    return conv


def test_the_checks_name_the_label_and_a_better_value(store: PostgresStore, db_tax: Taxonomy) -> None:
    conv = mislabelled(store, db_tax)
    family = db_tax.by_id("emotions")[conv.turns[0].emotion.primary]  # type: ignore[union-attr]
    found = {(s["turn"], s["field"]): s for s in sg.from_checks(check_conversation(conv, db_tax))}
    assert found[(0, "emotion.valence")]["suggested_value"] == family.valence
    assert found[(0, "emotion.secondary")]["suggested_value"] is None
    # two findings on the supporting strategies, one mend: each once, the primary left out
    assert found[(1, "strategies.supporting")]["suggested_value"] == ["normalizing"]
    assert found[(0, "emotion.valence")]["check"] == "affect_in_range"
    assert len(found) == 3


def test_a_clean_conversation_has_no_suggestion(store: PostgresStore, db_tax: Taxonomy) -> None:
    [sid] = store.add_scenarios(scenario_rows(db_tax, 1))
    scn = store.get_scenario(sid)
    assert scn is not None
    clean = Conversation.model_validate(in_range(make_conversation(scn, "clean"), db_tax))
    assert sg.from_checks(check_conversation(clean, db_tax)) == []


def test_check_suggestions_are_proposed_once_and_accepted_as_automated_revisions(
    store: PostgresStore, db_tax: Taxonomy
) -> None:
    conv = mislabelled(store, db_tax)
    report = check_conversation(conv, db_tax)
    assert sg.propose_from_checks(store, conv.id, report) == 3
    assert sg.propose_from_checks(store, conv.id, report) == 0  # the same again adds nothing
    found = sg.load(store, conv.id, db_tax)
    assert [(s.turn, s.field, s.origin, s.status, s.stale) for s in found] == [
        (0, "emotion.secondary", "check", "open", False),
        (0, "emotion.valence", "check", "open", False),
        (1, "strategies.supporting", "check", "open", False),
    ]
    result = sg.accept(store, sg.acceptable_together(found), reviewer="Ana")
    assert len(result.ids) == 3 and "Accepted 3" in result.message
    revs = store.label_revisions_for(conv.id)
    assert {(r["source"], r["author"]) for r in revs} == {("automated", "Ana")}
    assert revs[0]["reason"].startswith("Integrity check: Secondary labels differ from primary: Emotion.secondary")
    after = sg.load(store, conv.id, db_tax)
    assert {(s.status, s.decided_by) for s in after} == {("accepted", "Ana")}
    fixed = store.get_conversation(conv.id)
    assert fixed is not None and sg.from_checks(check_conversation(fixed, db_tax)) == []
    assert [h.source for h in fixed.label_history] == ["automated"] * 3


def test_the_judges_findings_become_suggestions_and_a_dismissed_one_stays_dismissed(
    store: PostgresStore, db_tax: Taxonomy
) -> None:
    conv = mislabelled(store, db_tax, "conv-j")
    finding = {
        "turn": 2,
        "field": "emotion.intensity",
        "current_value": 0.7,
        "suggested_value": 0.4,
        "reason": "She sounds calmer by now.",
    }
    save_judge_run(store, conv.id, {"label_accuracy": 2}, findings=[finding])
    [s] = sg.load(store, conv.id, db_tax)
    assert (s.origin, s.turn, s.field, s.current, s.suggested, s.reason) == (
        "judge",
        2,
        "emotion.intensity",
        "0.70",
        "0.40",
        "She sounds calmer by now.",
    )
    assert "dismissed the suggestion; the label stays 0.70" in sg.dismiss(store, [s], reviewer="Ana").message
    save_judge_run(store, conv.id, {"label_accuracy": 2}, findings=[finding])  # the judge says it again
    [again] = sg.load(store, conv.id, db_tax)
    assert (again.id, again.status, again.decided_by) == (s.id, "dismissed", "Ana")
    assert store.label_revisions_for(conv.id) == []
    with pytest.raises(ReviewError, match="already"):
        sg.dismiss(store, [again], reviewer="Ana")
    with pytest.raises(Stale, match="already dismissed by Ana"):
        store.decide_label_suggestions([s.id], "accepted", by="Bo")


def test_a_stale_suggestion_cannot_be_accepted_only_dismissed(store: PostgresStore, db_tax: Taxonomy) -> None:
    conv = mislabelled(store, db_tax)
    sg.propose_from_checks(store, conv.id, check_conversation(conv, db_tax))
    store.revise_label(conv.id, 0, "emotion.valence", 0.0, author="Bo", reason="by hand")
    found = {s.field: s for s in sg.load(store, conv.id, db_tax)}
    stale = found["emotion.valence"]
    assert stale.stale and stale.now == "0.00" and not stale.acceptable
    assert [s.field for s in sg.acceptable_together(list(found.values()))] == [
        "emotion.secondary",
        "strategies.supporting",
    ]
    with pytest.raises(ReviewError, match=r"was made for .* and it is 0\.00 now"):
        sg.accept(store, [stale], reviewer="Ana")
    # the database refuses it too, and with it the whole call: nothing of it is written
    with pytest.raises(Stale, match="is stale: it was made for"):
        store.decide_label_suggestions([found["emotion.secondary"].id, stale.id], "accepted", by="Ana")
    assert [r["author"] for r in store.label_revisions_for(conv.id)] == ["Bo"]
    assert {s.status for s in sg.load(store, conv.id, db_tax)} == {"open"}
    sg.dismiss(store, [stale], reviewer="Ana")
    assert {s.field: s.status for s in sg.load(store, conv.id, db_tax)}["emotion.valence"] == "dismissed"


def test_who_may_propose_and_decide(store: PostgresStore, db_tax: Taxonomy, conn: Conn) -> None:
    conv = mislabelled(store, db_tax)
    rows = sg.from_checks(check_conversation(conv, db_tax))
    propose = "select public.propose_label_suggestions(p_conversation_id => %(c)s, p_suggestions => %(s)s::jsonb)"
    args = {"c": conv.id, "s": json.dumps(rows)}
    reviewer = add_member(conn, "reviewer")
    with (
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="you need the operator role"),
        as_role(conn, "authenticated", reviewer),
    ):
        conn.execute(propose, args)
    with as_role(conn, "authenticated", add_member(conn, "operator")):
        conn.execute(propose, args)
    ids = [s.id for s in sg.load(store, conv.id, db_tax)]
    decide = "select public.decide_label_suggestions(p_ids => %(ids)s, p_decision => 'accepted', p_by => 'bot')"
    with (
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="you need the reviewer role"),
        as_role(conn, "authenticated", add_member(conn, "viewer")),
    ):
        conn.execute(decide, {"ids": ids[:1]})
    with as_role(conn, "authenticated", reviewer):
        conn.execute(decide, {"ids": ids[:1]})
    email = conn.execute("select email from public.members where user_id = %(u)s", {"u": reviewer}).fetchone()
    assert email is not None
    [rev] = store.label_revisions_for(conv.id)
    # the accepting reviewer, from the session, whatever name was passed; the source is the suggestion's
    assert (rev["source"], rev["author"], rev["author_id"]) == ("automated", email["email"], reviewer)
    assert sg.load(store, conv.id, db_tax)[-1].decided_by == email["email"]


def test_a_reviewer_without_the_operator_role_proposes_nothing_quietly(
    store: PostgresStore, db_tax: Taxonomy, monkeypatch: pytest.MonkeyPatch
) -> None:
    conv = mislabelled(store, db_tax)

    def refuse(*args: Any, **kwargs: Any) -> int:
        raise PermissionDenied("permission denied: to propose label suggestions you need the operator role")

    monkeypatch.setattr(store, "propose_label_suggestions", refuse)
    assert sg.propose_from_checks(store, conv.id, check_conversation(conv, db_tax)) == 0


def test_an_unknown_suggestion_id_is_named(store: PostgresStore) -> None:
    with pytest.raises(NotFound, match="no label suggestion has the id 999"):
        store.decide_label_suggestions([999], "dismissed", by="Ana")


def test_a_judge_finding_on_a_turn_without_the_field_is_no_suggestion_and_the_run_is_saved(
    store: PostgresStore, db_tax: Taxonomy
) -> None:
    """The judge's mistakes (a turn that is not there, an emotion on the assistant's turn) must not fail its save."""
    conv = mislabelled(store, db_tax, "conv-m")
    saved = save_judge_run(
        store,
        conv.id,
        {"label_accuracy": 2},
        findings=[
            {"turn": 1, "field": "emotion.primary", "current_value": None, "suggested_value": "fear", "reason": "x"},
            {"turn": 0, "field": "emotion.intensity", "current_value": 0.7, "suggested_value": 0.3, "reason": "y"},
        ],
    )
    assert saved
    assert [(s.turn, s.field) for s in sg.load(store, conv.id, db_tax)] == [(0, "emotion.intensity")]


def test_a_proposal_for_a_field_the_turn_does_not_hold_is_refused(store: PostgresStore, db_tax: Taxonomy) -> None:
    conv = mislabelled(store, db_tax)
    with pytest.raises(InvalidInput, match=r"strategies\.primary is not a label of turn 0 of conv-s"):
        store.propose_label_suggestions(
            conv.id,
            [{"turn": 0, "field": "strategies.primary", "suggested_value": "normalizing", "reason": "", "check": "c"}],
        )
    assert sg.load(store, conv.id, db_tax) == []
