"""Contrastive requests for the fake Anthropic server (tests/fake_anthropic.py): an output schema with
`responses` (lib.generation.contrast_prompt.ContrastAnswer). The fake answers what the demo replay answers
(lib.generation.replay.contrast_for: a plausible failed turn of each kind asked for, about the request's
topic, and why it fails), spoilt as the behaviour says.

Behaviours (the fake's script) that apply: "valid"; "wrong_kind" (every response names a kind not asked
for), "user_turn" (every response replaces the person's turn before it), "labelled" (the text starts
"Failed response (kind):"); "malformed", "max_tokens" and "refusal" as for any request. The request never
shows the turns it replaces, so a test that wants them copied scripts `copying(fake, conversation)`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from lib.generation.replay import contrast_for, is_contrast_request

if TYPE_CHECKING:
    from tests.fake_anthropic import Answer, FakeAnthropic

__all__ = ["contrast_answer", "contrast_responses", "copying", "is_contrast_request"]


def contrast_responses(
    fake: FakeAnthropic, body: dict[str, Any], kind: str, real: Mapping[int, str] | None = None
) -> list[dict[str, Any]]:
    """The failed responses asked for, spoilt as `kind` says; `real`: texts that replace them (copies)."""
    out: list[dict[str, Any]] = contrast_for(body, fake.tax)["responses"]
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

    text = json.dumps({"responses": contrast_responses(fake, body, kind)})
    return structured_answer(fake, body, text, kind, batch=batch)


def copying(fake: FakeAnthropic, conversation: Any) -> Callable[[dict[str, Any]], Answer]:
    """A behaviour: every failed response repeats the real turn it replaces, from `conversation`."""
    from tests.fake_anthropic import structured_answer

    real = {i: t.text for i, t in enumerate(conversation.current_turns())}

    def answer(body: dict[str, Any]) -> Answer:
        text = json.dumps({"responses": contrast_responses(fake, body, "valid", real)})
        return structured_answer(fake, body, text, "valid")

    return answer
