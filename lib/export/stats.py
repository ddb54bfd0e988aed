"""The figures of an export, gathered one conversation at a time as the export streams them (the card,
the manifest and the summary's warnings read them): counts per dimension, label and review figures,
the dataset's name and version, and per split once the split is decided."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lib.core.taxonomy import Taxonomy
from lib.export.items import Item
from lib.export.targets import item_flags


@dataclass
class Stats:
    conversations: int = 0
    turns: int = 0
    personas: Counter[str] = field(default_factory=Counter)
    arcs: Counter[str] = field(default_factory=Counter)
    tiers: Counter[str] = field(default_factory=Counter)
    topic_clusters: Counter[str] = field(default_factory=Counter)
    emotions: Counter[str] = field(default_factory=Counter)
    start_emotions: Counter[str] = field(default_factory=Counter)
    strategies: Counter[str] = field(default_factory=Counter)
    review: Counter[str] = field(default_factory=Counter)
    sources: Counter[str] = field(default_factory=Counter)
    models: Counter[str] = field(default_factory=Counter)
    templates: Counter[str] = field(default_factory=Counter)
    revised_fields: Counter[str] = field(default_factory=Counter)
    revision_sources: Counter[str] = field(default_factory=Counter)
    dataset_names: Counter[str] = field(default_factory=Counter)
    dataset_versions: Counter[str] = field(default_factory=Counter)
    reviewer_ids: set[str] = field(default_factory=set)
    scores: list[int] = field(default_factory=list)
    corrected: int = 0
    assistant_turns: int = 0
    approved_targets: int = 0
    # once the split is decided
    per_split: Counter[str] = field(default_factory=Counter)
    turns_per_split: Counter[str] = field(default_factory=Counter)
    scenarios: int = 0
    # split -> (arc, persona) -> conversations: the strata each split covers
    strata: dict[str, Counter[tuple[str, str]]] = field(default_factory=dict)
    # preference pairs (accepted contrastive responses of the exported conversations)
    pair_kinds: Counter[str] = field(default_factory=Counter)
    pairs_per_split: Counter[str] = field(default_factory=Counter)

    def add(self, item: Item, tax: Taxonomy, suited: Mapping[str, frozenset[str]]) -> None:
        s = item.scenario
        self.conversations += 1
        self.turns += len(item.turns)
        self.personas[str(s.get("persona"))] += 1
        self.arcs[str(s.get("emotional_arc"))] += 1
        self.tiers[str(s.get("tier"))] += 1
        self.topic_clusters[tax.cluster_of.get(s.get("topic") or "", str(s.get("topic")))] += 1
        self.start_emotions[str(((item.doc.get("arc") or {}).get("start") or {}).get("emotion"))] += 1
        for flag, t in zip(item_flags(item, suited), item.turns, strict=True):
            if t["role"] == "user":
                self.emotions[str((t.get("emotion") or {}).get("primary"))] += 1
            else:
                self.strategies[str((t.get("strategies") or {}).get("primary"))] += 1
                self.assistant_turns += 1
                self.approved_targets += bool(flag)
        r = item.doc.get("review") or {}
        self.review[r.get("status", "unreviewed")] += 1
        if r.get("reviewer"):
            self.reviewer_ids.add(str(r["reviewer"]))
        prov = item.doc.get("provenance") or {}
        self.sources[str(prov.get("source"))] += 1
        if prov.get("model"):
            self.models[str(prov["model"])] += 1
        if prov.get("template_name"):
            self.templates[f"{prov['template_name']} {prov.get('template_version') or ''}".strip()] += 1
        history = item.doc.get("label_history") or []
        if history:
            self.corrected += 1
        for rev in history:
            self.revised_fields[str(rev.get("field"))] += 1
            self.revision_sources[str(rev.get("source"))] += 1
        score = (item.doc.get("quality") or {}).get("score")
        if isinstance(score, int):
            self.scores.append(score)
        dataset = item.doc.get("dataset") or {}
        if dataset.get("name"):
            self.dataset_names[str(dataset["name"])] += 1
        if dataset.get("version"):
            self.dataset_versions[str(dataset["version"])] += 1

    def add_split(self, split: str, turns: int, stratum: tuple[str, str]) -> None:
        self.per_split[split] += 1
        self.turns_per_split[split] += turns
        self.strata.setdefault(split, Counter())[stratum] += 1

    @property
    def reviewers(self) -> int:
        return len(self.reviewer_ids)

    def as_dict(self) -> dict[str, Any]:
        """The figures the card reads, by name."""
        return {
            "conversations": self.conversations,
            "turns": self.turns,
            "scenarios": self.scenarios,
            "per_split": dict(self.per_split),
            "turns_per_split": dict(self.turns_per_split),
            "personas": self.personas,
            "arcs": self.arcs,
            "tiers": self.tiers,
            "topic_clusters": self.topic_clusters,
            "emotions": self.emotions,
            "start_emotions": self.start_emotions,
            "strategies": self.strategies,
            "review": self.review,
            "reviewers": self.reviewers,
            "sources": self.sources,
            "models": self.models,
            "templates": self.templates,
            "corrected": self.corrected,
            "revised_fields": self.revised_fields,
            "revision_sources": self.revision_sources,
            "scores": self.scores,
            "assistant_turns": self.assistant_turns,
            "approved_targets": self.approved_targets,
            "pair_kinds": self.pair_kinds,
            "pairs_per_split": dict(self.pairs_per_split),
        }
