"""Quality checks of a conversation, returned as a QualityReport.

Each check passes or fails with a reason that names the turn (0-based) and quotes the span it
concerns, so a reviewer can find it and the generation engine's repair loop can send it back to
the model. The checks are as strict on the seeds as on generated data.

Two flags per check:
- `hard`: a failure blocks approval and export. Label integrity (the labels describe the text, agree
  with each other and the taxonomy, alternate as the format needs) and safety/compliance rules.
  A hard failure also caps the score at 5.
- `repairable`: the model can fix it when the failures are sent back (engine repair loop). Every
  check here concerns text or labels the model writes, so every one is repairable; a check that
  judged something outside the model's answer would not be.
The score (1-10) weighs the checks; a conversation that passes everything scores 10.

`python -m lib validate seeds/` (or `python -m lib.validation seeds/`) checks files or folders of
conversations and prints one line per file.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field

from lib.core.checks import fit, labels, prose, repetition, rules, structure
from lib.core.checks.base import CheckFn, Finding
from lib.core.models import CheckResult, Conversation, Quality
from lib.core.seeds import conversation_files, read_conversation
from lib.core.taxonomy import Taxonomy, TaxonomyError, load_taxonomy

HARD_SCORE_CAP = 5


@dataclass(frozen=True)
class Check:
    name: str
    title: str
    weight: float
    hard: bool
    repairable: bool
    run: CheckFn


CHECKS: list[Check] = [
    # structure
    Check("turn_count", "Turn count", 2, False, True, structure.turn_count),
    Check("alternation", "Roles alternate", 2, True, True, structure.alternation),
    Check("lengths", "Turn lengths", 1.5, False, True, structure.lengths),
    Check("known_labels", "Labels in taxonomy", 2, True, True, structure.known_labels),
    Check("arc_realized", "Arc realized", 1.5, False, True, structure.arc_realized),
    # the labels match the text
    Check("cues_in_text", "Emotion cues quote the turn", 1.5, True, True, labels.cues_in_text),
    Check("sentence_functions", "Sentence functions quote the sentences", 1.5, True, True, labels.sentence_functions),
    Check("affect_in_range", "Valence and arousal fit the emotion", 1, True, True, labels.affect_in_range),
    Check("distinct_labels", "Secondary labels differ from primary", 1, True, True, labels.distinct_labels),
    Check("intensity_follows_arc", "Intensity follows the arc", 1, False, True, labels.intensity_follows_arc),
    # a finished turn in plain words
    Check("plain_text", "Plain text", 1, False, True, prose.plain_text),
    Check("no_placeholders", "No template slots", 1, False, True, prose.no_placeholders),
    Check("no_speaker_labels", "No speaker labels", 1, False, True, prose.no_speaker_labels),
    Check("finished_turns", "Finished turns", 1, False, True, prose.finished_turns),
    Check("language", "Vertical's language", 1, False, True, prose.language),
    Check("no_empty_or_duplicate", "No empty or repeated turns", 1, False, True, repetition.no_empty_or_duplicate),
    # the vertical's rules
    Check("compliance", "Safety and compliance", 2, True, True, rules.compliance),
    Check("required_elements", "Required elements", 2, True, True, rules.required_elements),
    Check("brand_voice", "Brand voice", 1, False, True, rules.brand_voice),
    Check("consistency", "Persona and topic", 1, False, True, fit.consistency),
]
CHECKS_BY_NAME = {c.name: c for c in CHECKS}


class QualityReport(BaseModel):
    score: int
    checks: list[CheckResult]
    findings: list[Finding] = Field(default_factory=list)  # empty when rebuilt from a stored Quality

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed]

    @property
    def repairable_failures(self) -> list[CheckResult]:
        return [c for c in self.failures if c.name in CHECKS_BY_NAME and CHECKS_BY_NAME[c.name].repairable]

    @property
    def hard_failures(self) -> list[CheckResult]:
        """Failures that block approval and export. A check this version does not know counts as
        hard: a stored report from another version must not slip through."""
        return [c for c in self.failures if c.name not in CHECKS_BY_NAME or CHECKS_BY_NAME[c.name].hard]

    @property
    def blocks_approval(self) -> bool:
        return bool(self.hard_failures)

    def findings_for(self, turn: int) -> list[Finding]:
        return [f for f in self.findings if f.turn == turn]

    def to_quality(self, previous: Quality | None = None) -> Quality:
        """The report as the conversation's quality block, keeping any human ratings."""
        base = previous or Quality()
        return base.model_copy(update={"score": self.score, "checks": list(self.checks)})


def is_hard(check_name: str) -> bool:
    return check_name not in CHECKS_BY_NAME or CHECKS_BY_NAME[check_name].hard


def check_conversation(conv: Conversation, tax: Taxonomy) -> QualityReport:
    """Run every check on the conversation's current labels (revisions applied)."""
    turns = conv.current_turns()
    results: list[CheckResult] = []
    findings: list[Finding] = []
    earned = 0.0
    for check in CHECKS:
        outcome = check.run(conv, turns, tax)
        earned += check.weight * outcome.fraction
        passed = outcome.fraction >= 1
        results.append(CheckResult(name=check.name, passed=passed, reason=outcome.reason))
        if not passed:
            findings += [f.model_copy(update={"check": check.name}) for f in outcome.findings]
    total = sum(c.weight for c in CHECKS)
    score = max(1, min(10, round(1 + 9 * earned / total)))
    if not all(r.passed for r in results):
        score = min(score, 9)  # 10 means nothing to fix
    if any(not r.passed and CHECKS_BY_NAME[r.name].hard for r in results):
        score = min(score, HARD_SCORE_CAP)
    return QualityReport(score=score, checks=results, findings=findings)


def report_line(file: Path | str, report: QualityReport) -> str:
    """One line: the file, its score, and each failed check with its reason (turns and spans)."""
    if report.passed:
        return f"{file}: score {report.score}/10, all checks pass"
    parts = [f"{c.name}{' [hard]' if is_hard(c.name) else ''}: {c.reason}" for c in report.failures]
    return f"{file}: score {report.score}/10, FAILED " + " | ".join(parts)


def main(argv: list[str] | None = None, prog: str = "python -m lib validate") -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run the quality checks on conversation files (one line per file; [hard] failures block approval).",
    )
    parser.add_argument("paths", nargs="+", help="JSON files or folders of them")
    parser.add_argument("--taxonomy", default=None, help="taxonomy folder (default: taxonomy/)")
    args = parser.parse_args(argv)
    try:
        tax = load_taxonomy(args.taxonomy) if args.taxonomy else load_taxonomy()
    except TaxonomyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    files = conversation_files(args.paths)
    if not files:
        print(f"error: no .json files in {', '.join(args.paths)}", file=sys.stderr)
        return 1
    ok = True
    for file in files:
        try:
            conv = read_conversation(file)
        except ValueError as exc:
            print(f"{file}: does not load: {exc}")
            ok = False
            continue
        report = check_conversation(conv, tax)
        ok &= report.passed
        print(report_line(file, report))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
