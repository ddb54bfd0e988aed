"""Coverage counts (SQL) and gaps on a known fixture dataset; the planned estimate of scenarios not
generated yet (the lengths the generator asks for, the arcs' milestones); gaps -> planner weights -> a plan
that closes them."""
from __future__ import annotations

import json
import math
import re
from collections import Counter
from typing import Any

import psycopg
import pytest

import lib.coverage as coverage
from lib.core.models import ScenarioDimensions
from lib.core.planner import plan
from lib.core.seeds import load_seeds
from lib.generation.prompting import build_prompt
from lib.store.protocol import InvalidInput
from lib.store.postgres import PostgresStore
from lib.core.taxonomy import Taxonomy
from tests.conftest import add_member, as_role, make_conversation, scenario_rows

Conn = psycopg.Connection[dict[str, Any]]


@pytest.fixture
def dataset(store: PostgresStore, db_tax: Taxonomy) -> dict[str, Any]:
    """Six template scenarios (scenario_rows: arcs triumph, struggle_to_success, plateau_to_breakthrough,
    emergency_to_calm, exploratory, crisis_to_referral), four with conversations (make_conversation: every
    user turn has the arc's start emotion but the last, which has its end emotion; every reply
    empathic_validation with normalizing supporting):

    s1 triumph (hope -> confidence)          c1, 4 turns, approved; turn 0 corrected hope -> shame
    s2 struggle_to_success (anxiety -> conf.) c2a 6 turns approved, then regenerated: c2b 8 turns, unreviewed
    s3 plateau (frustration -> hope)          c3, 8 turns, rejected; turn 1 corrected empathic_validation -> reframing
    s4 emergency_to_calm (anxiety -> relief)  c4, 16 turns, unreviewed
    s5 exploratory, s6 crisis_to_referral     not generated
    """
    ids = store.add_scenarios(scenario_rows(db_tax, 6), plan_batch="coverage-test")
    s = {n + 1: store.get_scenario(i) for n, i in enumerate(ids)}
    assert [s[n]["emotional_arc"] for n in range(1, 7)] == [
        "triumph", "struggle_to_success", "plateau_to_breakthrough", "emergency_to_calm", "exploratory",
        "crisis_to_referral"]
    store.save_generated(make_conversation(s[1], "c1", turns=4), scenario_id=ids[0])
    store.record_review("c1", "approved", reviewer="Dana")
    store.revise_label("c1", 0, "emotion.primary", "shame", author="Dana", reason="reads as shame")
    store.save_generated(make_conversation(s[2], "c2a", turns=6), scenario_id=ids[1])
    store.record_review("c2a", "approved", reviewer="Dana")
    store.save_generated(make_conversation(s[2], "c2b", turns=8), scenario_id=ids[1])
    store.save_generated(make_conversation(s[3], "c3", turns=8), scenario_id=ids[2])
    store.record_review("c3", "rejected", reviewer="Dana", reason_code="off_voice")
    store.revise_label("c3", 1, "strategies.primary", "reframing", author="Dana")
    store.save_generated(make_conversation(s[4], "c4", turns=16), scenario_id=ids[3])
    return {"ids": ids, "scenarios": s}


def section(rows: list[dict[str, Any]], name: str) -> dict[Any, tuple[float, float | None]]:
    out = {}
    for r in rows:
        if r["section"] == name:
            key = r["a"] if r["b"] is None and r["c"] is None else (r["a"], r["b"]) if r["c"] is None else (
                r["a"], r["b"], r["c"])
            out[key] = (r["n"], r["m"])
    return out


def counts(rows: list[dict[str, Any]], name: str) -> dict[Any, float]:
    return {k: n for k, (n, _) in section(rows, name).items() if n}


def sql_rows(store: PostgresStore, tax: Taxonomy, scope: str) -> list[dict[str, Any]]:
    q = tax.targets.quality
    rows = store.coverage_counts([scope])
    assert {r["scope"] for r in rows} <= {scope}
    return rows


# -- the SQL counts ----------------------------------------------------------------------------
def test_approved_counts_only_current_approved_conversations_with_labels_in_force(
        store: PostgresStore, db_tax: Taxonomy, dataset: dict[str, Any]) -> None:
    rows = sql_rows(store, db_tax, "approved")
    assert counts(rows, "total") == {"conversations": 1, "user_turns": 2, "assistant_turns": 2}
    # c1 only: c2a was approved but a regeneration replaced it; turn 0 counts as corrected (shame, not hope)
    assert section(rows, "emotion") == {"shame": (1, 1), "confidence": (1, 1)}
    assert section(rows, "strategy") == {"empathic_validation": (2, 0), "normalizing": (0, 2)}
    assert counts(rows, "emotion_strategy") == {("shame", "empathic_validation"): 1,
                                                ("confidence", "empathic_validation"): 1}
    assert counts(rows, "exchanges") == {"2": 1}
    p1 = dataset["scenarios"][1]
    assert counts(rows, "persona_topic") == {(p1["persona"], p1["topic"]): 1}
    assert counts(rows, "arc_tier") == {("triumph", "template"): 1}
    assert counts(rows, "quality") == {("8", "approved"): 1}
    assert counts(rows, "correction") == {("emotion.primary", "hope", "shame"): 1}


def test_generated_counts_every_current_conversation(store: PostgresStore, db_tax: Taxonomy,
                                                     dataset: dict[str, Any]) -> None:
    rows = sql_rows(store, db_tax, "generated")
    assert counts(rows, "total") == {"conversations": 4, "user_turns": 18, "assistant_turns": 18}
    emotions = section(rows, "emotion")
    assert {k: n for k, (n, _) in emotions.items()} == {
        "shame": 1, "confidence": 2, "anxiety": 3 + 7, "frustration": 3, "hope": 1, "relief": 1}
    assert emotions["anxiety"][1] == 2 and emotions["confidence"][1] == 2  # conversations with it
    assert section(rows, "strategy") == {"empathic_validation": (17, 0), "reframing": (1, 0), "normalizing": (0, 18)}
    # a reply is paired with the emotion of the user turn it answers
    assert counts(rows, "emotion_strategy") == {
        ("shame", "empathic_validation"): 1, ("confidence", "empathic_validation"): 2,
        ("anxiety", "empathic_validation"): 10, ("frustration", "reframing"): 1,
        ("frustration", "empathic_validation"): 2, ("hope", "empathic_validation"): 1,
        ("relief", "empathic_validation"): 1}
    assert counts(rows, "exchanges") == {"2": 1, "4": 2, "8": 1}
    assert counts(rows, "arc_tier") == {("triumph", "template"): 1, ("struggle_to_success", "template"): 1,
                                        ("plateau_to_breakthrough", "template"): 1,
                                        ("emergency_to_calm", "template"): 1}
    assert counts(rows, "quality") == {("8", "approved"): 1, ("8", "unreviewed"): 2, ("8", "rejected"): 1}
    assert counts(rows, "correction") == {("emotion.primary", "hope", "shame"): 1,
                                          ("strategies.primary", "empathic_validation", "reframing"): 1}
    # the funnel is the whole table whatever the scope
    assert counts(rows, "funnel") == {"planned": 6, "generated": 4, "approved": 1, "rejected": 1, "unreviewed": 2}
    assert counts(rows, "status") == {"approved": 1, "generated": 2, "rejected": 1, "not_generated": 2}


def asked_exchanges(dims: dict[str, Any], tax: Taxonomy) -> int:
    """The exchanges the generator's prompt asks for (<target_turns> / 2)."""
    scenario = ScenarioDimensions.model_validate({k: dims.get(k) for k in ScenarioDimensions.model_fields})
    user = build_prompt(scenario, tax, load_seeds().conversations).user
    return int(re.search(r"<target_turns>(\d+)</target_turns>", user).group(1)) // 2  # type: ignore[union-attr]


def delta(after: coverage.Coverage, before: coverage.Coverage, frame: str) -> dict[str, float]:
    a, b = getattr(after, frame).set_index("id")["count"], getattr(before, frame).set_index("id")["count"]
    return {k: float(v) for k, v in (a - b.reindex(a.index, fill_value=0)).items() if v}


def test_planned_lists_the_scenarios_not_generated_yet_and_estimates_them(
        store: PostgresStore, db_tax: Taxonomy, dataset: dict[str, Any]) -> None:
    rows = sql_rows(store, db_tax, "planned")
    s5, s6 = dataset["scenarios"][5], dataset["scenarios"][6]
    keys = ("tier", "persona", "emotional_arc", "topic", "intent", "tone", "outcome_type", "context_id")
    listed = {json.dumps(json.loads(r["a"]), sort_keys=True): r["n"] for r in rows if r["section"] == "pending"}
    assert listed == {json.dumps({k: s[k] for k in keys}, sort_keys=True): 1.0 for s in (s5, s6)}

    got, generated = coverage.load(store, db_tax, "planned"), coverage.load(store, db_tax, "generated")
    assert got.totals["estimated"] == 2 and got.totals["conversations"] == 6
    # each pending scenario at the length its prompt asks for, with the arc's start and end emotions
    k5, k6 = asked_exchanges(s5, db_tax), asked_exchanges(s6, db_tax)
    assert got.totals["user_turns"] - generated.totals["user_turns"] == k5 + k6
    assert got.totals["assistant_turns"] - generated.totals["assistant_turns"] == k5 + k6
    exploratory = db_tax.by_id("arcs")["exploratory"]  # curiosity -> confidence
    said = coverage.arc_user_emotions(exploratory, k5)
    assert len(said) == k5 and said[0] == "curiosity" and said[-1] == "confidence"
    added = delta(got, generated, "emotions")
    assert sum(added.values()) == k5 + k6 and added["curiosity"] >= 1
    # each estimated reply counts once in all, shared among the strategies suited to what it answers
    assert sum(delta(got, generated, "strategies").values()) == pytest.approx(k5 + k6)
    assert delta(got, generated, "personas") == {p: float(n) for p, n in Counter([s5["persona"], s6["persona"]]).items()}
    # the scenarios that have a conversation are counted as they are: approved is unchanged
    assert coverage.load(store, db_tax, "approved").totals == coverage.build(
        sql_rows(store, db_tax, "approved"), db_tax, "approved").totals


def test_scenarios_with_the_same_dimensions_are_listed_once_with_their_number(
        store: PostgresStore, db_tax: Taxonomy) -> None:
    row = scenario_rows(db_tax, 1)[0]
    store.add_scenarios([row, row, row])
    [pending] = [r for r in sql_rows(store, db_tax, "planned") if r["section"] == "pending"]
    assert pending["n"] == 3
    cov = coverage.load(store, db_tax, "planned")
    assert cov.totals["estimated"] == 3
    assert cov.lengths["count"].sum() == 3


def test_the_estimated_lengths_are_the_lengths_the_generator_asks_for(
        store: PostgresStore, db_tax: Taxonomy) -> None:
    rows = [s.as_dict() for s in plan(db_tax, 60, seed=5).scenarios]
    store.add_scenarios(rows)
    cov = coverage.load(store, db_tax, "planned")
    estimated = {int(r["a"]): r["n"] for r in coverage.estimate_rows(
        [r for r in cov.rows if r["section"] == "pending"], db_tax) if r["section"] == "exchanges"}
    asked = Counter(asked_exchanges(r, db_tax) for r in rows)
    assert estimated == asked
    assert set(asked) == set(coverage.generator_exchanges(db_tax))  # every length the generator picks was drawn


def test_a_previewed_plan_counts_as_it_will_once_added(store: PostgresStore, db_tax: Taxonomy,
                                                       dataset: dict[str, Any]) -> None:
    before = coverage.load(store, db_tax, "planned")
    new = [s.as_dict() for s in plan(db_tax, 30, seed=2, existing=store.list_scenarios()).scenarios]
    preview = coverage.with_added(before, new, db_tax)
    store.add_scenarios(new)
    stored = coverage.load(store, db_tax, "planned")
    assert preview.totals == pytest.approx(stored.totals)
    for name in ("emotions", "strategies", "emotion_strategy", "personas", "topics", "persona_topic", "arc_tier",
                 "lengths", "funnel"):
        assert list(getattr(preview, name)["count"]) == pytest.approx(list(getattr(stored, name)["count"])), name


def test_arc_user_emotions_follow_the_milestones(db_tax: Taxonomy) -> None:
    triumph = db_tax.by_id("arcs")["triumph"]  # milestones: 0 hope, 0.35 curiosity, 0.6 hope, 1.0 confidence
    assert [m.position for m in triumph.milestones] == [0.0, 0.35, 0.6, 1.0]
    assert coverage.arc_user_emotions(triumph, 6) == ["hope", "hope", "curiosity", "hope", "hope", "confidence"]
    assert coverage.arc_user_emotions(triumph, 2) == ["hope", "confidence"]
    assert coverage.arc_user_emotions(triumph, 1) == ["hope"]


def test_coverage_counts_checks_its_arguments_and_the_callers_role(
        conn: Conn, store: PostgresStore, db_tax: Taxonomy, dataset: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput, match="scopes must be approved, generated or planned, not everything"):
        store.coverage_counts("everything")
    with pytest.raises(InvalidInput, match="scopes must be approved, generated or planned, not none"):
        store.coverage_counts([])
    call = "select count(*) as n from public.coverage_counts(p_scopes => '{generated}')"
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        with as_role(conn, "anon"):
            conn.execute(call)
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="read the coverage counts"):
        with as_role(conn, "authenticated"):
            conn.execute(call)  # signed in but not a member
    viewer = add_member(conn, "viewer")
    with as_role(conn, "authenticated", viewer):
        assert conn.execute(call).fetchone()["n"] > 10


# -- tables, targets and gaps -----------------------------------------------------------------
def test_build_puts_names_colours_and_targets_on_the_counts(store: PostgresStore, db_tax: Taxonomy,
                                                            dataset: dict[str, Any]) -> None:
    cov = coverage.load(store, db_tax, "generated")
    e = cov.emotions.set_index("id")
    assert list(cov.emotions["id"]) == db_tax.ids("emotions")  # every emotion, in taxonomy order
    assert e.loc["anxiety", "count"] == 10 and e.loc["grief", "count"] == 0
    assert e.loc["anxiety", "colour"] == db_tax.by_id("emotions")["anxiety"].color
    assert set(e["target"]) == {db_tax.targets.per_emotion_min}
    assert len(cov.emotion_strategy) == len(db_tax.emotions) * len(db_tax.strategies)  # the full grid
    assert len(cov.persona_topic) == len(db_tax.personas) * len(db_tax.topics)
    assert cov.personas["count"].sum() == 4 and cov.topics["count"].sum() == 4
    assert set(cov.personas["target"]) == {90 // len(db_tax.personas)}  # an even share of 50 + 30 + 10
    lengths = cov.lengths.set_index("id")
    # 2, 4, 4 and 8 exchanges: 2 is below the short bucket (4 exchanges), so it is counted apart
    assert lengths["count"].to_dict() == {"short": 2, "medium": 0, "long": 1, "other": 1}
    assert lengths["target"].dropna().to_dict() == {"short": 50, "medium": 30, "long": 10}
    assert cov.funnel.set_index("stage")["count"].to_dict() == {"planned": 6, "generated": 4, "approved": 1}
    assert cov.corrections.set_index("field")["old_name"].to_dict() == {
        "emotion.primary": "Hope", "strategies.primary": "Empathic validation"}


def test_gaps_list_every_target_not_met_and_by_how_much(store: PostgresStore, db_tax: Taxonomy,
                                                        dataset: dict[str, Any]) -> None:
    cov = coverage.load(store, db_tax, "generated")
    gaps = coverage.gaps(cov, db_tax)
    by = {(r.kind, r.id): r for r in gaps.itertuples(index=False)}
    assert by[("emotion", "anxiety")].short_by == 40 and by[("emotion", "grief")].short_by == 50
    assert by[("strategy", "empathic_validation")].short_by == 3  # 17 of 20
    assert by[("strategy", "reframing")].short_by == 19
    short = by[("length", "short")]
    assert short.short_by == 48 and short.plannable and "56%" in short.how  # 50 of the 90 conversations targets ask for
    assert by[("length", "long")].short_by == 9
    # every emotion, strategy, persona and topic is under target with 4 conversations: nothing met is listed
    summary = coverage.target_summary(cov, db_tax)
    assert summary["emotion"] == (0, 11) and summary["length"] == (0, 3)
    assert len(gaps) == sum(t - m for m, t in summary.values())
    assert list(gaps["kind"].drop_duplicates()) == ["emotion", "strategy", "length", "persona", "topic"]
    emotion_gaps = gaps[gaps["kind"] == "emotion"]["short_by"].tolist()
    assert emotion_gaps == sorted(emotion_gaps, reverse=True)  # biggest first


def test_gap_weights_are_conversations_the_planner_understands(db_tax: Taxonomy) -> None:
    default = [s.as_dict() for s in plan(db_tax, 90).scenarios]
    cov = coverage.build(coverage.pending_rows(default), db_tax, "planned")
    gaps = coverage.gaps(cov, db_tax)
    weights = coverage.gap_weights(gaps, db_tax)
    assert weights and set(weights) <= {"emotions", "strategies", "personas", "topics"}
    yields = coverage.label_yields(db_tax)
    for r in gaps[gaps["plannable"] & (gaps["kind"] != "length")].itertuples(index=False):
        dim = coverage.KINDS[r.kind][2]
        assert weights[dim][r.id] == pytest.approx(r.short_by / yields[(r.kind, r.id)], abs=1e-3)
    assert "length" not in {k for k in weights}  # lengths cannot be planned
    plan(db_tax, 10, existing=default, weights=weights)  # the planner accepts them
    assert coverage.suggested_rows(weights) == math.ceil(max(sum(v.values()) for v in weights.values()))


def test_fill_plan_closes_the_plannable_gaps_of_the_default_plan(db_tax: Taxonomy) -> None:
    default = [s.as_dict() for s in plan(db_tax, 90).scenarios]
    cov = coverage.build(coverage.pending_rows(default), db_tax, "planned")
    before = coverage.gaps(cov, db_tax)
    assert before["plannable"].any()
    result = coverage.fill_plan(tax=db_tax, planned=cov, existing=default)
    assert result.n == len(result.plan.scenarios) > 0
    after = coverage.gaps(result.after, db_tax)
    # what is left is held back by the sensitive cap (distress: only crisis_to_referral starts in it), and the
    # gap says so with the rule's name
    left = after[after["plannable"]]
    assert set(left["id"]) <= {"distress"} and result.closes_all == left.empty
    assert all("plausibility.sensitive" in how for how in left["how"])
    # the change table: every gap before, now met, except what planning cannot fill
    change = result.change.set_index("name")
    for r in before.itertuples(index=False):
        if r.plannable:  # a length gap may be met too: more scenarios of any kind add lengths
            assert change.loc[r.name, "met"] == (r.id not in set(left["id"]))
        assert change.loc[r.name, "before"] == pytest.approx(r.count)
    # smaller plans fall short, so the size found is the smallest that closes everything
    smaller = coverage.fill_plan(db_tax, cov, default, result.n - 1)
    assert not smaller.closes_all and smaller.n == result.n - 1
    # the same inputs give the same plan (the preview is recomputed on every rerun)
    again = coverage.fill_plan(db_tax, cov, default, result.n)
    assert [s.as_dict() for s in again.plan.scenarios] == [s.as_dict() for s in result.plan.scenarios]


def test_nothing_to_plan_when_no_plannable_gap(db_tax: Taxonomy) -> None:
    cov = coverage.build([], db_tax, "planned")
    assert coverage.suggested_rows({}) == 0
    empty = coverage.gaps(coverage.build([], db_tax, "approved"), db_tax)
    assert len(empty) == 11 + 11 + 3 + 18 + 27  # every target unmet on an empty database
    assert coverage.fill_plan(db_tax, cov, [], 0).n == 0


def test_figures_build_on_an_empty_database_and_on_data(store: PostgresStore, db_tax: Taxonomy) -> None:
    for cov in (coverage.build([], db_tax, "approved"), coverage.load(store, db_tax, "planned")):
        figs = coverage.figures(cov, db_tax)
        assert tuple(figs) == coverage.FIGURES


def test_coverage_version_changes_with_what_the_counts_read(store: PostgresStore, db_tax: Taxonomy,
                                                            dataset: dict[str, Any]) -> None:
    before = store.coverage_version()
    assert store.coverage_version() == before  # stable while nothing changes
    store.record_review("c4", "approved", reviewer="Dana")
    after_review = store.coverage_version()
    assert after_review != before
    store.revise_label("c4", 2, "emotion.primary", "grief", author="Dana")
    after_label = store.coverage_version()
    assert after_label != after_review
    store.add_scenarios(scenario_rows(db_tax, 1))
    assert store.coverage_version() != after_label
