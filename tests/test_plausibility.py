"""Plausibility as taxonomy data (taxonomy/plausibility.yaml): the rules load and are checked, the default
plan keeps them, Coverage names a rule that makes a target impossible, and one min_turns setting moves the
lengths of the generator, the prompts, the turn-count check and Coverage together."""
from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

import lib.coverage as coverage
from lib.core.checks.structure import turn_count
from lib.core.models import Conversation, ScenarioDimensions
from lib.core.planner import plan
from lib.core.plausibility import row_problems
from lib.core.taxonomy import Taxonomy, TaxonomyError, load_taxonomy
from lib.generation.prompting import build_prompt, length_weights, target_turns, turn_choices

ROOT = Path(__file__).resolve().parent.parent


def clusters(tax: Taxonomy) -> dict[str, list[str]]:
    return {c.id: [t.id for t in c.topics] for c in tax.topic_clusters}


# ---- the rules as data -------------------------------------------------------------------------
@pytest.fixture
def folder(tmp_path: Path) -> Path:
    target = tmp_path / "taxonomy"
    shutil.copytree(ROOT / "taxonomy", target)
    return target


def edit(folder: Path, filename: str, change: Any) -> None:
    file = folder / filename
    data = yaml.safe_load(file.read_text())
    change(data)
    file.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


@pytest.mark.parametrize("filename, change, expected", [
    ("plausibility.yaml", lambda d: d["plausibility"]["tier_arcs"]["template"].append("joyride"),
     r"plausibility.yaml: plausibility.tier_arcs.template\[5\]: unknown arc 'joyride'"),
    ("plausibility.yaml", lambda d: d["plausibility"]["persona_topics"].update(ghost=["retirement"]),
     r"plausibility.yaml: plausibility.persona_topics: unknown persona 'ghost'"),
    ("plausibility.yaml", lambda d: d["plausibility"]["arc_fit"]["triumph"].update(tones=["giddy"]),
     r"plausibility.yaml: plausibility.arc_fit.triumph.tones: unknown tone 'giddy'"),
    ("plausibility.yaml", lambda d: d["plausibility"]["sensitive"].update(max_share=1.5),
     r"plausibility.yaml: plausibility.sensitive.max_share: Input should be less than or equal to 1"),
    ("variation.yaml", lambda d: d["variation"]["arc_trajectories"].update(triumph=["spiral"]),
     r"variation.yaml: variation.arc_trajectories.triumph: unknown trajectory 'spiral'"),
    ("contexts.yaml", lambda d: d["scenario_contexts"][0].update(fixed_facts=["$1,234,567"]),
     r"contexts.yaml: scenario_contexts\[0\].fixed_facts\[0\]: '\$1,234,567' is not in the context text"),
    # a context whose only persona may not meet any of its topics can plan nothing
    ("plausibility.yaml", lambda d: d["plausibility"]["persona_topics"].update(small_business_owner=["home_buying"]),
     r"contexts.yaml: scenario_contexts\[0\]: no persona, arc and topic of this context fit together"),
])
def test_a_broken_rule_is_one_line_naming_file_and_key(folder: Path, filename: str, change: Any, expected: str) -> None:
    edit(folder, filename, change)
    with pytest.raises(TaxonomyError, match=expected):
        load_taxonomy(folder)


def test_a_vertical_without_the_optional_files_has_no_rules() -> None:
    support = load_taxonomy(ROOT / "tests" / "fixtures" / "taxonomy_support")
    assert support.plausibility.tier_arcs == {} and support.variation.backgrounds == []
    rows = [s.as_dict() for s in plan(support, 30).scenarios]
    assert not any(row_problems(support.plausibility, r, clusters(support)) for r in rows)


def test_tier_one_is_the_module_specs_five_templates(tax: Taxonomy) -> None:
    assert tax.plausibility.tier_arcs["template"] == [
        "triumph", "struggle_to_success", "plateau_to_breakthrough", "emergency_to_calm", "exploratory"]


def test_row_problems_name_the_rule_a_row_breaks(tax: Taxonomy) -> None:
    # Regression: "mid-career professional x crisis_to_referral x index funds x objection handling" was planned.
    row = {"tier": "template", "persona": "mid_career_professional", "emotional_arc": "crisis_to_referral",
           "topic": "index_funds_vs_stocks", "intent": "objection_handling", "tone": "urgent", "outcome_type": "referral"}
    names = [name for name, _ in row_problems(tax.plausibility, row, clusters(tax))]
    assert names == ["plausibility.tier_arcs.template", "plausibility.arc_topics.crisis_to_referral",
                     "plausibility.arc_fit.crisis_to_referral"]
    fine = {**row, "emotional_arc": "exploratory", "intent": "understand_options", "tone": "casual",
            "outcome_type": "resolved", "topic": "first_portfolio"}
    assert row_problems(tax.plausibility, fine, clusters(tax)) == []


# ---- the default plan ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def seed_rows() -> list[dict[str, Any]]:
    from lib.core.seeds import load_seeds

    return [c.scenario.model_dump() for c in load_seeds().conversations]


def test_a_fresh_install_plans_90_new_rows_at_40_35_15_within_the_rules(tax: Taxonomy,
                                                                       seed_rows: list[dict[str, Any]]) -> None:
    # Regression: the default plan gave 80 new rows at 36/32/12, 15 of 36 tier-1 rows on template arcs and
    # 8 of 80 crisis rows.
    rows = [s.as_dict() for s in plan(tax, 90, existing=seed_rows).scenarios]
    assert len(rows) == 90 and Counter(r["tier"] for r in rows) == {"template": 40, "scenario": 35, "edge_case": 15}
    assert {r["emotional_arc"] for r in rows if r["tier"] == "template"} <= set(tax.plausibility.tier_arcs["template"])
    crisis = sum(r["emotional_arc"] in tax.plausibility.sensitive_arcs for r in rows + seed_rows)
    assert crisis <= tax.plausibility.sensitive.cap(100) == 5
    assert [r for r in rows if row_problems(tax.plausibility, r, clusters(tax))] == []


def test_the_sensitive_cap_holds_when_weights_ask_for_more(tax: Taxonomy) -> None:
    rows = plan(tax, 200, weights={"arcs": {"crisis_to_referral": 150}}).scenarios
    assert sum(r.emotional_arc == "crisis_to_referral" for r in rows) <= 10


def test_coverage_opens_with_no_impossible_target(tax: Taxonomy, seed_rows: list[dict[str, Any]]) -> None:
    rows = seed_rows + [s.as_dict() for s in plan(tax, 90, existing=seed_rows).scenarios]
    for scope_rows in (rows, []):
        gaps = coverage.gaps(coverage.build(coverage.pending_rows(scope_rows), tax, "planned"), tax)
        assert not gaps["how"].str.startswith("Impossible").any(), gaps[["id", "how"]]
    # the generator's lengths follow the buckets' targets: the planned table meets every length target but
    # the short one by a few (the lengths are drawn per scenario)
    planned = coverage.build(coverage.pending_rows(rows), tax, "planned").lengths.set_index("id")
    assert planned.loc["short", "count"] >= 45 and planned.loc["medium", "count"] >= 30
    assert planned.loc["long", "count"] >= 10


def test_a_rule_that_makes_a_target_impossible_is_named(folder: Path, tax: Taxonomy) -> None:
    edit(folder, "targets.yaml", lambda d: d["targets"]["length_buckets"][0].update(min_exchanges=2, max_exchanges=3))
    # a persona that no context needs alone, left no topic: no plausible row can hold it
    alone = {c.personas[0] for c in [*tax.scenario_contexts, *tax.edge_cases] if len(c.personas) == 1}
    persona = next(p for p in tax.ids("personas") if p not in alone)
    edit(folder, "plausibility.yaml", lambda d: d["plausibility"]["persona_topics"].update({persona: []}))
    changed = load_taxonomy(folder)
    gaps = coverage.gaps(coverage.build([], changed, "planned"), changed).set_index(["kind", "id"])
    short = gaps.loc[("length", "short")]
    assert not short.plannable and short.how.startswith("Impossible under rule targets.quality.min_turns")
    blocked = gaps.loc[("persona", persona)]
    assert not blocked.plannable and f"plausibility.persona_topics.{persona}" in blocked.how
    assert persona not in {s.persona for s in plan(changed, 120).scenarios}
    # distress: only the capped crisis arc carries it. Not impossible, a bigger table: the note says how big
    distress = gaps.loc[("emotion", "distress")]
    assert not distress.plannable and distress.how.startswith("Needs a bigger table")
    assert "rule plausibility.sensitive" in distress.how and "scenarios in all" in distress.how


# ---- one min_turns setting -------------------------------------------------------------------
def test_lowering_min_turns_moves_generator_prompts_checks_and_coverage(folder: Path,
                                                                        seeds: dict[str, Conversation]) -> None:
    def short_conversations(d: dict[str, Any]) -> None:
        d["targets"]["quality"]["min_turns"] = 4
        d["targets"]["length_buckets"][0].update(min_exchanges=2, max_exchanges=3)
    edit(folder, "targets.yaml", short_conversations)
    tax = load_taxonomy(folder)
    assert turn_choices(tax) == [4, 6, 8, 10, 12, 14, 16]
    assert length_weights(tax)[4] > 0 and length_weights(tax)[6] > 0
    rows = [s.as_dict() for s in plan(tax, 200).scenarios]
    assert {target_turns(r, tax) for r in rows} >= {4, 6}
    sc = ScenarioDimensions(**{k: v for k, v in rows[0].items()})
    assert "<min_turns>4</min_turns>" in build_prompt(sc, tax, list(seeds.values())).system
    four = seeds["seed-08"].model_copy(update={"turns": seeds["seed-08"].turns[:4]})
    assert turn_count(four, four.turns, tax).fraction == 1
    gaps = coverage.gaps(coverage.build([], tax, "planned"), tax)
    assert not gaps["how"].str.startswith("Impossible").any()


def test_an_emotion_no_tier_may_plan_names_the_tier_rule(tax: Taxonomy) -> None:
    from lib.core.plausibility import Plausibility
    from lib.coverage.rules import blocking_rule

    narrow = tax.model_copy(update={"plausibility": Plausibility(
        tier_arcs={"template": ["triumph"], "scenario": [], "edge_case": []})})
    assert "plausibility.tier_arcs" in (blocking_rule(narrow, "emotion", "shame") or "")
    assert blocking_rule(narrow, "emotion", "hope") is None  # triumph starts in hope
    assert blocking_rule(tax, "emotion", "shame") is None
