"""The taxonomy loads, holds what the customer asked for, and rejects bad input in one line."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lib.core.taxonomy import Taxonomy, TaxonomyError, load_taxonomy

ROOT = Path(__file__).resolve().parent.parent
SUPPORT = ROOT / "tests" / "fixtures" / "taxonomy_support"


def test_financial_taxonomy_meets_the_minimums(tax: Taxonomy) -> None:
    c = tax.counts()
    assert c["emotions"] >= 8 and c["strategies"] >= 7
    assert 15 <= c["personas"] <= 20
    assert c["arcs"] >= 9 and c["topics"] >= 25
    assert c["scenario_contexts"] >= 35 and c["edge_cases"] >= 15
    assert {"triumph", "struggle_to_success", "plateau_to_breakthrough", "emergency_to_calm", "exploratory",
            "crisis_to_referral", "confusion_to_clarity", "hostility_to_boundary",
            "shame_to_empowerment"} <= set(tax.ids("arcs"))
    assert {"overwhelmed_avoider", "anxious_planner", "pragmatic_optimist", "anxious_first_time_investor",
            "mid_career_professional", "recent_retiree", "small_business_owner"} <= set(tax.ids("personas"))
    assert {t.id: t.default_count for t in tax.tiers} == {"template": 40, "scenario": 35, "edge_case": 15}
    assert tax.targets.per_emotion_min == 50 and tax.targets.per_strategy_min == 20
    assert tax.vertical.brand_voice.name == "Elena Morales"


def test_every_emotion_has_a_distinct_colour(tax: Taxonomy) -> None:
    colours = [e.color.lower() for e in tax.emotions]
    assert len(set(colours)) == len(colours)


def test_names_are_display_names_in_taxonomy_order_topics_across_clusters(tax: Taxonomy) -> None:
    assert list(tax.names("tiers").values()) == [t.name for t in tax.tiers]
    topics = [t for c in tax.topic_clusters for t in c.topics]
    assert tax.names("topics") == {t.id: t.name for t in topics} and len(tax.names("topics")) == len(topics)


def test_a_second_vertical_loads_with_no_code_change() -> None:
    support = load_taxonomy(SUPPORT)
    assert support.vertical.id != "financial_planning"
    assert support.counts()["personas"] >= 2


def test_check_cli_prints_counts_and_exits_zero() -> None:
    res = subprocess.run([sys.executable, "-m", "lib.core.taxonomy_cli", "check"], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "personas" in res.stdout and "OK" in res.stdout


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    """A copy of the support vertical that a test may break."""
    target = tmp_path / "tax"
    shutil.copytree(SUPPORT, target)
    return target


def edit(folder: Path, filename: str, change) -> None:
    file = folder / filename
    data = yaml.safe_load(file.read_text())
    change(data)
    file.write_text(yaml.safe_dump(data, sort_keys=False))


def first_emotion_id(folder: Path) -> str:
    return yaml.safe_load((folder / "emotions.yaml").read_text())["emotions"][0]["id"]


@pytest.mark.parametrize(
    "filename, change, expected",
    [
        ("arcs.yaml", lambda d: d["arcs"][0].update(start_emotion="panic_attack"),
         r"arcs.yaml: arcs\[0\].start_emotion: unknown emotion 'panic_attack'"),
        ("personas.yaml", lambda d: d["personas"].append(dict(d["personas"][0])),
         r"personas.yaml: personas\[\d+\].id: duplicate id"),
        ("emotions.yaml", lambda d: d["emotions"][0].update(valence=3),
         r"emotions.yaml: emotions\[0\].valence: Input should be less than or equal to 1"),
        ("strategies.yaml", lambda d: d["strategies"][0].pop("when_to_use"),
         r"strategies.yaml: strategies\[0\].when_to_use: Field required"),
        ("contexts.yaml", lambda d: d["edge_cases"][0].update(resolution_strategy="hugging"),
         r"contexts.yaml: edge_cases\[0\].resolution_strategy: unknown strategy 'hugging'"),
        ("emotions.yaml", lambda d: d["emotions"][0].update(suited_strategies=["nope"]),
         r"emotions.yaml: emotions\[0\].suited_strategies\[0\]: unknown strategy 'nope'"),
        ("dimensions.yaml", lambda d: d.pop("tones"), r"dimensions.yaml: tones: missing field"),
        ("emotions.yaml", lambda d: d["emotions"][1]["sub_emotions"].append(d["emotions"][0]["sub_emotions"][0]),
         r"emotions.yaml: emotions\[1\].sub_emotions\[\d+\]: sub-emotion '\w+' is already in the"),
        ("targets.yaml", lambda d: d["targets"]["quality"].update(min_turns=20),
         r"targets.yaml: targets.quality.min_turns: 20 is above max_turns"),
        ("contexts.yaml", lambda d: d["edge_cases"].append(dict(d["edge_cases"][0])),
         r"contexts.yaml: edge_cases\[\d+\].id: duplicate id"),
    ],
    ids=["unknown-emotion-in-arc", "duplicate-id", "out-of-range", "missing-field", "unknown-strategy",
         "unknown-suited-strategy", "missing-dimension", "duplicate-sub-emotion", "bad-quality-rule",
         "duplicate-id-last-dimension"],
)
def test_bad_taxonomy_fails_with_one_line_naming_file_and_key(broken: Path, filename, change, expected) -> None:
    edit(broken, filename, change)
    with pytest.raises(TaxonomyError, match=expected) as info:
        load_taxonomy(broken)
    assert "\n" not in str(info.value)


def test_broken_yaml_makes_the_check_cli_exit_one_with_one_line(broken: Path) -> None:
    (broken / "tones.yaml").write_text("")  # stray file is fine
    (broken / "arcs.yaml").write_text("arcs:\n  - id: x\n    name: [unclosed\n")
    res = subprocess.run([sys.executable, "-m", "lib.core.taxonomy_cli", "check", str(broken)], cwd=ROOT,
                         capture_output=True, text=True)
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "arcs.yaml" in lines[0] and "not valid YAML" in lines[0]


def test_missing_file_is_named(broken: Path) -> None:
    (broken / "personas.yaml").unlink()
    with pytest.raises(TaxonomyError, match="personas.yaml: file is missing"):
        load_taxonomy(broken)
