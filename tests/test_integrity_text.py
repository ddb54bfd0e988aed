"""The text tools under the integrity checks: sentence splitter, normalisation, stems, language,
shingles, compliance rule matching, and the taxonomy data they read."""
from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from lib.core.checks.language import language_problem, shares
from lib.core.checks.normalize import (
    contains_phrase,
    normalize,
    normalize_phrase,
    stem,
    stems,
)
from lib.core.checks.sentences import split_sentences
from lib.core.similarity import containment, jaccard, shared_run, shingles
from lib.core.compliance import ForbiddenRule
from lib.core.models import Conversation
from lib.core.taxonomy import Taxonomy, TaxonomyError, load_taxonomy

ROOT = Path(__file__).resolve().parent.parent
SUPPORT = ROOT / "tests" / "fixtures" / "taxonomy_support"


def texts(text: str) -> list[str]:
    return [s.text for s in split_sentences(text)]


# ---- sentences ------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("You have $1.5k left. That is 18.99% APR. Ask Dr. Lee about it.",
     ["You have $1.5k left.", "That is 18.99% APR.", "Ask Dr. Lee about it."]),
    ("Some accounts, e.g. a Roth IRA, grow tax-free. Others, i.e. a traditional IRA, do not.",
     ["Some accounts, e.g. a Roth IRA, grow tax-free.", "Others, i.e. a traditional IRA, do not."]),
    ("U.S. Treasury bonds are backed by the government. You can buy them in the U.S. If you want, we can look.",
     ["U.S. Treasury bonds are backed by the government.", "You can buy them in the U.S.", "If you want, we can look."]),
    ("Cashing out before age 59\u00bd costs 10%. The 401(k) stays put. Really? Yes!",
     ["Cashing out before age 59\u00bd costs 10%.", "The 401(k) stays put.", "Really?", "Yes!"]),
    ("See No. 5 on the form. No. It is not due. It was due Jan. 15 last year.",
     ["See No. 5 on the form.", "No.", "It is not due.", "It was due Jan. 15 last year."]),
    ("John F. Kennedy said so. Plan B. Then we wait.", ["John F. Kennedy said so.", "Plan B.", "Then we wait."]),
    ('She said "call me." Then she left... And that was it.',
     ['She said "call me."', "Then she left...", "And that was it."]),
    ("It costs about 3.5 million dollars. That's a lot", ["It costs about 3.5 million dollars.", "That's a lot"]),
    ("lowercase after a stop. stays together", ["lowercase after a stop. stays together"]),
])
def test_sentence_splitter(text: str, expected: list[str]) -> None:
    assert texts(text) == expected


def test_sentence_spans_point_into_the_text() -> None:
    text = "  First one.   Second one!\nThird one?  "
    for s in split_sentences(text):
        assert text[s.start:s.end] == s.text


def test_the_splitter_agrees_with_every_seed(seeds: dict[str, Conversation]) -> None:
    for conv in seeds.values():
        for turn in conv.turns:
            if turn.role == "assistant":
                assert [normalize_phrase(s) for s in texts(turn.text)] == \
                    [normalize_phrase(sf.sentence) for sf in turn.sentence_functions], conv.id


# ---- normalisation and stems ----------------------------------------------------------------
def test_normalize_equates_only_innocent_differences() -> None:
    assert normalize("  I\u2019m  \u201cFINE\u201d \u2014 really\u2026 ") == "i'm \"fine\" - really..."
    assert normalize_phrase("can't sleep.") == normalize_phrase("Can\u2019t  sleep")
    assert normalize_phrase("can't sleep") != normalize_phrase("cannot sleep")


@pytest.mark.parametrize("a, b", [("save", "saving"), ("saved", "saves"), ("worry", "worried"), ("worries", "worry"),
                                  ("plan", "planning"), ("overwhelm", "overwhelmed"), ("bill", "bills"),
                                  ("claim", "claiming")])
def test_stems_join_inflections(a: str, b: str) -> None:
    assert stem(a) == stem(b)


def test_phrases_match_whole_words_only() -> None:
    assert contains_phrase(stems("We're saving for a 401(k) match"), "401(k)")
    assert contains_phrase(stems("what if it all goes wrong"), "what if")
    assert not contains_phrase(stems("my admiration for her"), "ira")
    assert not contains_phrase(stems("the planet is warm"), "plan")


# ---- language ---------------------------------------------------------------------------------
def test_language_shares_tell_english_from_spanish_and_word_salad() -> None:
    english = "I don't know if we should pay the card off first or keep the cash for an emergency."
    spanish = "No sé si debemos pagar la tarjeta primero o guardar el dinero para una emergencia."
    salad = "money month year plan budget account balance payment savings worried steady numbers goal"
    assert language_problem(english, "en", 0.25) is None
    assert "reads most like 'es'" in (language_problem(spanish, "en", 0.25) or "")
    assert "function words" in (language_problem(salad, "en", 0.25) or "")
    assert language_problem(spanish, "es", 0.25) is None
    assert max(shares(spanish).items(), key=lambda kv: kv[1])[0] == "es"
    assert language_problem("too short to judge", "en", 0.25) is None


# ---- shingles -----------------------------------------------------------------------------------
def test_shingle_similarity() -> None:
    a = shingles("we can look at the numbers together next week and decide", 3)
    assert jaccard(a, a) == 1.0
    b = shingles("the weather was lovely on the coast this whole summer", 3)
    assert jaccard(a, b) == 0.0
    inner = shingles("look at the numbers together next week", 3)
    assert containment(a, inner) == 1.0 and jaccard(a, inner) < 1.0
    assert shared_run("we can look at the numbers together", "so look at the numbers today", 3) == "look at the numbers"


# ---- compliance rules ---------------------------------------------------------------------------
def rule(**kw: object) -> ForbiddenRule:
    values: dict[str, object] = {"id": "r", "name": "R", "severity": "hard", "patterns": [r"\bguaranteed?\b"],
                                 "examples": ["It's guaranteed."]}
    values.update(kw)
    return ForbiddenRule.model_validate(values)


def test_a_negation_earlier_in_the_clause_excuses_a_match() -> None:
    r = rule(unless_before=r"\b(?:no|nobody|can't)\b")
    assert r.violations("Nobody can promise it is guaranteed.") == []
    assert [v.span for v in r.violations("Nobody likes fees, but this is guaranteed.")] == ["guaranteed"]
    assert [v.span for v in r.violations("Don't wait; it's guaranteed.")] == ["guaranteed"]


def test_a_rule_that_misses_its_example_or_hits_an_allowed_text_does_not_load() -> None:
    with pytest.raises(ValueError, match=r"examples\[0\]: the rule does not catch its own example"):
        rule(examples=["Nothing to see here."])
    with pytest.raises(ValueError, match=r"allowed\[0\]: the rule catches 'guarantee'"):
        rule(allowed=["A personal guarantee from the owner."])
    with pytest.raises(ValueError, match="not a valid regular expression"):
        rule(patterns=["(unclosed"])


def test_taxonomy_compliance_rules_are_per_vertical(tax: Taxonomy) -> None:
    support = load_taxonomy(SUPPORT)
    assert support.vertical.language == "en" and tax.vertical.language == "en"
    assert {r.id for r in support.compliance.forbidden} != {r.id for r in tax.compliance.forbidden}
    crisis = tax.compliance.required_for("crisis_to_referral", None, "resolved")
    assert [r.id for r in crisis] == ["crisis_resources"]
    assert tax.compliance.required_for("triumph", None, "action_plan") == []


# ---- taxonomy data for the checks ---------------------------------------------------------------
@pytest.fixture
def broken(tmp_path: Path) -> Path:
    target = tmp_path / "tax"
    shutil.copytree(SUPPORT, target)
    return target


def edit(folder: Path, filename: str, change: Callable[[dict[str, Any]], object]) -> None:
    file = folder / filename
    data = yaml.safe_load(file.read_text())
    change(data)
    file.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.mark.parametrize("filename, change, expected", [
    ("vertical.yaml", lambda d: d["vertical"].update(language="xx"),
     r"vertical.yaml: vertical.language: no function-word list for 'xx'"),
    ("emotions.yaml", lambda d: d["emotions"][0].update(valence_range=[0.1, 0.9]),
     r"emotions.yaml: emotions\[0\]: Value error, valence_range \[0.1, 0.9\] does not hold the family's typical value"),
    ("emotions.yaml", lambda d: d["emotions"][0].pop("arousal_range"), r"emotions\[0\].arousal_range: Field required"),
    ("targets.yaml", lambda d: d["targets"]["quality"].update(intensity_tolerance=0),
     r"targets.quality.intensity_tolerance: Input should be greater than 0"),
    ("compliance.yaml", lambda d: d["compliance"]["required"][0]["when"].update(contexts=["nowhere"]),
     r"compliance.yaml: compliance.required\[0\].when.contexts\[0\]: unknown scenario context or edge case 'nowhere'"),
    ("compliance.yaml", lambda d: d["compliance"]["forbidden"][0].update(examples=["All good here."]),
     r"compliance.yaml: compliance.forbidden\[0\]: Value error, examples\[0\]: the rule does not catch"),
    ("compliance.yaml", lambda d: d["compliance"]["forbidden"].append(dict(d["compliance"]["forbidden"][0])),
     r"compliance.forbidden\[2\].id: duplicate id 'blame_the_customer'"),
], ids=["language", "valence-range", "missing-range", "tolerance", "unknown-context", "example-missed", "duplicate"])
def test_bad_check_data_fails_with_one_line(broken: Path, filename: str, change: Callable[[dict[str, Any]], object],
                                            expected: str) -> None:
    edit(broken, filename, change)
    with pytest.raises(TaxonomyError, match=expected) as info:
        load_taxonomy(broken)
    assert "\n" not in str(info.value)


def test_a_taxonomy_without_compliance_rules_says_which_file_is_missing(broken: Path) -> None:
    (broken / "compliance.yaml").unlink()
    with pytest.raises(TaxonomyError, match="compliance.yaml: file is missing"):
        load_taxonomy(broken)
