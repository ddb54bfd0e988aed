"""Every integrity check catches its defects and passes the clean seeds.

The defective conversations come from tests/fixtures/defects: each seed broken one way at a time.
For every defect class the check it names must fail, with a reason that names the turn and quotes
the span; for the classes marked isolated, no other check may fail (no check fires on a
neighbour's defect). The generation engine's repair loop receives those reasons.
"""
from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import pytest

from lib.core.models import Conversation, ScenarioDimensions
from lib.core.taxonomy import Taxonomy
from lib.core.validation import CHECKS, CHECKS_BY_NAME, check_conversation
from lib.generation.engine import generate_conversation
from lib.generation.llm import LLMClient, LLMSettings
from tests.fake_anthropic import FakeAnthropic
from tests.fixtures.defects import DEFECTS, Defect, Variant, make_defective

CASES = [(d, v) for d in DEFECTS if d.in_tests for v in d.variants]


def test_every_check_has_a_defect_that_breaks_it() -> None:
    assert {d.check for d in DEFECTS if d.in_tests} == {c.name for c in CHECKS}


def test_every_seed_passes_every_check(seeds: dict[str, Conversation], tax: Taxonomy) -> None:
    for conv in seeds.values():
        report = check_conversation(conv, tax)
        assert report.passed and report.score == 10, (conv.id, [f"{c.name}: {c.reason}" for c in report.failures])
        assert not report.findings and not report.blocks_approval


@pytest.mark.parametrize("defect, variant", CASES, ids=[f"{d.name}-{v.__name__}" for d, v in CASES])
def test_the_check_catches_its_defect_on_every_seed(defect: Defect, variant: Variant, seeds: dict[str, Conversation],
                                                    tax: Taxonomy) -> None:
    applied = 0
    for conv in seeds.values():
        made = make_defective(conv, tax, defect, variant, random.Random(conv.id + variant.__name__))
        if made is None:
            continue
        broken, done = made
        applied += 1
        report = check_conversation(broken, tax)
        failed = {c.name: c for c in report.failures}
        assert defect.check in failed, (conv.id, done)
        assert report.score < 10
        if CHECKS_BY_NAME[defect.check].hard:
            assert report.blocks_approval and report.score <= 5, (conv.id, done)
        found = [f for f in report.findings if f.check == defect.check]
        assert found, (conv.id, done)
        for f in found:
            assert f.message in failed[defect.check].reason
            if f.turn is not None:
                assert f"turn {f.turn}" in f.message, f.message
        if defect.isolated:
            assert set(failed) == {defect.check}, (conv.id, done, {n: c.reason for n, c in failed.items()})
    assert applied, f"{defect.name}/{variant.__name__} applies to no seed"


def test_a_cue_borrowed_from_another_turn_says_where_it_is(seed: Conversation, tax: Taxonomy) -> None:
    seed.turns[2].emotion.cues[0] = seed.turns[0].emotion.cues[0]
    failed = next(c for c in check_conversation(seed, tax).failures if c.name == "cues_in_text")
    assert failed.reason.startswith("turn 2 (user): emotion.cues[0]") and "(it is in turn 0)" in failed.reason


def test_cues_match_across_case_whitespace_and_typographic_quotes(seed: Conversation, tax: Taxonomy) -> None:
    text = seed.turns[0].text
    cue = seed.turns[0].emotion.cues[0]
    seed.turns[0].emotion.cues[0] = "  " + cue.upper().replace("'", "\u2019").replace(" ", "  ") + "."
    assert "'" in cue or " " in cue
    assert seed.turns[0].text == text
    assert next(c for c in check_conversation(seed, tax).checks if c.name == "cues_in_text").passed


def test_sentence_function_reasons_name_the_entry_and_quote_it(seed: Conversation, tax: Taxonomy) -> None:
    sf = seed.turns[1].sentence_functions
    first, second = sf[0].sentence, sf[1].sentence
    sf[0].sentence = first + " " + second
    del sf[1]
    reason = next(c for c in check_conversation(seed, tax).failures if c.name == "sentence_functions").reason
    assert reason.startswith("turn 1 (assistant): sentence_functions[0] holds 2 sentences")


def test_topic_named_only_by_the_assistant_does_not_count(seed: Conversation, tax: Taxonomy) -> None:
    """The old check read the whole conversation: an assistant naming the topic made it pass."""
    topic = tax.by_id("topics")[seed.scenario.topic]
    for t in seed.turns:
        if t.role == "user":
            t.text = "something " * 25
            t.emotion.cues = ["something"]
    reason = next(c for c in check_conversation(seed, tax).failures if c.name == "consistency").reason
    assert f"nothing in the user's turns (turns 0, 2, 4, 6, 8) shows the topic {topic.id}" in reason
    assert any(k in " ".join(t.text for t in seed.turns if t.role == "assistant").lower() for k in topic.keywords)


def test_what_the_user_says_is_not_held_to_the_compliance_rules(seed: Conversation, tax: Taxonomy) -> None:
    seed.turns[0].text += " My brother says it's guaranteed 30% a year if I put it all in one AI stock."
    report = check_conversation(seed, tax)
    assert next(c for c in report.checks if c.name == "compliance").passed


def test_a_hand_made_bad_conversation_no_longer_scores_ten(seed: Conversation, tax: Taxonomy) -> None:
    """Filler turns, a guaranteed return, cues and sentence functions the text does not contain."""
    filler = ("I hear you and that makes sense. Let's take this one step at a time together. "
              "Guaranteed 30% a year, put it all in one AI stock. You can do this, and I'm here for you "
              "every step of the way, no matter what happens with the market or your job or anything else.")
    for t in seed.turns:
        if t.role == "assistant":
            t.text = filler + " " + filler
            t.sentence_functions[0].sentence = "A sentence the turn does not contain."
        else:
            t.emotion.cues = ["completely calm and collected"]
    report = check_conversation(seed, tax)
    failed = {c.name for c in report.failures}
    assert {"compliance", "cues_in_text", "sentence_functions", "no_empty_or_duplicate"} <= failed
    assert report.blocks_approval and report.score <= 5


# ---- the repair loop receives the turn and the span ---------------------------------------------
def _with_unsafe_sentence(fake: FakeAnthropic) -> Any:
    def answer(body: dict[str, Any]) -> Any:
        status, headers, message = fake.answer(body, "valid")
        conv = json.loads(message["content"][0]["text"])
        turn = conv["turns"][3]
        sentence = "Honestly, put it all in one AI stock."
        turn["text"] += " " + sentence
        turn["sentence_functions"].append({"sentence": len(turn["sentence_functions"]), "function": "Pushes a product."})
        message["content"][0]["text"] = json.dumps(conv)
        return status, headers, message
    return answer


def test_a_compliance_failure_goes_back_to_the_model_with_turn_and_span(tax: Taxonomy,
                                                                        seeds: dict[str, Conversation]) -> None:
    scenario = ScenarioDimensions(tier="template", persona="anxious_first_time_investor",
                                  emotional_arc="struggle_to_success", topic="first_portfolio",
                                  intent="understand_options", tone="professional", outcome_type="action_plan")
    with FakeAnthropic(tax) as fake:
        fake.script(_with_unsafe_sentence(fake))
        settings = LLMSettings(api_key=fake.api_key, base_url=fake.url, backoff_base_s=0.01, backoff_max_s=0.05,
                               retry_after_cap_s=0.3, timeout_s=5.0, max_retries=2)

        async def go() -> Any:
            async with LLMClient(settings) as llm:
                return await generate_conversation(scenario, llm=llm, tax=tax, seeds=list(seeds.values()))
        result = asyncio.run(go())
        repair = fake.message_requests()[1].body["messages"][2]["content"]
    assert result.ok and [a.outcome for a in result.attempts] == ["invalid", "repaired"]
    assert '- compliance: turn 3 (assistant) says "all in one AI stock"' in repair
