"""The quality rubric (taxonomy/rubric.yaml): criteria rated 1-5 with anchors, a pass mark each, and
which failures are hard. Read and checked here; the judge prompt carries it, and `assess` turns a set
of scores into the flag a reviewer sees.

The same rule (a score below its criterion's pass mark flags the conversation; hard failures are
listed first) is applied in SQL by public.v_conversation_quality, to ratings that keep the
pass mark and hardness they were given under, so a human rating can replace a judge's there.
tests/test_judge_db.py checks that both give the same flag and reasons.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_RUBRIC = ROOT / "taxonomy" / "rubric.yaml"
ANCHOR_POINTS = (1, 3, 5)


class RubricError(ValueError):
    """A rubric problem as one line: `file: key.path: what is wrong`."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Scale(_Strict):
    min: int = 1
    max: int = 5

    @model_validator(mode="after")
    def _one_to_five(self) -> Scale:
        if (self.min, self.max) != (1, 5):
            raise ValueError("the scale is 1 to 5 (ratings are stored and compared on it)")
        return self


class Criterion(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    question: str
    anchors: dict[int, str]
    pass_at: int = Field(ge=1, le=5, description="The lowest passing score.")
    hard: bool = False

    @model_validator(mode="after")
    def _anchors(self) -> Criterion:
        missing = [p for p in ANCHOR_POINTS if not (self.anchors.get(p) or "").strip()]
        if missing:
            raise ValueError(f"anchors: say what a {', '.join(map(str, missing))} looks like")
        extra = sorted(set(self.anchors) - set(range(1, 6)))
        if extra:
            raise ValueError(f"anchors: {extra[0]} is not a score on the 1-5 scale")
        return self


class Rubric(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    version: str
    scale: Scale = Field(default_factory=Scale)
    criteria: list[Criterion] = Field(min_length=1)
    sha256: str = ""
    path: str = ""

    @model_validator(mode="after")
    def _unique(self) -> Rubric:
        seen: set[str] = set()
        for c in self.criteria:
            if c.id in seen:
                raise ValueError(f"criteria: {c.id} appears twice")
            seen.add(c.id)
        return self

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self.criteria]

    def criterion(self, cid: str) -> Criterion:
        for c in self.criteria:
            if c.id == cid:
                return c
        raise KeyError(f"the rubric has no criterion {cid!r}; it has {', '.join(self.ids)}")

    def assess(self, scores: Mapping[str, int]) -> Assessment:
        """Which criteria fail and why: a score below its pass mark flags the conversation. Reasons are
        ordered hard failures first, then lowest score, then criterion id (the SQL view orders the
        same way). A criterion without a score is not judged here."""
        failing = [
            (not c.hard, scores[c.id], c.id, c) for c in self.criteria if c.id in scores and scores[c.id] < c.pass_at
        ]
        reasons = [
            flag_reason(cid, score, c.pass_at, c.hard) for _, score, cid, c in sorted(failing, key=lambda f: f[:3])
        ]
        present = [s for cid, s in scores.items() if cid in self.ids]
        return Assessment(
            flagged=bool(failing),
            hard_failed=any(c.hard for *_, c in failing),
            reasons=reasons,
            min_score=min(present) if present else None,
        )


def flag_reason(criterion: str, score: int, pass_at: int, hard: bool) -> str:
    """One failing criterion as the Review queue shows it (v_conversation_quality writes the same)."""
    return f"{criterion} {score}/5, below {pass_at}" + (" (hard rule)" if hard else "")


@dataclass(frozen=True)
class Assessment:
    flagged: bool
    hard_failed: bool
    reasons: list[str]
    min_score: int | None


def load_rubric(path: str | Path | None = None) -> Rubric:
    """The rubric from taxonomy/rubric.yaml (or `path`), checked; RubricError names the file and key."""
    path = Path(path) if path else DEFAULT_RUBRIC
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RubricError(
            f"{path}: cannot read the rubric ({exc.strerror}); a taxonomy folder needs a rubric.yaml for the judge"
        ) from None
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "?"
        raise RubricError(f"{path}: {where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(data, dict) or not isinstance(data.get("rubric"), dict):
        raise RubricError(f"{path}: (top): expected a mapping with the key rubric")
    extra = sorted(set(data) - {"rubric"})
    if extra:
        raise RubricError(f"{path}: {extra[0]}: unexpected key (expected rubric)")
    body = {k: v for k, v in data["rubric"].items() if k not in ("sha256", "path")}
    try:
        return Rubric(**body, sha256=hashlib.sha256(raw).hexdigest(), path=str(path))
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = "rubric"
        for part in err["loc"]:
            loc += f"[{part}]" if isinstance(part, int) else f".{part}"
        raise RubricError(f"{path}: {loc}: {err['msg'].removeprefix('Value error, ')}") from None
    except TypeError as exc:
        raise RubricError(f"{path}: rubric: {exc}") from None


@lru_cache(maxsize=4)
def _cached(path: str) -> Rubric:
    return load_rubric(path)


def default_rubric(taxonomy_dir: str | Path | None = None) -> Rubric:
    """The rubric next to a taxonomy (its folder's rubric.yaml), read once per process."""
    path = Path(taxonomy_dir) / "rubric.yaml" if taxonomy_dir else DEFAULT_RUBRIC
    return _cached(str(path))
