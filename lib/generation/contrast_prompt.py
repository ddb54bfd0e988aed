"""What a contrastive request asks for and what its answer means: which assistant turns of a conversation get
failed responses of which failure kinds (taxonomy/failures.yaml), the prompt that asks for them
(prompts/contrast_system.md, contrast_turns.md, contrast_repair.md), the structured output they come back
in, and the checks an answer must pass before anything of it is stored.

A failed response replaces one assistant turn, written after the turns before it only. The kinds default
to those that suit the emotion of the person's turn just before (`Failures.suited_to`). An answer is
checked response by response: the turn must be one asked for (an assistant turn), the kind one asked for
that turn, the text plain message text (no label, no heading) that is not the real turn's text again.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lib.core.models import AssistantTurn, Conversation, UserTurn
from lib.core.taxonomy import Taxonomy
from lib.generation.prompt_text import brand_voice, num, persona_profile, topic_profile
from lib.generation.templates import PromptTemplate, template_set

MAX_PER_KIND = 5  # failed responses of one kind for one turn
MAX_PER_REQUEST = 40  # failed responses in one request: about 10k output tokens
TOKENS_PER_RESPONSE = 350  # a reply of a few sentences and why it fails, as JSON
BASE_OUTPUT_TOKENS = 400

Asks = dict[int, tuple[str, ...]]  # assistant turn -> the failure kinds asked for it


class ContrastError(ValueError):
    """What was asked cannot be written (a user turn, an unknown kind, nothing that suits); says what to do."""


# ---- what the model writes ---------------------------------------------------------------------
class FailedResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    turn: int = Field(description="0-based number of the assistant turn this response replaces.")
    kind: str = Field(description="The failure kind id asked for this turn.")
    why: str = Field(description="One or two sentences: how this reply fails this person at this moment.")
    text: str = Field(description="The failed reply, as plain message text the assistant would send.")


class ContrastAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    responses: list[FailedResponse] = Field(description="One entry per failed response asked for.")


# ---- what is asked -----------------------------------------------------------------------------
def user_before(turns: Sequence[UserTurn | AssistantTurn], idx: int) -> int | None:
    """The number of the person's last turn before turn idx, None without one."""
    return next((i for i in range(idx - 1, -1, -1) if isinstance(turns[i], UserTurn)), None)


def emotion_before(turns: Sequence[UserTurn | AssistantTurn], idx: int) -> str | None:
    """The emotion family of the person's last turn before turn idx (labels in force), None without one."""
    i = user_before(turns, idx)
    turn = turns[i] if i is not None else None
    return turn.emotion.primary if isinstance(turn, UserTurn) else None


def plan_asks(
    conv: Conversation, tax: Taxonomy, *, turns: Sequence[int] | None = None, kinds: Sequence[str] | None = None
) -> Asks:
    """The failure kinds to write for each assistant turn: `turns` (None: every assistant turn after a
    person's turn), each with `kinds` (None: the kinds that suit the emotion before it). A turn nothing suits
    is left out when the turns were not named; ContrastError when nothing is left, or for a named turn that
    is not an assistant turn, or a kind the taxonomy lacks."""
    failures = tax.failures
    if not failures.kinds:
        raise ContrastError("The taxonomy has no failure kinds: add taxonomy/failures.yaml to write contrastive turns.")
    unknown = [k for k in kinds or () if k not in failures.by_id]
    if unknown:
        raise ContrastError(
            f"Unknown failure kind {', '.join(map(repr, unknown))}; choose from {', '.join(failures.by_id)}."
        )
    current = conv.current_turns()
    assistant = [i for i, t in enumerate(current) if isinstance(t, AssistantTurn) and emotion_before(current, i)]
    if turns is not None:
        wrong = [i for i in turns if i not in assistant]
        if wrong:
            raise ContrastError(
                f"Turn {', '.join(map(str, wrong))} of {conv.id} is not an assistant turn that answers the person; "
                f"choose from {', '.join(map(str, assistant))}."
            )
    asks: Asks = {}
    for i in sorted(set(turns) if turns is not None else assistant):
        emotion = emotion_before(current, i) or ""
        chosen = tuple(dict.fromkeys(kinds)) if kinds else tuple(f.id for f in failures.suited_to(emotion))
        if chosen:
            asks[i] = chosen
    if not asks:
        raise ContrastError(f"No failure kind suits the emotions of {conv.id}'s turns; name the kinds to write.")
    return asks


def response_count(asks: Mapping[int, Sequence[str]], n: int) -> int:
    return n * sum(len(k) for k in asks.values())


def check_count(asks: Mapping[int, Sequence[str]], n: int) -> None:
    if not 1 <= n <= MAX_PER_KIND:
        raise ContrastError(f"Ask for 1 to {MAX_PER_KIND} responses of each kind, not {n}.")
    total = response_count(asks, n)
    if total > MAX_PER_REQUEST:
        raise ContrastError(
            f"That is {total} failed responses for one conversation; at most {MAX_PER_REQUEST} go in one request. "
            "Choose fewer turns or kinds."
        )


def output_budget(asks: Mapping[int, Sequence[str]], n: int, cap: int) -> int:
    """max_tokens for a request, live or in a batch: room for every response asked for, at most `cap`."""
    return min(cap, BASE_OUTPUT_TOKENS + TOKENS_PER_RESPONSE * response_count(asks, n))


# ---- the prompt --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ContrastPlan:
    system: str
    user: str
    system_template: PromptTemplate
    user_template: PromptTemplate
    repair_template: PromptTemplate
    asks: Asks
    n: int

    @property
    def prompt_sha256(self) -> str:
        """The whole prompt's hash (system and request): two rows with one hash were asked the same."""
        return hashlib.sha256((self.system + "\n\n" + self.user).encode()).hexdigest()

    def log_parameters(self, conv: Conversation) -> dict[str, Any]:
        """What a log row records about the request (never the conversation text)."""
        return {
            "conversation_id": conv.id,
            "asks": {str(t): list(k) for t, k in self.asks.items()},
            "n": self.n,
            "user_template": {
                "name": self.user_template.name,
                "version": self.user_template.version,
                "sha256": self.user_template.sha256,
            },
            "prompt_sha256": self.prompt_sha256,
        }


def contrast_templates(templates: Mapping[str, PromptTemplate] | None = None) -> tuple[PromptTemplate, ...]:
    """The three templates of contrastive turns (system, request, repair)."""
    return template_set(("contrast_system", "contrast_turns", "contrast_repair"), "contrastive turns", templates)


def failure_definitions(tax: Taxonomy) -> str:
    return "\n".join(
        f.id
        + " ("
        + f.name
        + "): "
        + " ".join(f.looks_like.split())
        + "\n  why it fails: "
        + " ".join(f.why_it_fails.split())
        for f in tax.failures.kinds
    )


def render_context(turns: Sequence[UserTurn | AssistantTurn]) -> str:
    """The turns as the request shows them: number, role, the person's emotion, then the text."""
    blocks = []
    for i, t in enumerate(turns):
        if isinstance(t, UserTurn):
            head = f"[{i}] person\nemotion: {t.emotion.primary}, intensity {num(t.emotion.intensity)}"
        else:
            head = f"[{i}] assistant"
        blocks.append(head + "\ntext: " + t.text)
    return "\n\n".join(blocks)


def render_requests(asks: Mapping[int, Sequence[str]], n: int, turns: Sequence[UserTurn | AssistantTurn]) -> str:
    lines = []
    for i, kinds in asks.items():
        each = ", ".join(f"{n} {k}" for k in kinds)
        lines.append(f"- turn {i}, in reply to turn {user_before(turns, i)} ({emotion_before(turns, i)}): {each}")
    return "\n".join(lines)


def build_contrast_prompt(
    conv: Conversation, tax: Taxonomy, asks: Asks, n: int = 1, templates: Mapping[str, PromptTemplate] | None = None
) -> ContrastPlan:
    """The cached system prompt and the request for the failed responses `asks` names, n of each."""
    check_count(asks, n)
    system_t, user_t, repair_t = contrast_templates(templates)
    system = system_t.render(
        {
            "vertical": tax.vertical.name + ": " + " ".join(tax.vertical.description.split()),
            "brand_voice": brand_voice(tax),
            "failure_kinds": failure_definitions(tax),
        }
    )
    turns = conv.current_turns()
    scenario = conv.scenario
    user = user_t.render(
        {
            "persona": scenario.persona,
            "persona_profile": persona_profile(scenario.persona, tax),
            "topic": scenario.topic,
            "topic_profile": topic_profile(scenario.topic, tax),
            "conversation": render_context(turns[: max(asks)]),
            "requests": render_requests(asks, n, turns),
            "response_count": response_count(asks, n),
        }
    )
    return ContrastPlan(system, user, system_t, user_t, repair_t, dict(asks), n)


# ---- what an answer means ----------------------------------------------------------------------
_LABELLED = re.compile(
    r"^\s*(\*\*|#+\s|\[|\((failed|bad|negative)|(failed|rejected|bad|negative)\s+(response|reply)\b|assistant\s*:)",
    re.IGNORECASE,
)


def _plain(text: str) -> str:
    return " ".join(text.split()).casefold()


def read_answer(
    answer: ContrastAnswer, conv: Conversation, asks: Mapping[int, Sequence[str]], n: int
) -> tuple[list[FailedResponse], list[str]]:
    """The responses that pass every check (at most n per turn and kind), and the problems a repair round
    should fix: a turn or kind not asked for, an empty or labelled text, a copy of the real turn, a
    repeat, a missing response."""
    turns = conv.current_turns()
    kept: list[FailedResponse] = []
    problems: list[str] = []
    seen: set[tuple[int, str]] = set()
    for k, r in enumerate(answer.responses):
        where = f"responses[{k}] (turn {r.turn}, {r.kind})"
        text, why = r.text.strip(), r.why.strip()
        if r.turn not in asks:
            if 0 <= r.turn < len(turns) and isinstance(turns[r.turn], UserTurn):
                problems.append(
                    f"{where}: turn {r.turn} is the person's turn; replace only assistant turns {_list(asks)}"
                )
            else:
                problems.append(f"{where}: turn {r.turn} was not asked for; replace only turns {_list(asks)}")
            continue
        if r.kind not in asks[r.turn]:
            problems.append(f"{where}: {r.kind!r} was not asked for turn {r.turn}; use {', '.join(asks[r.turn])}")
            continue
        if not text or not why:
            problems.append(f"{where}: the text and why must both be written")
            continue
        if _plain(text) == _plain(turns[r.turn].text):
            problems.append(f"{where}: the text repeats the real turn {r.turn}; write a failed reply instead")
            continue
        if _LABELLED.match(text) or r.kind in text:
            problems.append(f"{where}: the text carries a label or heading; write only the message itself")
            continue
        if (r.turn, _plain(text)) in seen:
            problems.append(f"{where}: the same text was given twice for turn {r.turn}; make each one differ")
            continue
        if sum(1 for x in kept if (x.turn, x.kind) == (r.turn, r.kind)) >= n:
            continue  # more than asked for: the first n are kept
        seen.add((r.turn, _plain(text)))
        kept.append(r.model_copy(update={"text": text, "why": why}))
    for turn, kinds in asks.items():
        for kind in kinds:
            have = sum(1 for x in kept if (x.turn, x.kind) == (turn, kind))
            if have < n:
                problems.append(f"turn {turn}: {n - have} of the {n} {kind} response(s) asked for are missing")
    return kept, problems


def _list(asks: Mapping[int, Sequence[str]]) -> str:
    return ", ".join(map(str, asks))
