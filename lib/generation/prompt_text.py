"""The taxonomy as prompt text: the brand voice, the definitions of emotions and strategies, and
the profiles of a persona, an arc and a topic, as the generator's and the judge's prompts show them."""

from __future__ import annotations

from collections.abc import Sequence

from lib.core.models import ScenarioDimensions
from lib.core.taxonomy import Taxonomy
from lib.core.variation import Drawn
from lib.generation.templates import PromptError


def brand_voice(tax: Taxonomy) -> str:
    v = tax.vertical.brand_voice
    lines = [v.name + ", " + v.title + ". " + v.summary, "", "Principles:"]
    lines += ["- " + p for p in v.principles]
    if v.signature_phrases:
        lines += ["", "Phrases in this voice (use sparingly, never as a formula):"]
        lines += ["- " + p for p in v.signature_phrases]
    if v.avoid:
        lines += ["", "Never:"]
        lines += ["- " + a for a in v.avoid]
    lines += ["", "Referral policy: " + v.referral_policy]
    return "\n".join(lines)


def emotion_definitions(ids: Sequence[str], tax: Taxonomy) -> str:
    emotions = tax.by_id("emotions")
    blocks = []
    for eid in ids:
        e = emotions[eid]
        bands = "; ".join(
            b.label + " " + num(b.min) + "-" + num(b.max) + ": " + b.description for b in e.intensity_bands
        )
        blocks.append(
            "\n".join(
                [
                    eid + " (" + e.name + "): " + " ".join(e.description.split()),
                    "  sub-emotions: " + ", ".join(e.sub_emotions),
                    "  typical valence " + num(e.valence) + ", arousal " + num(e.arousal),
                    "  cues: " + _items(e.cues),
                    "  intensity: " + bands,
                ]
            )
        )
    return "\n".join(blocks)


def strategy_definitions(ids: Sequence[str], tax: Taxonomy) -> str:
    strategies = tax.by_id("strategies")
    blocks = []
    for sid in ids:
        s = strategies[sid]
        blocks.append(
            "\n".join(
                [
                    sid + " (" + s.name + "): " + " ".join(s.description.split()),
                    "  use when: " + _items(s.when_to_use),
                    "  not when: " + _items(s.when_not_to_use),
                    "  sounds like: " + " / ".join(s.example_phrasing[:2]),
                    "  done well: " + _items(s.quality_markers),
                ]
            )
        )
    return "\n".join(blocks)


def _items(items: Sequence[str]) -> str:
    return "; ".join(i.strip().rstrip(".") for i in items) + "."


def num(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def persona_profile(pid: str, tax: Taxonomy) -> str:
    p = tax.by_id("personas")[pid]
    return "\n".join(
        [
            p.name + ": " + " ".join(p.description.split()),
            "Age " + p.age_band + "; income " + p.income_band + "; financial literacy " + p.financial_literacy + ".",
            "Situation: " + p.life_situation,
            "Usual emotional state: " + p.emotional_baseline + ".",
            "How they write: " + p.communication_style,
            "Goals: " + "; ".join(p.goals) + ".",
        ]
    )


def arc_profile(aid: str, tax: Taxonomy) -> str:
    a = tax.by_id("arcs")[aid]
    lines = [
        a.name + ": from " + a.start_emotion + " to " + a.end_emotion + ". " + " ".join(a.description.split()),
        "Intensity of the user's emotion, first user turn to last: "
        + ", ".join(num(x) for x in a.intensity_curve)
        + ".",
        "Milestones (0 = first turn, 1 = last turn):",
    ]
    lines += ["- " + num(m.position) + " " + m.emotion + ": " + m.description for m in a.milestones]
    return "\n".join(lines)


def topic_profile(tid: str, tax: Taxonomy) -> str:
    t = tax.by_id("topics")[tid]
    cluster = {c.id: c for c in tax.topic_clusters}[tax.cluster_of[tid]]
    return t.name + " (" + cluster.name + "): " + " ".join(t.description.split())


def dimension_notes(scenario: ScenarioDimensions, tax: Taxonomy) -> str:
    lines = []
    for dim, value in [("intents", scenario.intent), ("tones", scenario.tone), ("outcomes", scenario.outcome_type)]:
        item = tax.by_id(dim).get(value)
        if item is None:
            raise PromptError(f"scenario: {dim[:-1]} {value!r} is not in the taxonomy's dimensions.yaml")
        lines.append(item.id + " (" + item.name + "): " + " ".join(item.description.split()))
    return "\n".join(lines)


def person_details(drawn: Drawn) -> str:
    """This one person, as the variation seed drew them."""
    p = drawn.person
    if p is None:
        return "No individual details: write the persona as described."
    return "\n".join(
        [
            "Name " + p.name + ", age " + str(p.age) + ", " + p.background + " background (a detail of the person, "
            "not the subject of the conversation; use the name only where a person would).",
            "How this person writes, on top of the persona's usual way:",
            "- message length: " + p.message_length,
            "- capitalisation: " + p.capitalisation,
            "- typos: " + p.typos,
            "- register: " + p.formality,
            "- first message: " + p.opening,
            "- last message: " + p.closing,
        ]
    )


def trajectory_note(drawn: Drawn, tax: Taxonomy) -> str:
    """How this conversation's arc ends, as the variation seed drew it."""
    found = {t.id: t for t in tax.variation.trajectories}.get(drawn.trajectory or "")
    if found is None:
        return "Resolved: the arc runs its course to its end emotion."
    return found.name + ": " + " ".join(found.description.split())
