"""Contrastive turns without a database: what is asked for each assistant turn (the kinds that suit the
emotion before it), the prompt, and the answers the checks refuse (a kind not asked for, a person's turn, a
copy of the real turn, a labelled text), against the fake Anthropic server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from lib.core.models import Conversation
from lib.core.seeds import load_seeds
from lib.core.taxonomy import Taxonomy
from lib.generation.contrast import ContrastResult, acontrast_conversation
from lib.generation.contrast_prompt import (
    Asks,
    ContrastAnswer,
    ContrastError,
    FailedResponse,
    build_contrast_prompt,
    emotion_before,
    plan_asks,
    read_answer,
)
from lib.generation.llm import LLMClient
from tests.fake_anthropic import FakeAnthropic
from tests.fake_contrast import copying, is_contrast_request
from tests.test_judge import settings_for


@pytest.fixture
def fake(tax: Taxonomy) -> Iterator[FakeAnthropic]:
    with FakeAnthropic(tax) as server:
        yield server


@pytest.fixture(scope="module")
def conv() -> Conversation:
    return next(c for c in load_seeds().conversations if c.id == "seed-01")


def contrast(fake: FakeAnthropic, tax: Taxonomy, conv: Conversation, asks: Asks, **kw: Any) -> ContrastResult:
    async def go() -> ContrastResult:
        async with LLMClient(settings_for(fake)) as llm:
            return await acontrast_conversation(conv, asks, llm=llm, tax=tax, **kw)

    return asyncio.run(go())


# ---- what is asked -------------------------------------------------------------------------------
def test_every_assistant_turn_gets_the_kinds_that_suit_the_emotion_before_it(conv: Conversation, tax: Taxonomy) -> None:
    asks = plan_asks(conv, tax)
    turns = conv.current_turns()
    assert sorted(asks) == [i for i, t in enumerate(turns) if t.role == "assistant"]
    for i, kinds in asks.items():
        assert kinds == tuple(f.id for f in tax.failures.suited_to(emotion_before(turns, i) or ""))
    # seed-01 turn 4 is curious: minimising a curious person is not an instructive failure
    assert "minimising" not in asks[5] and "minimising" in asks[1]


def test_named_turns_and_kinds_are_asked_as_named(conv: Conversation, tax: Taxonomy) -> None:
    assert plan_asks(conv, tax, turns=[3], kinds=["lecturing"]) == {3: ("lecturing",)}


@pytest.mark.parametrize(
    ("turns", "kinds", "message"),
    [
        ([2], None, "not an assistant turn"),
        ([99], None, "not an assistant turn"),
        (None, ["tough_love"], "Unknown failure kind"),
    ],
)
def test_a_person_turn_or_an_unknown_kind_is_refused_before_any_request(
    conv: Conversation, tax: Taxonomy, turns: list[int] | None, kinds: list[str] | None, message: str
) -> None:
    with pytest.raises(ContrastError, match=message):
        plan_asks(conv, tax, turns=turns, kinds=kinds)


def test_too_many_responses_for_one_request_are_refused(conv: Conversation, tax: Taxonomy) -> None:
    with pytest.raises(ContrastError, match="at most"):
        build_contrast_prompt(conv, tax, plan_asks(conv, tax), n=5)


def test_the_request_shows_only_the_turns_before_the_last_turn_replaced(conv: Conversation, tax: Taxonomy) -> None:
    plan = build_contrast_prompt(conv, tax, {3: ("minimising",)}, 2)
    turns = conv.current_turns()
    assert turns[2].text[:60] in plan.user and turns[3].text[:60] not in plan.user
    assert "- turn 3, in reply to turn 2 (anxiety): 2 minimising" in plan.user
    assert all(f.id in plan.system for f in tax.failures.kinds) and conv.id not in plan.system


# ---- what an answer must pass --------------------------------------------------------------------
def answer(*responses: tuple[int, str, str]) -> ContrastAnswer:
    return ContrastAnswer(
        responses=[FailedResponse(turn=t, kind=k, why="It shrinks the worry.", text=x) for t, k, x in responses]
    )


def test_read_answer_keeps_what_passes_and_names_every_problem(conv: Conversation) -> None:
    asks = {1: ("minimising",), 3: ("minimising",)}
    real = conv.current_turns()[3].text
    kept, problems = read_answer(
        answer(
            (1, "minimising", "Honestly it's not a big deal, lots of people have it worse."),
            (1, "minimising", "A second one, more than asked for."),
            (0, "minimising", "The person's turn."),
            (3, "lecturing", "A kind not asked for."),
            (3, "minimising", "  " + real.upper() + " "),
            (3, "minimising", "Failed response (minimising): you're overthinking it."),
        ),
        conv,
        asks,
        1,
    )
    assert [(r.turn, r.text) for r in kept] == [(1, "Honestly it's not a big deal, lots of people have it worse.")]
    text = "\n".join(problems)
    for expected in (
        "turn 0 is the person's turn",
        "'lecturing' was not asked for turn 3",
        "repeats the real turn 3",
        "carries a label",
        "turn 3: 1 of the 1 minimising response(s) asked for are missing",
    ):
        assert expected in text


# ---- against the fake ----------------------------------------------------------------------------
def test_a_contrastive_request_returns_one_failed_turn_per_kind_with_why_and_tokens(
    fake: FakeAnthropic, conv: Conversation, tax: Taxonomy
) -> None:
    asks = plan_asks(conv, tax, turns=[1, 5])
    result = contrast(fake, tax, conv, asks, n=2)
    assert result.ok, result.reason
    assert sorted((r.turn, r.kind) for r in result.responses) == sorted(
        (t, k) for t, kinds in asks.items() for k in kinds for _ in range(2)
    )
    rows = result.rows()
    assert all(r["why"] and r["text"] and r["model"] and len(r["prompt_sha256"]) == 64 for r in rows)
    usage = result.usage
    assert sum(r["output_tokens"] for r in rows) == usage.output_tokens > 0
    assert sum(r["input_tokens"] for r in rows) == (
        usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens
    )
    assert sum(r["cost_usd"] for r in rows) == pytest.approx(result.cost_usd, abs=1e-5)
    assert [a.purpose for a in result.attempts] == ["contrast"]
    [request] = fake.message_requests()
    assert is_contrast_request(request.body) and request.body["system"][0].get("cache_control")


@pytest.mark.parametrize("bad", ["wrong_kind", "user_turn", "copy_original", "labelled"])
def test_a_bad_answer_gets_a_repair_round_and_then_fails_with_nothing_kept(
    fake: FakeAnthropic, conv: Conversation, tax: Taxonomy, bad: str
) -> None:
    behaviour = copying(fake, conv) if bad == "copy_original" else bad
    fake.script(behaviour, behaviour)
    result = contrast(fake, tax, conv, {3: ("minimising", "premature_advice")})
    assert not result.ok and result.responses == [] and result.rows() == []
    assert "no failed response passed the checks after 2 attempt(s)" in (result.reason or "")
    assert [a.outcome for a in result.attempts] == ["invalid", "invalid"]
    assert "must be fixed" in str(fake.message_requests()[1].body["messages"][-1]["content"])


def test_a_repaired_answer_is_kept(fake: FakeAnthropic, conv: Conversation, tax: Taxonomy) -> None:
    fake.script(copying(fake, conv), "valid")
    result = contrast(fake, tax, conv, {3: ("minimising",)})
    assert result.ok and [a.outcome for a in result.attempts] == ["invalid", "repaired"]
    assert result.responses[0].text != conv.current_turns()[3].text


def test_a_refusal_keeps_nothing_and_says_so(fake: FakeAnthropic, conv: Conversation, tax: Taxonomy) -> None:
    fake.script("refusal")
    result = contrast(fake, tax, conv, {3: ("minimising",)})
    assert not result.ok and "declined" in (result.reason or "") and result.rows() == []
