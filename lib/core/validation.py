"""Quality checks of a conversation, from the module spec, returned as a QualityReport.

Each check passes or fails with a reason a person can act on. The score (1-10) weighs the checks;
a conversation that passes everything scores 10. Checks marked `repairable` are the ones a model
can fix when the failures are sent back to it (the generation engine's repair loop).

`python -m lib validate seeds/` checks files or folders of conversations and prints the report.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ValidationError

from lib.core.models import AssistantTurn, CheckResult, Conversation, Quality, UserTurn
from lib.core.taxonomy import Taxonomy, TaxonomyError, load_taxonomy

AnyTurn = UserTurn | AssistantTurn


@dataclass(frozen=True)
class Check:
    name: str
    title: str
    weight: float
    repairable: bool
    run: Callable[[Conversation, list[AnyTurn], Taxonomy], tuple[float, str]]  # (fraction passed, reason)


class QualityReport(BaseModel):
    score: int
    checks: list[CheckResult]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed]

    @property
    def repairable_failures(self) -> list[CheckResult]:
        return [c for c in self.failures if CHECKS_BY_NAME[c.name].repairable]

    def to_quality(self, previous: Quality | None = None) -> Quality:
        """The report as the conversation's quality block, keeping any human ratings."""
        base = previous or Quality()
        return base.model_copy(update={"score": self.score, "checks": list(self.checks)})


def _words(text: str) -> int:
    return len(text.split())


def _turn_count(conv: Conversation, turns: list[AnyTurn], tax: Taxonomy) -> tuple[float, str]:
    rules = tax.targets.quality
    n = len(turns)
    if rules.min_turns <= n <= rules.max_turns:
        return 1, f"{n} turns (allowed {rules.min_turns}-{rules.max_turns})"
    return 0, f"{n} turns; a conversation needs {rules.min_turns}-{rules.max_turns} turns"


def _alternation(conv: Conversation, turns: list[AnyTurn], tax: Taxonomy) -> tuple[float, str]:
    if not turns:
        return 0, "no turns"
    if turns[0].role != "user":
        return 0, "the first turn is the assistant's; a conversation starts with the user"
    for i in range(1, len(turns)):
        if turns[i].role == turns[i - 1].role:
            return 0, f"turns {i - 1} and {i} are both {turns[i].role} turns; roles must alternate"
    if turns[-1].role != "assistant":
        return 0, "the last turn is the user's; a conversation ends with the assistant's answer"
    return 1, "user and assistant alternate, starting with the user"


def _lengths(conv: Conversation, turns: list[AnyTurn], tax: Taxonomy) -> tuple[float, str]:
    rules = tax.targets.quality
    bad = []
    for i, t in enumerate(turns):
        lo, hi = rules.user_words if t.role == "user" else rules.assistant_words
        n = _words(t.text)
        if not lo <= n <= hi:
            bad.append(f"turn {i} ({t.role}) has {n} words, allowed {lo}-{hi}")
    if not turns:
        return 0, "no turns"
    if not bad:
        return 1, "every turn is within its word range"
    return 1 - len(bad) / len(turns), "; ".join(bad)


def _known_labels(conv: Conversation, turns: list[AnyTurn], tax: Taxonomy) -> tuple[float, str]:
    emotions = tax.by_id("emotions")
    strategies = set(tax.ids("strategies"))
    unknown: list[str] = []
    dims = {"tier": {t.id for t in tax.tiers}, "persona": set(tax.ids("personas")),
            "emotional_arc": set(tax.ids("arcs")), "topic": set(tax.ids("topics")),
            "intent": set(tax.ids("intents")), "tone": set(tax.ids("tones")),
            "outcome_type": set(tax.ids("outcomes"))}
    for dim, known in dims.items():
        value = getattr(conv.scenario, dim)
        if value not in known:
            unknown.append(f"scenario.{dim} {value!r}")
    for i, t in enumerate(turns):
        if isinstance(t, UserTurn):
            e = t.emotion
            for field, value in [("primary", e.primary), ("secondary", e.secondary)]:
                if value is not None and value not in emotions:
                    unknown.append(f"turn {i} emotion.{field} {value!r}")
            family = emotions.get(e.primary)
            if e.sub_emotion and family and e.sub_emotion not in family.sub_emotions:
                unknown.append(f"turn {i} sub_emotion {e.sub_emotion!r} (not in {e.primary})")
        else:
            for value in [t.strategies.primary, *t.strategies.supporting]:
                if value not in strategies:
                    unknown.append(f"turn {i} strategy {value!r}")
    if unknown:
        return 0, "unknown labels: " + "; ".join(unknown)
    return 1, "every label is in the taxonomy"


def _arc_realized(conv: Conversation, turns: list[AnyTurn], tax: Taxonomy) -> tuple[float, str]:
    arc = tax.by_id("arcs").get(conv.scenario.emotional_arc)
    if arc is None:
        return 0, f"unknown arc {conv.scenario.emotional_arc!r}"
    users = [t for t in turns if isinstance(t, UserTurn)]
    if not users:
        return 0, "no user turns to carry the arc"
    first, last = users[0].emotion.primary, users[-1].emotion.primary
    problems = []
    if first != arc.start_emotion:
        problems.append(f"the first user turn is {first}, the {arc.id} arc starts in {arc.start_emotion}")
    if last != arc.end_emotion:
        problems.append(f"the last user turn is {last}, the {arc.id} arc ends in {arc.end_emotion}")
    if problems:
        return 0, "; ".join(problems)
    return 1, f"{arc.start_emotion} -> {arc.end_emotion} as the {arc.id} arc requires"


def _consistency(conv: Conversation, turns: list[AnyTurn], tax: Taxonomy) -> tuple[float, str]:
    text = " ".join(t.text for t in turns).lower()
    persona = tax.by_id("personas").get(conv.scenario.persona)
    topic = tax.by_id("topics").get(conv.scenario.topic)
    missing = []
    for kind, item in [("persona", persona), ("topic", topic)]:
        if item is None:
            missing.append(f"unknown {kind}")
        elif not any(k.lower() in text for k in item.keywords):
            missing.append(f"nothing in the text shows the {kind} {item.id} "
                           f"(none of: {', '.join(item.keywords)})")
    if missing:
        return 0.5 if len(missing) == 1 else 0, "; ".join(missing)
    return 1, "the text fits the scenario's persona and topic"


def _no_empty_or_duplicate(conv: Conversation, turns: list[AnyTurn], tax: Taxonomy) -> tuple[float, str]:
    problems = []
    seen: dict[str, int] = {}
    for i, t in enumerate(turns):
        norm = " ".join(t.text.lower().split())
        if not norm:
            problems.append(f"turn {i} is empty")
        elif norm in seen:
            problems.append(f"turn {i} repeats turn {seen[norm]}")
        else:
            seen[norm] = i
    if problems:
        return 0, "; ".join(problems)
    return 1, "no empty or repeated turns"


CHECKS: list[Check] = [
    Check("turn_count", "Turn count", 2, True, _turn_count),
    Check("alternation", "Roles alternate", 2, True, _alternation),
    Check("lengths", "Turn lengths", 1.5, True, _lengths),
    Check("known_labels", "Labels in taxonomy", 2, True, _known_labels),
    Check("arc_realized", "Arc realized", 1.5, True, _arc_realized),
    Check("consistency", "Persona and topic", 1, True, _consistency),
    Check("no_empty_or_duplicate", "No empty or repeated turns", 1, True, _no_empty_or_duplicate),
]
CHECKS_BY_NAME = {c.name: c for c in CHECKS}


def check_conversation(conv: Conversation, tax: Taxonomy) -> QualityReport:
    """Run every check on the conversation's current labels (revisions applied)."""
    turns = conv.current_turns()
    results: list[CheckResult] = []
    earned = 0.0
    for check in CHECKS:
        fraction, reason = check.run(conv, turns, tax)
        earned += check.weight * fraction
        results.append(CheckResult(name=check.name, passed=fraction >= 1, reason=reason))
    total = sum(c.weight for c in CHECKS)
    score = max(1, min(10, round(1 + 9 * earned / total)))
    if not all(r.passed for r in results):
        score = min(score, 9)  # 10 means nothing to fix
    return QualityReport(score=score, checks=results)


def _files(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        out.extend(sorted(p.glob("*.json")) if p.is_dir() else [p])
    return out


def main(argv: list[str] | None = None, prog: str = "python -m lib validate") -> int:
    parser = argparse.ArgumentParser(prog=prog,
                                     description="Run the quality checks on conversation files.")
    parser.add_argument("paths", nargs="+", help="JSON files or folders of them")
    parser.add_argument("--taxonomy", default=None, help="taxonomy folder (default: taxonomy/)")
    args = parser.parse_args(argv)
    try:
        tax = load_taxonomy(args.taxonomy) if args.taxonomy else load_taxonomy()
    except TaxonomyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    ok = True
    for file in _files(args.paths):
        try:
            conv = Conversation.model_validate(json.loads(file.read_text(encoding="utf-8")))
        except (OSError, ValueError, ValidationError) as exc:
            first = str(exc).splitlines()
            print(f"{file}: does not load: {' '.join(first[:3])}")
            ok = False
            continue
        report = check_conversation(conv, tax)
        ok &= report.passed
        print(f"{file}: score {report.score}/10, {'all checks pass' if report.passed else 'FAILED'}")
        for c in report.failures:
            print(f"  - {c.name}: {c.reason}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
