"""Variation sets: from one approved conversation, scenarios that keep its structure and change what the
operator asks for (its topic, persona, intensity band, tone or outcome, or a mix of them).

Each variation differs from the source in every asked dimension, the values are spread evenly over the
alternatives the rules allow (taxonomy/plausibility.yaml, and a tier-2/3 context's own personas and
topics), and the plan is a pure function of the source, the request and the seed. A variation never adds a
rule break the source does not have; when the rules leave no alternative the request is refused with the
rules that stand in the way, never filled with implausible rows. More variations than alternatives repeat
the alternatives evenly (the generator still draws another person for each).

The intensity band is not a scenario dimension: it is the band of the source's start emotion
(emotions.yaml intensity_bands) that the user's first turn is written in. It lives in the variation
record, which the prompt reads and the conversation's provenance keeps, and the arc's intensity curve moves
by the same amount for the prompt and the intensity check (`shifted_curve`).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lib.core.models import Conversation, ScenarioDimensions
from lib.core.plausibility import row_problems
from lib.core.taxonomy import IntensityBand, Taxonomy

# what an operator may vary -> the scenario field it changes (the intensity band changes none)
VARY_FIELDS: dict[str, str | None] = {
    "topic": "topic",
    "persona": "persona",
    "intensity": None,
    "tone": "tone",
    "outcome": "outcome_type",
}
VARY_LABELS: dict[str, str] = {
    "topic": "Topic",
    "persona": "Persona",
    "intensity": "Intensity band",
    "tone": "Tone",
    "outcome": "Outcome",
}
# the key of a generated variation's provenance.parameters that holds its source and variation record
PROVENANCE_KEY = "variation_of"


class VariationSetError(ValueError):
    """A request the source or the rules cannot fill; the message says why and what to ask instead."""


@dataclass(frozen=True)
class VariationSet:
    source_id: str
    vary: tuple[str, ...]
    rows: list[dict[str, Any]]  # add_scenarios rows: the dimensions, source_conversation_id and variation
    alternatives: int  # how many distinct variations the rules allow

    @property
    def repeats(self) -> bool:
        return len(self.rows) > self.alternatives


def start_band(conv: Conversation, tax: Taxonomy) -> tuple[str, IntensityBand | None]:
    """The source's start emotion and the band its first user turn's intensity is in."""
    emotion = tax.by_id("emotions").get(conv.arc.start.emotion)
    if emotion is None:
        return conv.arc.start.emotion, None
    value = conv.arc.start.intensity
    # outside every band (an arc that starts past the top band's max): the nearest band
    band = emotion.band_of(value) or min(
        emotion.intensity_bands, key=lambda b: min(abs(b.min - value), abs(b.max - value))
    )
    return emotion.id, band


def _alternatives(what: str, conv: Conversation, tax: Taxonomy) -> list[str]:
    """The values other than the source's that `what` may take, before the combined row is checked."""
    s = conv.scenario
    if what == "intensity":
        emotion, band = start_band(conv, tax)
        bands = tax.by_id("emotions")[emotion].intensity_bands if emotion in tax.by_id("emotions") else []
        return [b.label for b in bands if band is None or b.label != band.label]
    field = VARY_FIELDS[what]
    assert field is not None
    context = tax.context(s.context_id)
    if field == "persona":
        values = list(context.personas) if context else tax.ids("personas")
    elif field == "topic":
        values = list(context.topics) if context else tax.ids("topics")
    else:
        values = tax.plausibility.fit_values(s.emotional_arc, field) or tax.ids(
            "tones" if field == "tone" else "outcomes"
        )
    source = getattr(s, field)
    return [v for v in values if v != source]


def _changed(base: Mapping[str, Any], to: Mapping[str, str]) -> dict[str, Any]:
    """The source's dimensions with the varied fields set to their new values."""
    return {**base, **{field: v for w, v in to.items() if (field := VARY_FIELDS[w])}}


def _why_none(what: str, s: ScenarioDimensions) -> str:
    if what == "intensity":
        return "its start emotion has no other intensity band (emotions.yaml)"
    if what in ("persona", "topic") and s.context_id:
        return f"its {s.tier.replace('_', ' ')} context {s.context_id} names no other {what}"
    return f"plausibility.arc_fit.{s.emotional_arc} allows only the source's {what} for the arc {s.emotional_arc}"


def _record(vary: Sequence[str], conv: Conversation, to: Mapping[str, str], tax: Taxonomy) -> dict[str, Any]:
    emotion, band = start_band(conv, tax)
    record: dict[str, Any] = {"vary": list(vary), "from": {}, "to": dict(to)}
    for w in vary:
        field = VARY_FIELDS[w]
        record["from"][w] = getattr(conv.scenario, field) if field else band.label if band else None
    if "intensity" in vary:
        target = next(b for b in tax.by_id("emotions")[emotion].intensity_bands if b.label == to["intensity"])
        record.update(emotion=emotion, band=[target.min, target.max])
    return record


def plan_variations(conv: Conversation, vary: Sequence[str], n: int, tax: Taxonomy, *, seed: int = 0) -> VariationSet:
    """n scenarios varying `vary` of the approved conversation `conv`, spread evenly, reproducible by seed."""
    vary = tuple(dict.fromkeys(vary))
    unknown = [w for w in vary if w not in VARY_FIELDS]
    if unknown or not vary:
        raise VariationSetError(
            f"choose what varies from {', '.join(VARY_FIELDS)}"
            + (f"; {unknown[0]!r} is not one of them" if unknown else "")
        )
    limit = tax.variation.sets.max_count
    if not isinstance(n, int) or not 1 <= n <= limit:
        raise VariationSetError(f"ask for 1 to {limit} variations, not {n!r}")
    if conv.review.status != "approved":
        raise VariationSetError(
            f"conversation {conv.id} is {conv.review.status.replace('_', ' ')}; "
            "approve it before making variations of it"
        )
    s = conv.scenario
    clusters = {c.id: [t.id for t in c.topics] for c in tax.topic_clusters}
    base = s.model_dump()
    already = set(row_problems(tax.plausibility, base, clusters))
    per_dim = {w: _alternatives(w, conv, tax) for w in vary}
    empty = [w for w, values in per_dim.items() if not values]
    if empty:
        raise VariationSetError(
            f"conversation {conv.id} cannot vary its {VARY_LABELS[empty[0]].lower()}: {_why_none(empty[0], s)}; "
            "vary something else"
        )
    candidates: list[dict[str, str]] = []
    blocking: set[str] = set()
    for combo in itertools.product(*per_dim.values()):
        to = dict(zip(vary, combo, strict=True))
        row = _changed(base, to)
        added = [p for p in row_problems(tax.plausibility, row, clusters) if p not in already]
        if added:
            blocking.update(rule for rule, _ in added)
        else:
            candidates.append(to)
    if not candidates:
        raise VariationSetError(
            f"no {' and '.join(VARY_LABELS[w].lower() for w in vary)} other than the source's fits conversation "
            f"{conv.id} under the taxonomy's rules ({', '.join(sorted(blocking)[:4])}); vary something else"
        )

    rng = random.Random(f"variations:{conv.id}:{seed}")
    rng.shuffle(candidates)
    used = {w: dict.fromkeys(per_dim[w], 0) for w in vary}
    taken = [0] * len(candidates)
    rows: list[dict[str, Any]] = []
    for _ in range(n):
        # the least used values first (each dimension on its own, then together), then the least repeated
        k = min(
            range(len(candidates)),
            key=lambda i: (
                max(used[w][candidates[i][w]] for w in vary),
                sum(used[w][candidates[i][w]] for w in vary),
                taken[i],
            ),
        )
        to = candidates[k]
        taken[k] += 1
        for w in vary:
            used[w][to[w]] += 1
        dims = _changed(base, to)
        rows.append(
            {
                **ScenarioDimensions(**dims).model_dump(),
                "source_conversation_id": conv.id,
                "variation": _record(vary, conv, to, tax),
            }
        )
    return VariationSet(conv.id, vary, rows, len(candidates))


def shifted_curve(curve: Sequence[float], variation: Mapping[str, Any] | None) -> list[float]:
    """The arc's intensity curve as a variation asks for it: moved so that it starts in the middle of the
    variation's intensity band (clipped to 0..1); unchanged without a band."""
    band = (variation or {}).get("band")
    if not band or not curve:
        return [float(x) for x in curve]
    shift = (float(band[0]) + float(band[1])) / 2 - float(curve[0])
    return [round(min(1.0, max(0.0, float(x) + shift)), 3) for x in curve]


def variation_of(conv: Conversation) -> dict[str, Any] | None:
    """The source and variation record a generated variation carries in its provenance, else None."""
    value = conv.provenance.parameters.get(PROVENANCE_KEY)
    return value if isinstance(value, dict) else None


def describe(variation: Mapping[str, Any], tax: Taxonomy) -> list[str]:
    """What a variation changed, one line per dimension ("Topic: Student loans → Credit card debt")."""
    names = {
        "topic": tax.names("topics"),
        "persona": tax.names("personas"),
        "tone": tax.names("tones"),
        "outcome": tax.names("outcomes"),
    }
    lines = []
    for w in variation.get("vary") or []:
        old, new = (variation.get(k, {}).get(w) for k in ("from", "to"))
        label = names.get(w, {})
        lines.append(f"{VARY_LABELS.get(w, w)}: {label.get(old, old)} → {label.get(new, new)}")
    return lines
