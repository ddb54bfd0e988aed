"""The vertical's compliance rules (taxonomy/compliance.yaml) applied to the assistant's turns.

- compliance: the hard forbidden rules (safety and compliance) are never said;
- brand_voice: the soft forbidden rules (phrases the voice avoids) are never said;
- required_elements: what the scenario's arc, context or outcome requires is said in some turn.
What the user says is not checked: a person may well ask for guaranteed returns.
"""

from __future__ import annotations

from lib.core.checks.base import AnyTurn, Finding, Outcome, judged, where
from lib.core.checks.normalize import clip
from lib.core.models import AssistantTurn, Conversation
from lib.core.taxonomy import Taxonomy


def _forbidden(severity: str, conv: Conversation, turns: list[AnyTurn], tax: Taxonomy, ok_reason: str) -> Outcome:
    rules = tax.compliance.forbidden_of(severity)
    assistants = [(i, t) for i, t in enumerate(turns) if isinstance(t, AssistantTurn)]
    found: list[Finding] = []
    for i, t in assistants:
        for rule in rules:
            for v in rule.violations(t.text):
                found.append(
                    Finding(
                        turn=i,
                        span=v.span,
                        message=f'{where(i, t)} says "{clip(v.span)}": {rule.name.lower()} '
                        f"({rule.id}); rewrite it without that",
                    )
                )
    return judged(found, len(assistants), ok_reason)


def compliance(conv: Conversation, turns: list[AnyTurn], tax: Taxonomy) -> Outcome:
    return _forbidden("hard", conv, turns, tax, "no assistant turn says what the compliance rules forbid")


def brand_voice(conv: Conversation, turns: list[AnyTurn], tax: Taxonomy) -> Outcome:
    return _forbidden("soft", conv, turns, tax, "no assistant turn uses a phrase the brand voice avoids")


def required_elements(conv: Conversation, turns: list[AnyTurn], tax: Taxonomy) -> Outcome:
    s = conv.scenario
    rules = tax.compliance.required_for(s.emotional_arc, s.context_id, s.outcome_type)
    if not rules:
        return judged([], 0, "nothing is required of this scenario")
    indexes = [i for i, t in enumerate(turns) if isinstance(t, AssistantTurn)]
    texts = [turns[i].text for i in indexes]
    found = []
    for rule in rules:
        missing = rule.missing(texts)
        if missing:
            span = ", ".join(map(str, indexes)) or "none"
            found.append(
                Finding(
                    message=f"no assistant turn (turns {span}) gives the {rule.name.lower()} "
                    f'({rule.id}) this scenario requires; for example: "{rule.example}"'
                )
            )
    return judged(found, len(indexes), "the scenario's required elements: " + ", ".join(r.id for r in rules))
