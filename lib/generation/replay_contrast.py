"""The failed turns of a demo replay (lib.generation.replay), and of the tests' fake Anthropic server: for
each turn and failure kind a contrastive request (lib.generation.contrast_prompt) asks for, a plausible
failed reply of that kind, written for the request's topic, with why it fails for the person's emotion.
Each text passes the checks an answer must pass (no label, never the real turn, no two alike).

A kind the writer has no text for gets the minimising text under the kind asked for: a taxonomy that adds
a kind still gets an answer that passes, and the reviewer rejects the pair.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

# one line of the request's <requests>: "- turn 3, in reply to turn 2 (anxiety): 1 minimising, 2 lecturing"
_ASK = re.compile(r"^- turn (\d+), in reply to turn \d+ \(([^)]*)\): (.+)$", re.MULTILINE)

# what each failure kind sounds like, with {topic} filled in, and why it fails, with {emotion} (an emotion
# family id, a noun) filled in; the m-th use of a text for a turn adds _AGAIN[m], so that none repeats (a
# kind without a text of its own shares the fallback's)
_FAILED: dict[str, tuple[str, str]] = {
    "premature_advice": (
        "Here's the plan for {topic}. First, list every account and balance tonight. Second, set up "
        "an automatic transfer of 15% of each paycheck. Third, book a review with me next week and "
        "bring your statements.",
        "Jumps to a three-step plan before acknowledging their {emotion} or asking what is going on; a person "
        "in that state cannot take in steps yet.",
    ),
    "minimising": (
        "Honestly, {topic} is not a big deal. Lots of people are in a far worse spot, and you're "
        "overthinking it. Let's just move on to the numbers.",
        "Shrinks their {emotion} to 'not a big deal'; they learn the feeling is unwelcome and stop sharing.",
    ),
    "false_reassurance": (
        "Don't worry at all about {topic}. Everything will be completely fine, the market always "
        "comes back, and you won't lose a cent if you just stay the course.",
        "Meets their {emotion} with an outcome nobody can promise; it is untrue and breaks trust when reality differs.",
    ),
    "lecturing": (
        "With {topic}, the real problem is the choices that got you here. You should have built an "
        "emergency fund years ago; everyone knows the rule is six months of expenses, and skipping it "
        "always ends this way.",
        "Moralises about past choices instead of meeting their {emotion}; judgement deepens shame and they disengage.",
    ),
    "over_referral": (
        "{topic} sounds like more than I can help with. You should really talk to a licensed "
        "therapist or call a helpline about this before we go any further.",
        "Hands the person off when nothing calls for it instead of engaging with their {emotion}; it reads "
        "as dismissal and they leave with no help.",
    ),
    "off_voice": (
        "Great news!!! {topic} is a super exciting opportunity to optimise your portfolio allocation "
        "and maximise risk-adjusted returns. Let's crush it!",
        "A salesy, falsely cheerful tone meets their {emotion}; it makes them feel unseen.",
    ),
}
FALLBACK_KIND = "minimising"
_AGAIN = (
    "",
    " Does that make sense?",
    " Anyway, that's my view.",
    " Let me know.",
    " Moving on.",
    " That's really all there is to it.",
    " Trust me on this one.",
    " Simple as that.",
    " Any other questions?",
    " Hope that helps.",
)


@dataclass(frozen=True)
class Ask:
    """n failed responses of one kind for one assistant turn, answering a person feeling `emotion`."""

    turn: int
    emotion: str
    kind: str
    n: int


def read_asks(requests: str) -> list[Ask]:
    """What a contrastive request's <requests> asks for, in its order."""
    out = []
    for m in _ASK.finditer(requests):
        for part in m.group(3).split(", "):
            n, _, kind = part.partition(" ")
            out.append(Ask(int(m.group(1)), m.group(2), kind.strip(), int(n)))
    return out


def failed_turns(requests: str, topic: str) -> list[dict[str, Any]]:
    """The failed responses `requests` asks for (ContrastAnswer's `responses`), about `topic` (as a person
    names it: the taxonomy's name)."""
    out = []
    used: Counter[tuple[int, str]] = Counter()
    for ask in read_asks(requests):
        text, why = _FAILED.get(ask.kind, _FAILED[FALLBACK_KIND])
        about = _at_start(topic) if text.startswith("{topic}") else _in_sentence(topic)
        for _ in range(ask.n):
            m = used[(ask.turn, text)]
            used[(ask.turn, text)] += 1
            out.append(
                {
                    "turn": ask.turn,
                    "kind": ask.kind,
                    "why": why.replace("{emotion}", ask.emotion),
                    "text": text.replace("{topic}", about) + _AGAIN[m % len(_AGAIN)],
                }
            )
    return out


def _at_start(name: str) -> str:
    return name[:1].upper() + name[1:]


def _in_sentence(name: str) -> str:
    """ "Retirement savings and the 401(k)" -> "retirement savings and the 401(k)"; "IRAs and..." stays."""
    return name[:1].lower() + name[1:] if name[1:2].islower() else name
