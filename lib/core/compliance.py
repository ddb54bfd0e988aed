"""A vertical's compliance rules (taxonomy/compliance.yaml) and how a rule matches text.

    compliance:
      forbidden:   what an assistant turn must never say
        - id, name, description (why), severity: hard | soft
          patterns: regular expressions (case-insensitive; `(?-i:...)` for a case-sensitive part)
          unless_before: a regular expression; a match is not a violation when it occurs earlier in the
                         same clause (negations: "nobody can guarantee 30% a year" is fine)
          examples: sentences the rule must catch; allowed: sentences it must not catch (both are
                    checked when the taxonomy loads, so a rule that stops working fails loudly)
      required:    what the assistant must say in some scenarios
        - id, name, description, when: {arcs: [...], contexts: [...], outcomes: [...]} (any of them)
          patterns: each must match in at least one assistant turn
          example: a sentence that satisfies every pattern (shown to the generator)

A hard rule is safety or compliance: a failure blocks approval and export. A soft rule is brand
voice: it is reported and sent back for repair, but a reviewer may still approve.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_CLAUSE_BREAK = re.compile(r"[.!?;:,\u2014\n(]|\s-\s|\bbut\b", re.IGNORECASE)


@lru_cache(maxsize=1024)
def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression ({exc}): {pattern!r}") from None


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    description: str = ""
    patterns: list[str] = Field(min_length=1)

    @field_validator("patterns")
    @classmethod
    def _valid_patterns(cls, value: list[str]) -> list[str]:
        for p in value:
            _compile(p)
        return value

    def compiled(self) -> list[re.Pattern[str]]:
        return [_compile(p) for p in self.patterns]


@dataclass(frozen=True)
class Violation:
    span: str
    start: int
    end: int


class ForbiddenRule(_Rule):
    severity: Literal["hard", "soft"]
    unless_before: str | None = None
    examples: list[str] = Field(min_length=1)
    allowed: list[str] = Field(default_factory=list)

    @field_validator("unless_before")
    @classmethod
    def _valid_unless(cls, value: str | None) -> str | None:
        if value is not None:
            _compile(value)
        return value

    @model_validator(mode="after")
    def _catches_its_examples(self) -> ForbiddenRule:
        for n, text in enumerate(self.examples):
            if not self.violations(text):
                raise ValueError(
                    f"examples[{n}]: the rule does not catch its own example {text!r}; fix the patterns or the example"
                )
        for n, text in enumerate(self.allowed):
            hit = self.violations(text)
            if hit:
                raise ValueError(f"allowed[{n}]: the rule catches {hit[0].span!r} in {text!r}, which it must allow")
        return self

    def violations(self, text: str) -> list[Violation]:
        """Every match in the text that no negation earlier in its clause excuses."""
        unless = _compile(self.unless_before) if self.unless_before else None
        out: list[Violation] = []
        for pattern in self.compiled():
            for m in pattern.finditer(text):
                if unless is not None and unless.search(_clause_before(text, m.start())):
                    continue
                out.append(Violation(m.group(0), m.start(), m.end()))
        return sorted(out, key=lambda v: v.start)


def _clause_before(text: str, at: int) -> str:
    """The text from the start of the clause holding position `at` up to it."""
    start = 0
    for m in _CLAUSE_BREAK.finditer(text, 0, at):
        start = m.end()
    return text[start:at]


class RuleScope(BaseModel):
    model_config = ConfigDict(extra="forbid")
    arcs: list[str] = Field(default_factory=list)
    contexts: list[str] = Field(default_factory=list)
    outcomes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _not_empty(self) -> RuleScope:
        if not (self.arcs or self.contexts or self.outcomes):
            raise ValueError("a required rule needs at least one arc, context or outcome in `when`")
        return self

    def applies(self, arc: str, context_id: str | None, outcome: str) -> bool:
        return arc in self.arcs or (context_id is not None and context_id in self.contexts) or outcome in self.outcomes


class RequiredRule(_Rule):
    when: RuleScope
    example: str

    @model_validator(mode="after")
    def _example_satisfies(self) -> RequiredRule:
        missing = self.missing([self.example])
        if missing:
            raise ValueError(f"example: {self.example!r} does not match {missing[0]!r}; fix the pattern or the example")
        return self

    def missing(self, texts: list[str]) -> list[str]:
        """The patterns that match none of the texts."""
        return [p.pattern for p in self.compiled() if not any(p.search(t) for t in texts)]


class Compliance(BaseModel):
    model_config = ConfigDict(extra="forbid")
    forbidden: list[ForbiddenRule] = Field(default_factory=list)
    required: list[RequiredRule] = Field(default_factory=list)

    def forbidden_of(self, severity: str) -> list[ForbiddenRule]:
        return [r for r in self.forbidden if r.severity == severity]

    def required_for(self, arc: str, context_id: str | None, outcome: str) -> list[RequiredRule]:
        return [r for r in self.required if r.when.applies(arc, context_id, outcome)]
