"""Read the seed conversations from seeds/*.json. A malformed file is reported by name and skipped."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from lib.core import files
from lib.core.models import Conversation
from lib.core.taxonomy import Taxonomy

log = logging.getLogger(__name__)
SEEDS_DIR = Path(__file__).resolve().parent.parent.parent / "seeds"


@dataclass
class SeedLoad:
    conversations: list[Conversation] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # one line per skipped file
    files: dict[str, str] = field(default_factory=dict)  # conversation id -> "seeds/<file>"


def load_seeds(directory: str | Path = SEEDS_DIR) -> SeedLoad:
    """Every valid seed in file-name order; each bad file becomes one line in `errors`."""
    result = SeedLoad()
    directory = Path(directory)
    for path in sorted(directory.glob("*.json")):
        name = f"{directory.name}/{path.name}"
        try:
            conv = read_conversation(path)
        except ValueError as exc:
            line = f"{name}: skipped, {exc}"
            log.warning("seed %s", line)
            result.errors.append(line)
            continue
        result.conversations.append(conv)
        result.files[conv.id] = name
    return result


def seed_rows(conversations: list[Conversation], tax: Taxonomy) -> list[dict[str, object]]:
    """One display row per conversation, with taxonomy names instead of ids."""
    from lib.core.validation import check_conversation

    names = {d: tax.names(d) for d in ["personas", "arcs", "topics", "emotions"]}
    rows = []
    for conv in conversations:
        s = conv.scenario
        rows.append(
            {
                "ID": conv.id,
                "Persona": names["personas"].get(s.persona, s.persona),
                "Arc": names["arcs"].get(s.emotional_arc, s.emotional_arc),
                "Emotion": f"{names['emotions'].get(conv.arc.start.emotion, conv.arc.start.emotion)} → "
                f"{names['emotions'].get(conv.arc.end.emotion, conv.arc.end.emotion)}",
                "Topic": names["topics"].get(s.topic, s.topic),
                "Tier": s.tier.replace("_", " "),
                "Turns": len(conv.turns),
                "Quality": check_conversation(conv, tax).score,
            }
        )
    return rows


def emotion_counts(conversations: list[Conversation]) -> dict[str, int]:
    """How many user turns carry each primary emotion (current labels)."""
    counts: dict[str, int] = {}
    for conv in conversations:
        for turn in conv.current_turns():
            if turn.role == "user":
                counts[turn.emotion.primary] = counts.get(turn.emotion.primary, 0) + 1
    return counts


def conversation_files(paths: Sequence[str | Path]) -> list[Path]:
    """The files named, and every *.json in the folders named, in name order per folder."""
    out: list[Path] = []
    for p in map(Path, paths):
        out.extend(sorted(p.glob("*.json")) if p.is_dir() else [p])
    return out


def read_conversation(path: Path) -> Conversation:
    """One conversation file, or ValueError with one line saying what is wrong with it."""
    try:
        return Conversation.model_validate(json.loads(files.read_text(path)))
    except files.FileProblem as exc:
        raise ValueError(exc.detail) from None
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(map(str, err["loc"])) or "(top)"
        raise ValueError(f"{key}: {err['msg']}; fix that field (README: The dataset format)") from None
    except ValueError as exc:
        raise ValueError(f"not valid JSON ({str(exc).splitlines()[0]}); fix the file there") from None
