"""Contrastive requests for the fake Anthropic server (tests/fake_anthropic.py): an output schema with
`responses` (lib.generation.contrast_prompt.ContrastAnswer). The fake reads the turns and kinds asked for
from the request's <requests> and answers each with a plausible failed turn of that kind, written for
the topic in the request, and why it fails.

Behaviours (the fake's script) that apply: "valid"; "wrong_kind" (every response names a kind not asked
for), "user_turn" (every response replaces the person's turn before it), "labelled" (the text starts
"Failed response (kind):"); "malformed", "max_tokens" and "refusal" as for any request. The request never
shows the turns it replaces, so a test that wants them copied scripts `copying(fake, conversation)`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from lib.generation.replay import content_text, tag

if TYPE_CHECKING:
    from tests.fake_anthropic import Answer, FakeAnthropic

_ASK = re.compile(r"^- turn (\d+), in reply to turn \d+ \(([^)]*)\): (.+)$", re.MULTILINE)

# what each failure kind sounds like, with {topic} filled in; the m-th response of a kind adds _AGAIN[m]
_FAILED = {
    "premature_advice": (
        "Here's the plan for {topic}. First, list every account and balance tonight. Second, set up "
        "an automatic transfer of 15% of each paycheck. Third, book a review with me next week and "
        "bring your statements.",
        "Jumps to a three-step plan before acknowledging how {emotion} they are or asking what is "
        "going on; they cannot take in steps yet.",
    ),
    "minimising": (
        "Honestly, {topic} is not a big deal. Lots of people are in a far worse spot, and you're "
        "overthinking it. Let's just move on to the numbers.",
        "Tells a person who is {emotion} that their worry is not a big deal; they learn the feeling is "
        "unwelcome and stop sharing.",
    ),
    "false_reassurance": (
        "Don't worry at all about {topic}. Everything will be completely fine, the market always "
        "comes back, and you won't lose a cent if you just stay the course.",
        "Promises an outcome nobody can promise to a person who is {emotion}; it is untrue and "
        "breaks trust when reality differs.",
    ),
    "lecturing": (
        "With {topic}, the real problem is the choices that got you here. You should have built an "
        "emergency fund years ago; everyone knows the rule is six months of expenses, and skipping it "
        "always ends this way.",
        "Moralises about past choices while the person is {emotion}; judgement deepens shame and they disengage.",
    ),
    "over_referral": (
        "{topic} sounds like more than I can help with. You should really talk to a licensed "
        "therapist or call a helpline about this before we go any further.",
        "Hands off a person who is {emotion} when nothing calls for it; it reads as dismissal and "
        "they leave with no help.",
    ),
    "off_voice": (
        "Great news!!! {topic} is a super exciting opportunity to optimise your portfolio allocation "
        "and maximise risk-adjusted returns. Let's crush it!",
        "A salesy, falsely cheerful tone for someone who is {emotion} makes them feel unseen.",
    ),
}
_AGAIN = ("", " Does that make sense?", " Anyway, that's my view.", " Let me know.", " Moving on.")


def is_contrast_request(body: dict[str, Any]) -> bool:
    schema = ((body.get("output_config") or {}).get("format") or {}).get("schema") or {}
    return "responses" in (schema.get("properties") or {})


def asked(body: dict[str, Any]) -> tuple[list[tuple[int, str, str, int]], str]:
    """(turn, emotion, kind, n) per kind asked for, and the topic."""
    first = content_text((body.get("messages") or [{}])[0].get("content"))
    requests = tag(first, "requests") or ""
    asks = []
    for m in _ASK.finditer(requests):
        for part in m.group(3).split(", "):
            n, _, kind = part.partition(" ")
            asks.append((int(m.group(1)), m.group(2), kind.strip(), int(n)))
    return asks, (tag(first, "topic") or "this").replace("_", " ")


def contrast_responses(body: dict[str, Any], kind: str, real: Mapping[int, str] | None = None) -> list[dict[str, Any]]:
    """The failed responses asked for, spoilt as `kind` says; `real`: texts that replace them (copies)."""
    asks, topic = asked(body)
    out = []
    for turn, emotion, failure, n in asks:
        text, why = _FAILED.get(failure, _FAILED["minimising"])
        for m in range(n):
            out.append(
                {
                    "turn": turn,
                    "kind": failure,
                    "why": why.format(emotion=emotion),
                    "text": text.format(topic=topic.capitalize() if text.startswith("{") else topic) + _AGAIN[m % 5],
                }
            )
    for r in out:
        if kind == "wrong_kind":
            r["kind"] = "tough_love"
        elif kind == "user_turn":
            r["turn"] -= 1
        if real is not None:
            r["text"] = real[r["turn"]]
        elif kind == "labelled":
            r["text"] = f"Failed response ({r['kind']}): " + r["text"]
    return out


def contrast_answer(fake: FakeAnthropic, body: dict[str, Any], kind: str, *, batch: bool = False) -> Answer:
    from tests.fake_anthropic import structured_answer

    return structured_answer(fake, body, json.dumps({"responses": contrast_responses(body, kind)}), kind, batch=batch)


def copying(fake: FakeAnthropic, conversation: Any) -> Callable[[dict[str, Any]], Answer]:
    """A behaviour: every failed response repeats the real turn it replaces, from `conversation`."""
    from tests.fake_anthropic import structured_answer

    real = {i: t.text for i, t in enumerate(conversation.current_turns())}

    def answer(body: dict[str, Any]) -> Answer:
        text = json.dumps({"responses": contrast_responses(body, "valid", real)})
        return structured_answer(fake, body, text, "valid")

    return answer
