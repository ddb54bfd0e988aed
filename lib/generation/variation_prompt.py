"""The part of a variation scenario's request that shows its source (prompts/variation.md): the approved
conversation as the structure to keep (turn count, arc shape, strategies) and exactly what must change, and
to what (the scenario's variation record, lib/core/variation_sets.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lib.core.models import AssistantTurn, Conversation
from lib.core.taxonomy import Taxonomy
from lib.core.variation_sets import VARY_FIELDS, VARY_LABELS, shifted_curve
from lib.generation.prompt_text import num
from lib.generation.templates import PromptError, PromptTemplate, default_templates


@dataclass(frozen=True)
class VariationSource:
    """A variation scenario's approved source conversation and its variation record."""

    conversation: Conversation
    record: Mapping[str, Any]

    def provenance(self) -> dict[str, Any]:
        """What the generated conversation records about its source (provenance.parameters.variation_of)."""
        return {"source_conversation_id": self.conversation.id, **self.record}


def source_for(row: Mapping[str, Any], read: Any) -> VariationSource | None:
    """The source of a v_scenarios row (None for a row that is no variation); read: conversation id ->
    Conversation | None (Store.get_conversation)."""
    cid = row.get("source_conversation_id")
    if not cid:
        return None
    conv = read(cid)
    if conv is None:
        raise LookupError(f"scenario #{row.get('id')} varies conversation {cid}, which no longer exists")
    return VariationSource(conv, dict(row.get("variation") or {}))


def _changes(record: Mapping[str, Any], tax: Taxonomy) -> list[str]:
    lines = []
    for what in record.get("vary") or []:
        old, new = record.get("from", {}).get(what), record.get("to", {}).get(what)
        field = VARY_FIELDS.get(what)
        if field is None:
            emotion = tax.by_id("emotions").get(record.get("emotion") or "")
            band = next((b for b in emotion.intensity_bands if b.label == new), None) if emotion else None
            if emotion is None or band is None:
                raise PromptError(
                    f"variation: the intensity band {new!r} of {record.get('emotion')!r} is not in emotions.yaml"
                )
            lines.append(
                f"Intensity band of {emotion.id}: {old} → {new} ({num(band.min)}-{num(band.max)}). "
                f"The first user turn shows {emotion.id} at this band: {' '.join(band.description.split())}"
            )
            continue
        dim = {"persona": "personas", "topic": "topics", "tone": "tones", "outcome_type": "outcomes"}[field or ""]
        item = tax.by_id(dim).get(new)
        if item is None:
            raise PromptError(f"variation: {VARY_LABELS.get(what, what).lower()} {new!r} is not in the taxonomy")
        lines.append(f"{VARY_LABELS[what]}: {old} → {new} ({item.name}): {' '.join(item.description.split())}")
    return lines


def _turn_line(i: int, turn: Any) -> str:
    if isinstance(turn, AssistantTurn):
        labels = " + ".join([turn.strategies.primary, *turn.strategies.supporting])
    else:
        labels = f"{turn.emotion.primary} {num(turn.emotion.intensity)}"
    return f"[{i}] {turn.role} ({labels}): {turn.text}"


def variation_values(source: VariationSource, tax: Taxonomy) -> dict[str, Any]:
    conv = source.conversation
    s = conv.scenario
    arc = tax.by_id("arcs").get(s.emotional_arc)
    if arc is None:
        raise PromptError(f"variation: the source's arc {s.emotional_arc!r} is not in the taxonomy")
    return {
        "source_id": conv.id,
        "changes": _changes(source.record, tax),
        "source_scenario": (
            f"tier {s.tier}, persona {s.persona}, arc {s.emotional_arc}, topic {s.topic}, intent {s.intent}, "
            f"tone {s.tone}, outcome {s.outcome_type}; {len(conv.turns)} turns"
        ),
        "intensity_curve": ", ".join(num(x) for x in shifted_curve(arc.intensity_curve, source.record)),
        "source_turns": "\n".join(_turn_line(i, t) for i, t in enumerate(conv.current_turns())),
    }


def render_variation(
    source: VariationSource, tax: Taxonomy, templates: Mapping[str, PromptTemplate] | None = None
) -> str:
    return (templates or default_templates())["variation"].render(variation_values(source, tax))
