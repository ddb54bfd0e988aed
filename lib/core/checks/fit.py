"""Persona and topic fit, judged on the user's turns.

The person is the one who shows the persona (their situation, their words) and brings up the
topic, so only user turns count: an assistant that names the topic in every answer does not make
a conversation about it. Keywords match their inflections (save, saving, saved).
"""

from __future__ import annotations

from lib.core.checks.base import AnyTurn, Finding, Outcome, ok
from lib.core.checks.normalize import contains_phrase, stems
from lib.core.models import Conversation, UserTurn
from lib.core.taxonomy import Taxonomy


def consistency(conv: Conversation, turns: list[AnyTurn], tax: Taxonomy) -> Outcome:
    users = [(i, t) for i, t in enumerate(turns) if isinstance(t, UserTurn)]
    user_stems = [stems(t.text) for _, t in users]
    span = ", ".join(str(i) for i, _ in users) or "none"
    found: list[Finding] = []
    shown: list[str] = []
    for kind, item in [
        ("persona", tax.by_id("personas").get(conv.scenario.persona)),
        ("topic", tax.by_id("topics").get(conv.scenario.topic)),
    ]:
        if item is None:
            found.append(Finding(message=f"unknown {kind}"))
            continue
        hits = [k for k in item.keywords if any(contains_phrase(s, k) for s in user_stems)]
        if hits:
            shown.append(f"{kind} {item.id} ({', '.join(hits[:3])})")
        else:
            found.append(
                Finding(
                    # Two examples, not the whole list: a repair that gets the list stuffs the turns with it.
                    message=f"nothing in the user's turns (turns {span}) shows the {kind} {item.id}; let the person "
                    f"bring it up in their own words (for example {' or '.join(repr(k) for k in item.keywords[:2])})"
                )
            )
    if found:
        return Outcome(0.5 if len(found) == 1 else 0, "; ".join(f.message for f in found), tuple(found))
    return ok("the user's turns show the " + " and the ".join(shown))
