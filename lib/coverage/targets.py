"""The coverage targets, from taxonomy/targets.yaml: per emotion (user turns whose primary emotion it
is) and per strategy (replies whose primary strategy it is), with their overrides; length buckets in
conversations. Personas and topics have no minimum there, so each is expected to hold an even share
(rounded down) of the conversations the length targets add up to (90 by default).
"""

from __future__ import annotations

from lib.core.taxonomy import Taxonomy


def emotion_target(tax: Taxonomy, emotion: str) -> int:
    return tax.targets.emotion_overrides.get(emotion, tax.targets.per_emotion_min)


def strategy_target(tax: Taxonomy, strategy: str) -> int:
    return tax.targets.strategy_overrides.get(strategy, tax.targets.per_strategy_min)


def dataset_size_target(tax: Taxonomy) -> int:
    """The conversations the length targets add up to (50 + 30 + 10 = 90 by default)."""
    return sum(b.min_conversations for b in tax.targets.length_buckets)


def even_share(tax: Taxonomy, dimension: str) -> int:
    """The target of one persona or topic: an even share of dataset_size_target, rounded down."""
    return dataset_size_target(tax) // max(len(tax.ids(dimension)), 1)
