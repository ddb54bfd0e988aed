"""Failure kinds for contrastive responses, as taxonomy data (taxonomy/failures.yaml, optional).

A failure kind names a realistic way an assistant turn goes wrong (premature advice, minimising, false
reassurance...), what it looks like for the generator, why it fails for the reviewer and the exported
pair, and the emotion families it suits. A taxonomy without the file has no failure kinds, and the
contrastive features say so.
"""

from __future__ import annotations

from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field


class FailureKind(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    name: str = Field(min_length=1)
    looks_like: str = Field(min_length=1)
    why_it_fails: str = Field(min_length=1)
    suits: list[str] = Field(min_length=1)


class Failures(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    target_pairs_per_emotion: int = Field(default=3, ge=0)
    kinds: list[FailureKind] = []

    @cached_property
    def by_id(self) -> dict[str, FailureKind]:
        return {f.id: f for f in self.kinds}

    def suited_to(self, emotion: str) -> list[FailureKind]:
        """The failure kinds that suit a user turn of this emotion family, in taxonomy order."""
        return [f for f in self.kinds if emotion in f.suits]


def failure_problems(failures: Failures, emotions: set[str]) -> list[tuple[str, str]]:
    """Duplicate ids and unknown emotion families in failures.yaml, as (key path, problem)."""
    found: list[tuple[str, str]] = []
    seen: set[str] = set()
    for n, kind in enumerate(failures.kinds):
        if kind.id in seen:
            found.append((f"failures.kinds[{n}].id", f"duplicate failure kind {kind.id!r}"))
        seen.add(kind.id)
        found.extend(
            (f"failures.kinds[{n}].suits[{k}]", f"unknown emotion {e!r}")
            for k, e in enumerate(kind.suits)
            if e not in emotions
        )
    return found
