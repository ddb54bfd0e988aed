"""The quality checks: every seed passes, and every check has a failing case with a clear reason."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lib.core.models import Conversation, UserTurn
from lib.core.taxonomy import Taxonomy
from lib.core.validation import CHECKS, check_conversation

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


BREAKERS = {
    "turn_count": (break_turn_count, "2 turns; a conversation needs 8-16 turns"),
    "alternation": (break_alternation, "roles must alternate"),
    "lengths": (break_lengths, "turn 0 (user) has 3 words, allowed 20-150"),
    "known_labels": (break_labels, "strategy 'telepathy'"),
    "arc_realized": (break_arc, "the last user turn is"),
    "consistency": (break_consistency, "nothing in the text shows the persona"),
    "no_empty_or_duplicate": (break_duplicates, "turn 2 repeats turn 0"),
}


def test_every_check_has_a_failing_case() -> None:
    assert set(BREAKERS) == {c.name for c in CHECKS}


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


def test_validation_cli_reports_each_file(tmp_path: Path, seed: Conversation) -> None:
    break_labels(seed)
    (tmp_path / "bad.json").write_text(seed.model_dump_json())
    (tmp_path / "broken.json").write_text("{not json")
    res = subprocess.run([sys.executable, "-m", "lib.validation", str(tmp_path)], cwd=ROOT,
                         capture_output=True, text=True)
    assert res.returncode == 1
    assert "bad.json: score" in res.stdout and "telepathy" in res.stdout
    assert "broken.json: does not load" in res.stdout
    ok = subprocess.run([sys.executable, "-m", "lib.validation", "seeds"], cwd=ROOT, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout
