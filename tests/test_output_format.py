"""The generation's output format numbers an assistant turn's sentences instead of quoting them; the
stored (exported) format still carries each sentence's text, filled in from the deterministic split."""

from __future__ import annotations

import json
from typing import Any

import pydantic
import pytest

from lib.core.checks.sentences import split_sentences
from lib.core.models import AssistantTurn, Conversation
from lib.core.taxonomy import Taxonomy
from lib.core.validation import check_conversation
from lib.generation.output_format import GeneratedConversation


def _answer(seed: Conversation) -> dict:
    return GeneratedConversation.from_conversation(seed).model_dump(mode="json")


def test_the_answer_numbers_sentences_and_the_stored_turns_quote_them(seeds: dict[str, Conversation]) -> None:
    for seed in seeds.values():
        answer = _answer(seed)
        for turn in answer["turns"]:
            if turn["role"] == "assistant":
                assert [sf["sentence"] for sf in turn["sentence_functions"]] == list(
                    range(len(split_sentences(turn["text"])))
                )
        back = GeneratedConversation.model_validate(answer).to_turns()
        assert [t.model_dump() for t in back] == [t.model_dump() for t in seed.current_turns()], seed.id


def test_numbering_saves_the_quoted_sentences(seeds: dict[str, Conversation]) -> None:
    seed = next(iter(seeds.values()))
    numbered = len(json.dumps(_answer(seed)))
    quoted = len(json.dumps({"turns": [t.model_dump(mode="json") for t in seed.current_turns()]}))
    assert numbered < 0.8 * quoted


def test_a_number_past_the_last_sentence_is_a_schema_problem_that_lists_the_sentences(
    seeds: dict[str, Conversation],
) -> None:
    seed = next(iter(seeds.values()))
    answer = _answer(seed)
    turn = answer["turns"][1]
    count = len(split_sentences(turn["text"]))
    turn["sentence_functions"].append({"sentence": count, "function": "Closes."})
    with pytest.raises(pydantic.ValidationError) as err:
        GeneratedConversation.model_validate(answer)
    message = str(err.value)
    assert f"point at sentence {count}, but the text has {count} sentences" in message
    assert '[0] "' in message


def test_a_sentence_left_out_or_numbered_twice_fails_the_check_by_number(
    seeds: dict[str, Conversation], tax: Taxonomy
) -> None:
    seed = next(iter(seeds.values()))
    answer = _answer(seed)
    functions = answer["turns"][1]["sentence_functions"]
    functions[2] = dict(functions[1])  # sentence 1 twice, sentence 2 never
    turns = GeneratedConversation.model_validate(answer).to_turns()
    conv = seed.model_copy(update={"turns": turns, "label_history": []})
    reason = next(c for c in check_conversation(conv, tax).failures if c.name == "sentence_functions").reason
    assert "sentence_functions[2] repeats sentence_functions[1], sentence 1" in reason
    assert "sentence 2 " in reason and "has no entry in sentence_functions" in reason
    assert isinstance(turns[1], AssistantTurn) and turns[1].sentence_functions[2].sentence == turns[1].sentence_functions[1].sentence


def test_a_wrong_sentence_number_goes_back_to_the_model_with_the_numbered_sentences(
    seeds: dict[str, Conversation], tax: Taxonomy
) -> None:
    from tests.fake_anthropic import FakeAnthropic
    from tests.test_generation import run

    with FakeAnthropic(tax) as fake:

        def one_too_many(body: dict) -> Any:
            status, headers, message = fake.answer(body, "valid")
            conv = json.loads(message["content"][0]["text"])
            functions = conv["turns"][1]["sentence_functions"]
            functions.append({"sentence": len(functions), "function": "Closes."})
            message["content"][0]["text"] = json.dumps(conv)
            return status, headers, message

        fake.script(one_too_many)
        result = run(fake, tax, seeds)
        repair = fake.message_requests()[1].body["messages"][2]["content"]
    assert result.ok and [a.outcome for a in result.attempts] == ["invalid", "repaired"]
    assert "turns[1]" in repair and "but the text has" in repair and '[0] "' in repair
