"""Every chart of the Coverage page, by name, from one Coverage: titles and subtitles that say what is
counted in which view, against which target."""

from __future__ import annotations

from typing import Any

from lib.core.taxonomy import Taxonomy
from lib.core.vocabulary import REVIEW_STATUSES, labels
from lib.coverage import charts
from lib.coverage.counts import Coverage
from lib.coverage.targets import dataset_size_target, even_share

SCOPE_PHRASES: dict[str, str] = {
    "approved": "Approved conversations",
    "generated": "All generated conversations",
    "planned": "Planned: generated + estimated",
}
FIGURES: tuple[str, ...] = (
    "emotions",
    "strategies",
    "emotion_strategy",
    "personas",
    "topics",
    "persona_topic",
    "arc_tier",
    "lengths",
    "funnel",
    "quality",
    "corrections",
)


def figures(cov: Coverage, tax: Taxonomy) -> dict[str, Any]:
    """Every chart of the coverage page, by name (FIGURES), from one Coverage."""
    t = tax.targets
    where = SCOPE_PHRASES[cov.scope]
    empty = {
        "approved": "No approved conversations yet",
        "generated": "No generated conversations yet",
        "planned": "The scenario table is empty",
    }[cov.scope]
    uniform_e = not t.emotion_overrides
    uniform_s = not t.strategy_overrides
    emotions = cov.emotions.assign(hover=[f"in {charts.fmt(c)} conversations" for c in cov.emotions["conversations"]])
    strategies = cov.strategies.assign(
        hover=[
            f"also a supporting strategy in {charts.fmt(c)} replies" if c else "" for c in cov.strategies["supporting"]
        ]
    )
    es = cov.emotion_strategy
    pt = cov.persona_topic
    at = cov.arc_tier
    size = dataset_size_target(tax)
    arc_hover = {r.arc_name: f"{r.start} → {r.end}" for r in at.itertuples(index=False) if r.start}
    return {
        "emotions": charts.bar_vs_target(
            emotions,
            title="Primary emotion of user turns",
            subtitle=f"{where}\nTarget {t.per_emotion_min if uniform_e else 'per emotion'} user turns"
            f"{' each' if uniform_e else ''} (black line) · hatched = under target",
            value_title="User turns",
            unit="user turns",
            horizontal=True,
            empty_text=empty,
        ),
        "strategies": charts.bar_vs_target(
            strategies,
            title="Primary strategy of assistant replies",
            subtitle=f"{where}\nTarget {t.per_strategy_min if uniform_s else 'per strategy'} replies"
            f"{' each' if uniform_s else ''} (black line) · hatched = under target",
            value_title="Replies",
            unit="replies",
            horizontal=True,
            empty_text=empty,
        ),
        "emotion_strategy": charts.heatmap(
            es,
            x="strategy_name",
            y="emotion_name",
            title="Emotion × strategy",
            subtitle=f"{where} · replies by the emotion of the user turn they answer",
            x_title="Strategy of the reply",
            y_title="Emotion answered",
            unit="replies",
            y_colours=dict(zip(es["emotion_name"], es["colour"], strict=True)),
            empty_text=empty,
        ),
        "personas": charts.bar_vs_target(
            cov.personas,
            title="Conversations per persona",
            subtitle=f"{where}\nTarget {even_share(tax, 'personas')} each, an even share of {size} (black line)",
            value_title="Conversations",
            unit="conversations",
            horizontal=True,
            empty_text=empty,
        ),
        "topics": charts.bar_vs_target(
            cov.topics.assign(hover=[f"cluster: {c}" for c in cov.topics["cluster"]]),
            title="Conversations per topic",
            subtitle=f"{where}\nTarget {even_share(tax, 'topics')} each, an even share of {size} (black line)",
            value_title="Conversations",
            unit="conversations",
            horizontal=True,
            empty_text=empty,
        ),
        "persona_topic": charts.heatmap(
            pt,
            x="persona_name",
            y="topic_name",
            title="Persona × topic",
            subtitle=f"{where} · conversations per pair; empty cells are pairs not covered",
            x_title="Persona",
            y_title="Topic",
            unit="conversations",
            empty_text=empty,
        ),
        "arc_tier": charts.heatmap(
            at,
            x="tier_name",
            y="arc_name",
            title="Emotional arc × tier",
            subtitle=f"{where}\nConversations per arc and tier",
            x_title="Tier",
            y_title="Emotional arc",
            unit="conversations",
            hover_y=arc_hover,
            empty_text=empty,
        ),
        "lengths": charts.bar_vs_target(
            cov.lengths.assign(hover=cov.lengths["detail"]) if not cov.lengths.empty else cov.lengths,
            title="Conversation length",
            subtitle=f"{where} · exchanges = turns ÷ 2\nBlack line = target · hatched = under target",
            value_title="Conversations",
            unit="conversations",
            horizontal=True,
            empty_text=empty,
        ),
        "funnel": charts.funnel(
            cov.funnel, title="Status funnel", subtitle="The whole scenario table, whatever the view"
        ),
        "quality": charts.quality_histogram(
            cov.quality,
            title="Quality scores",
            subtitle=("Generated conversations (planned ones have no score yet)" if cov.scope == "planned" else where),
            statuses=labels(REVIEW_STATUSES),
        ),
        "corrections": charts.corrections(
            cov.corrections,
            title="Reviewer corrections by label",
            subtitle=("Generated conversations" if cov.scope == "planned" else where)
            + " · labels that reviewers changed",
            emotion_colours={e.id: e.color for e in tax.emotions},
        ),
    }
