"""The quality checks: every seed passes, and every check has a failing case with a clear reason."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lib.core.models import CheckResult, Conversation, UserTurn
from lib.core.taxonomy import Taxonomy
from lib.core.validation import (
    CHECKS,
    HARD_SCORE_CAP,
    QualityReport,
    check_conversation,
)

ROOT = Path(__file__).resolve().parent.parent


def result(conv: Conversation, tax: Taxonomy, name: str):
    return next(c for c in check_conversation(conv, tax).checks if c.name == name)


def test_every_seed_passes_every_check_and_scores_at_least_8(seeds: dict[str, Conversation], tax: Taxonomy) -> None:
    assert len(seeds) == 10
    for conv in seeds.values():
        report = check_conversation(conv, tax)
        assert report.passed, (conv.id, [f"{c.name}: {c.reason}" for c in report.failures])
        assert report.score >= 8


def test_seeds_cover_different_personas_arcs_and_tiers(seeds: dict[str, Conversation]) -> None:
    scen = [c.scenario for c in seeds.values()]
    assert len({s.persona for s in scen}) == 10
    assert len({s.emotional_arc for s in scen}) >= 8
    assert {s.tier for s in scen} == {"template", "scenario", "edge_case"}
    crisis = [c for c in seeds.values() if c.scenario.emotional_arc == "crisis_to_referral"]
    assert crisis and "988" in " ".join(t.text for t in crisis[0].turns if t.role == "assistant")


def test_seed_labels_are_complete(seeds: dict[str, Conversation]) -> None:
    for conv in seeds.values():
        for i, turn in enumerate(conv.turns):
            if isinstance(turn, UserTurn):
                assert turn.emotion.cues, (conv.id, i)
                for cue in turn.emotion.cues:
                    assert cue.lower() in turn.text.lower(), (conv.id, i, cue)
            else:
                assert turn.sentence_functions and turn.learning_objective and turn.intended_effect, (conv.id, i)


def break_turn_count(c: Conversation) -> None:
    del c.turns[2:]


def break_alternation(c: Conversation) -> None:
    c.turns[1], c.turns[2] = c.turns[2], c.turns[1]


def break_lengths(c: Conversation) -> None:
    c.turns[0].text = "Help me please."


def break_labels(c: Conversation) -> None:
    c.turns[1].strategies.primary = "telepathy"


def break_arc(c: Conversation) -> None:
    c.turns[-2].emotion.primary = c.turns[0].emotion.primary


def break_consistency(c: Conversation) -> None:
    for t in c.turns:
        t.text = " ".join(["something"] * (30 if t.role == "user" else 60)) + f" {id(t)}"


def break_duplicates(c: Conversation) -> None:
    c.turns[2].text = c.turns[0].text


# The checks of the first version, with the reasons they give. tests/test_integrity.py breaks
# every check, these included, in several ways on every seed.
BREAKERS = {
    "turn_count": (break_turn_count, "2 turns; a conversation needs 8-16 turns"),
    "alternation": (break_alternation, "turn 1 (user) follows turn 0, also a user turn; roles must alternate"),
    "lengths": (break_lengths, "turn 0 (user) has 3 words, allowed 20-150"),
    "known_labels": (break_labels, "unknown labels: turn 1 strategy 'telepathy'"),
    "arc_realized": (break_arc, "the last user turn (turn 8) is anxiety, the struggle_to_success arc ends in confidence"),
    "consistency": (break_consistency, "nothing in the user's turns (turns 0, 2, 4, 6, 8) shows the persona"),
    "no_empty_or_duplicate": (break_duplicates, "turn 2 repeats turn 0 word for word"),
}


def test_arc_realized_names_a_first_turn_that_starts_elsewhere(seed: Conversation, tax: Taxonomy) -> None:
    seed.turns[0].emotion.primary = seed.turns[-2].emotion.primary
    failed = result(seed, tax, "arc_realized")
    assert not failed.passed
    assert "the first user turn (turn 0) is confidence, the struggle_to_success arc starts in anxiety" in failed.reason
    assert "last user turn" not in failed.reason


def test_the_first_checks_are_still_there() -> None:
    assert set(BREAKERS) <= {c.name for c in CHECKS}


@pytest.mark.parametrize("name", list(BREAKERS))
def test_check_passes_on_a_seed_and_fails_with_its_reason_when_broken(name: str, seed: Conversation,
                                                                       tax: Taxonomy) -> None:
    assert result(seed, tax, name).passed
    breaker, reason = BREAKERS[name]
    breaker(seed)
    failed = result(seed, tax, name)
    assert not failed.passed
    assert reason in failed.reason
    assert check_conversation(seed, tax).score < 10


def test_revised_labels_are_what_gets_checked(seed: Conversation, tax: Taxonomy) -> None:
    seed.revise(0, "emotion.primary", "no_such_emotion", source="automated", author="bot")
    failed = result(seed, tax, "known_labels")
    assert not failed.passed and "no_such_emotion" in failed.reason


def test_validation_cli_prints_one_line_per_file_naming_the_check_and_the_turn(tmp_path: Path, seed: Conversation) -> None:
    break_labels(seed)
    seed.turns[2].emotion.cues[0] = "a cue the turn does not contain"
    (tmp_path / "bad.json").write_text(seed.model_dump_json())
    (tmp_path / "broken.json").write_text("{not json")
    res = subprocess.run([sys.executable, "-m", "lib.validation", str(tmp_path)], cwd=ROOT,
                         capture_output=True, text=True, check=False)
    assert res.returncode == 1
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 2
    bad = next(line for line in lines if "bad.json" in line)
    assert "FAILED" in bad and "known_labels [hard]: unknown labels: turn 1 strategy 'telepathy'" in bad
    assert 'cues_in_text [hard]: turn 2 (user): emotion.cues[0] "a cue the turn does not contain"' in bad
    assert "broken.json: does not load" in res.stdout


@pytest.mark.parametrize("command", [["-m", "lib.validation", "seeds"], ["-m", "lib", "validate", "seeds"]])
def test_the_seeds_pass_on_the_command_line(command: list[str]) -> None:
    res = subprocess.run([sys.executable, *command], cwd=ROOT, capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 10 and all(line.endswith("score 10/10, all checks pass") for line in lines)


def test_an_empty_folder_is_an_error_not_a_pass(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "lib", "validate", str(tmp_path)], cwd=ROOT,
                         capture_output=True, text=True, check=False)
    assert res.returncode == 1 and "no .json files" in res.stderr


# ---- the report --------------------------------------------------------------------------------
def test_hard_and_soft_failures(seed: Conversation, tax: Taxonomy) -> None:
    seed.turns[1].text = seed.turns[1].text.rstrip(".") + ", and"
    seed.turns[1].sentence_functions[-1].sentence = seed.turns[1].sentence_functions[-1].sentence.rstrip(".") + ", and"
    soft = check_conversation(seed, tax)
    assert [c.name for c in soft.failures] == ["finished_turns"]
    assert not soft.blocks_approval and soft.hard_failures == [] and soft.score == 9
    assert [c.name for c in soft.repairable_failures] == ["finished_turns"]
    seed.turns[0].emotion.secondary = seed.turns[0].emotion.primary
    hard = check_conversation(seed, tax)
    assert [c.name for c in hard.hard_failures] == ["distinct_labels"] and hard.blocks_approval
    assert hard.score <= HARD_SCORE_CAP
    assert [f.turn for f in hard.findings_for(0)] == [0] and hard.findings_for(0)[0].check == "distinct_labels"


def test_a_report_rebuilt_from_the_stored_quality_block_keeps_working(seed: Conversation, tax: Taxonomy) -> None:
    seed.turns[0].emotion.secondary = seed.turns[0].emotion.primary
    quality = check_conversation(seed, tax).to_quality()
    rebuilt = QualityReport(score=quality.score or 1, checks=list(quality.checks))
    assert rebuilt.blocks_approval and [c.name for c in rebuilt.hard_failures] == ["distinct_labels"]
    assert rebuilt.findings == []


def test_a_failed_check_this_version_does_not_know_counts_as_hard() -> None:
    report = QualityReport(score=6, checks=[CheckResult(name="retired_check", passed=False, reason="x")])
    assert report.blocks_approval and report.repairable_failures == []
