"""The dataset format: round-trips, label revisions, the JSON Schema file."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from lib.core import labels
from lib.core.models import Conversation, LabelRevision, json_schema

ROOT = Path(__file__).resolve().parent.parent
SEEDS = sorted((ROOT / "seeds").glob("*.json"))


def load(path: Path) -> Conversation:
    return Conversation.model_validate(json.loads(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.stem)
def test_seed_round_trips_through_json(path: Path) -> None:
    conv = load(path)
    again = Conversation.model_validate_json(conv.model_dump_json())
    assert again == conv
    assert again.model_dump(mode="json") == conv.model_dump(mode="json")


def test_there_are_ten_seeds() -> None:
    assert len(SEEDS) == 10


def test_unknown_field_is_rejected(seed: Conversation) -> None:
    data = seed.model_dump(mode="json")
    data["turns"][0]["emotion"]["mood"] = "sad"
    with pytest.raises(ValidationError, match="mood"):
        Conversation.model_validate(data)


def test_intensity_out_of_range_is_rejected(seed: Conversation) -> None:
    data = seed.model_dump(mode="json")
    data["turns"][0]["emotion"]["intensity"] = 1.4
    with pytest.raises(ValidationError, match="intensity"):
        Conversation.model_validate(data)


def test_tier_two_scenario_needs_context(seed: Conversation) -> None:
    data = seed.model_dump(mode="json")
    data["scenario"].update(tier="scenario", context=None)
    with pytest.raises(ValidationError, match="needs its context"):
        Conversation.model_validate(data)


def test_revision_is_appended_and_becomes_current_without_overwriting(seed: Conversation) -> None:
    conv = seed.model_copy(deep=True)
    original = conv.turns[0].emotion.primary
    rev = conv.revise(0, "emotion.primary", "shame", source="human_review", author="dana", reason="self-blame")
    assert rev.old_value == original
    assert conv.turns[0].emotion.primary == original  # the first-pass label stays
    assert conv.current_value(0, "emotion.primary") == "shame"
    assert conv.current_turns()[0].emotion.primary == "shame"
    conv.revise(0, "emotion.primary", "grief", source="operator_realtime", author="lee")
    assert conv.current_value(0, "emotion.primary") == "grief"
    assert [r.new_value for r in conv.label_history[-2:]] == ["shame", "grief"]


def test_the_label_in_force_is_the_latest_by_time_then_the_last_written(seed: Conversation) -> None:
    """Regression: with two revisions of the same time, current_value took the first written and
    current_turns the last; both now follow lib/core/labels.py (the last written wins a tie)."""
    data = seed.model_dump(mode="json")
    base = {"turn": 0, "field": "emotion.primary", "source": "human_review", "author": "dana"}
    data["label_history"] = [
        {**base, "new_value": "grief", "at": "2026-03-02T10:00:00Z"},
        {**base, "new_value": "shame", "at": "2026-03-01T10:00:00Z"},  # written later, but older
        {**base, "new_value": "anxiety", "at": "2026-03-02T10:00:00+00:00"},  # the same time as grief
    ]
    conv = Conversation.model_validate(data)
    assert conv.current_value(0, "emotion.primary") == "anxiety"
    assert conv.current_turns()[0].emotion.primary == "anxiety"  # type: ignore[union-attr]
    in_force = labels.in_force(data["turns"], data["label_history"])
    assert in_force[0]["emotion"]["primary"] == "anxiety"
    assert data["turns"][0]["emotion"]["primary"] == seed.turns[0].emotion.primary  # type: ignore[union-attr]


def test_revision_of_a_field_of_the_wrong_role_is_rejected(seed: Conversation) -> None:
    conv = seed.model_copy(deep=True)
    with pytest.raises(ValueError, match="not a label of an assistant turn"):
        conv.revise(1, "emotion.primary", "shame", source="human_review", author="dana")


def test_revision_of_an_unknown_field_is_rejected() -> None:
    with pytest.raises(ValidationError, match="unknown label field"):
        LabelRevision(turn=0, field="emotion.colour", source="automated", author="x")


def test_committed_schema_is_current() -> None:
    committed = json.loads((ROOT / "schema" / "conversation.schema.json").read_text(encoding="utf-8"))
    assert committed == json_schema(), "run: python -m lib schema --schema > schema/conversation.schema.json"


def test_schema_cli_prints_the_schema() -> None:
    out = subprocess.run([sys.executable, "-m", "lib.core.models", "--schema"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    schema = json.loads(out)
    assert "turns" in schema["properties"]
    assert {"UserTurn", "AssistantTurn", "LabelRevision"} <= set(schema["$defs"])
