"""Voice and fact variation (taxonomy/variation.yaml, optional): who this one person is and how they write,
the facts of their situation today, and how their conversation ends.

`draw(seed, ...)` is a pure function of its seed and the taxonomy, so the provenance of a conversation
(the seed and what was drawn) is enough to build its prompt again. A taxonomy without the file draws no
person details and leaves the facts as written.
"""

from __future__ import annotations

import random
import re
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Item(BaseModel):
    """One taxonomy item; defined here because lib.core.taxonomy imports this module and reuses it."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    description: str = ""


class Background(Item):
    female_names: list[str] = Field(min_length=1)
    male_names: list[str] = Field(min_length=1)
    family_names: list[str] = Field(min_length=1)


class Writing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message_length: list[str] = Field(min_length=1)
    capitalisation: list[str] = Field(min_length=1)
    typos: list[str] = Field(min_length=1)
    formality: list[str] = Field(min_length=1)
    opening: list[str] = Field(min_length=1)
    closing: list[str] = Field(min_length=1)


class FactRules(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount_factor: tuple[float, float] = (1.0, 1.0)
    age_years: int = Field(default=0, ge=0, le=20)


class Trajectory(Item):
    outcomes: list[str] = Field(default_factory=list, description="Outcome ids it fits; empty = any.")


class SetRules(BaseModel):
    """Variation sets (lib/core/variation_sets.py): how many variations of one approved conversation."""

    model_config = ConfigDict(extra="forbid")
    default_count: int = Field(default=20, ge=1, description="What the operator's request starts at.")
    max_count: int = Field(default=100, ge=1, description="The most variations one request may ask for.")
    per_source_target: int = Field(default=20, ge=0, description="Coverage's target of variations per source.")


class Variation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sets: SetRules = Field(default_factory=SetRules)
    backgrounds: list[Background] = Field(default_factory=list)
    writing: Writing | None = None
    facts: FactRules = Field(default_factory=FactRules)
    trajectories: list[Trajectory] = Field(default_factory=list)
    arc_trajectories: dict[str, list[str]] = Field(default_factory=dict)


@dataclass(frozen=True)
class Person:
    name: str
    age: int
    background: str
    message_length: str
    capitalisation: str
    typos: str
    formality: str
    opening: str
    closing: str


@dataclass(frozen=True)
class Drawn:
    """What one conversation's seed drew: recorded in its provenance (as_dict) and shown in its prompt."""

    seed: int
    person: Person | None
    amount_factor: float
    age_shift: int
    trajectory: str | None
    context: str | None  # the context text with its facts varied

    def as_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "person": asdict(self.person) if self.person else None,
            "facts": {"amount_factor": self.amount_factor, "age_shift": self.age_shift},
            "trajectory": self.trajectory,
        }


_AMOUNT = re.compile(r"\$(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?![\d,]*\d)")
_SHE = re.compile(r"\b(she|her|hers|herself)\b", re.IGNORECASE)
_HE = re.compile(r"\b(he|him|his|himself)\b", re.IGNORECASE)
_AGE = re.compile(r"\b(\d{1,2})-year-old\b")
_BAND = re.compile(r"(\d+)\s*-\s*(\d+)")


def _significant(value: float, like: str) -> float:
    """value rounded to as many significant digits as the original figure has (at least two)."""
    digits = len(like.replace(",", "").replace(".", "").lstrip("0").rstrip("0")) or 1
    keep = max(2, digits)
    if value <= 0:
        return value
    from math import floor, log10

    return round(value, keep - 1 - floor(log10(value)))


def vary_facts(text: str, factor: float, shift: int, fixed: frozenset[str] = frozenset()) -> str:
    """The context text with every dollar amount scaled by factor and every "N-year-old" moved by shift;
    figures in `fixed` (written as in the text, e.g. "$7,500") stay."""

    def amount(m: re.Match[str]) -> str:
        if m.group(0) in fixed:
            return m.group(0)
        whole, frac = m.group(1), m.group(2) or ""
        value = _significant(float(whole.replace(",", "") + frac) * factor, whole + frac)
        if frac:
            return "$" + f"{value:,.{len(frac) - 1}f}"
        return "$" + f"{round(value):,}"

    def age(m: re.Match[str]) -> str:
        if m.group(0) in fixed:
            return m.group(0)
        return str(min(95, max(18, int(m.group(1)) + shift))) + "-year-old"

    return _AGE.sub(age, _AMOUNT.sub(amount, text))


def first_age(text: str | None) -> int | None:
    m = _AGE.search(text or "")
    return int(m.group(1)) if m else None


def context_gender(text: str | None) -> str | None:
    """'female' or 'male' when the context speaks of one person by pronoun, else None (any, a couple)."""
    she, he = len(_SHE.findall(text or "")), len(_HE.findall(text or ""))
    if she and not he:
        return "female"
    if he and not she:
        return "male"
    return None


def band_age(band: str, rng: random.Random) -> int:
    m = _BAND.search(band)
    if not m:
        return rng.randint(25, 65)
    lo, hi = sorted((int(m.group(1)), int(m.group(2))))
    return rng.randint(lo, hi)


def trajectories_for(variation: Variation, arc: str, outcome: str) -> list[Trajectory]:
    allowed = variation.arc_trajectories.get(arc)
    return [
        t
        for t in variation.trajectories
        if (allowed is None or t.id in allowed) and (not t.outcomes or outcome in t.outcomes)
    ]


def draw(
    seed: int,
    variation: Variation,
    *,
    age_band: str,
    arc: str,
    outcome: str,
    context: str | None,
    fixed_facts: frozenset[str] = frozenset(),
) -> Drawn:
    """One conversation's person, facts and trajectory from its seed. A tier-2/3 person's age is the
    context's own (varied), so the situation and the person agree."""
    rng = random.Random(seed)
    lo, hi = variation.facts.amount_factor
    factor = round(rng.uniform(min(lo, hi), max(lo, hi)), 3)
    years = variation.facts.age_years
    shift = rng.randint(-years, years)
    varied = vary_facts(context, factor, shift, fixed_facts) if context else context
    person = None
    if variation.backgrounds and variation.writing is not None:
        bg = rng.choice(variation.backgrounds)
        w = variation.writing
        gender = context_gender(context) or rng.choice(["female", "male"])
        given = bg.female_names if gender == "female" else bg.male_names
        person = Person(
            name=rng.choice(given) + " " + rng.choice(bg.family_names),
            age=first_age(varied) or band_age(age_band, rng),
            background=bg.name,
            message_length=rng.choice(w.message_length),
            capitalisation=rng.choice(w.capitalisation),
            typos=rng.choice(w.typos),
            formality=rng.choice(w.formality),
            opening=rng.choice(w.opening),
            closing=rng.choice(w.closing),
        )
    options = trajectories_for(variation, arc, outcome)
    trajectory = rng.choice(options).id if options else None
    return Drawn(seed, person, factor, shift, trajectory, varied)
