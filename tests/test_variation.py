"""Voice and fact variation: what a conversation's seed draws (lib/core/variation.py), how the prompt shows
it, and that a generated conversation's provenance records it (with the fake Anthropic server)."""
from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Iterator

import pytest

from lib.core.models import Conversation, ScenarioDimensions
from lib.core.taxonomy import Taxonomy
from lib.core.variation import Variation, context_gender, draw, vary_facts
from lib.generation.engine import GenerationResult, generate_conversation
from lib.generation.llm import LLMClient, LLMSettings
from lib.generation.prompting import build_prompt
from tests.fake_anthropic import FakeAnthropic, _content_text


@pytest.fixture
def fake(tax: Taxonomy) -> Iterator[FakeAnthropic]:
    with FakeAnthropic(tax) as server:
        yield server


def business_scenario(tax: Taxonomy) -> ScenarioDimensions:
    ctx = tax.by_id("scenario_contexts")["business_owner_no_retirement_plan"]
    return ScenarioDimensions(tier="scenario", persona="small_business_owner", emotional_arc="plateau_to_breakthrough",
                              topic="small_business_cashflow", intent="make_decision", tone="professional",
                              outcome_type="action_plan", context_id=ctx.id, context=ctx.context)


def generate(fake: FakeAnthropic, tax: Taxonomy, seeds: dict[str, Conversation], sc: ScenarioDimensions,
             variation_seed: int | None) -> GenerationResult:
    settings = LLMSettings(api_key=fake.api_key, base_url=fake.url, backoff_base_s=0.01, backoff_max_s=0.05,
                           timeout_s=5.0, max_retries=1)

    async def go() -> GenerationResult:
        async with LLMClient(settings) as llm:
            return await generate_conversation(sc, llm=llm, tax=tax, seeds=list(seeds.values()),
                                               variation_seed=variation_seed)
    return asyncio.run(go())


def test_two_seeds_give_two_people_with_their_own_style_and_facts(fake: FakeAnthropic, tax: Taxonomy,
                                                                   seeds: dict[str, Conversation]) -> None:
    sc = business_scenario(tax)
    # seeds 1 and 2 draw different names, habits and amounts (a lower-case writer among them)
    a, b = (generate(fake, tax, seeds, sc, n) for n in (1, 2))
    assert a.ok and b.ok, (a.reason, b.reason)
    assert a.conversation is not None and b.conversation is not None
    va, vb = (c.provenance.parameters["variation"] for c in (a.conversation, b.conversation))
    assert (va["seed"], vb["seed"]) == (1, 2)
    assert va["person"]["name"] != vb["person"]["name"]
    style = ("message_length", "capitalisation", "typos", "formality", "opening", "closing")
    assert [va["person"][k] for k in style] != [vb["person"][k] for k in style]
    assert va["facts"]["amount_factor"] != vb["facts"]["amount_factor"]
    firsts = [c.turns[0].text for c in (a.conversation, b.conversation)]
    assert firsts[0] != firsts[1]
    for conv, v, text in ((a.conversation, va, firsts[0]), (b.conversation, vb, firsts[1])):
        assert v["person"]["name"].split()[0].lower() in text.lower()  # the person is who the prompt said
        lower = "lower-case" in v["person"]["capitalisation"]
        assert (text == text.lower()) == lower
        # the conversation's scenario holds the situation as this conversation has it: its facts varied
        assert conv.scenario.context is not None and conv.scenario.context != sc.context
        assert re.findall(r"\$[\d,]*\d", text)[0] == re.findall(r"\$[\d,]*\d", conv.scenario.context)[0]
        assert conv.scenario.context.startswith(f"A {v['person']['age']}-year-old")
    # the provenance is enough to build the same prompt again
    sent = [r.body for r in fake.message_requests()]
    for conv, body in zip((a.conversation, b.conversation), sent, strict=True):
        again = build_prompt(sc, tax, list(seeds.values()), variation_seed=conv.provenance.parameters["variation"]["seed"])
        assert _content_text(body["messages"][0]["content"]) == again.user
        assert conv.provenance.parameters["variation"] == again.variation
        assert conv.provenance.parameters["seed_example_id"] == again.seed_example_id


def test_without_a_seed_each_generation_draws_its_own(fake: FakeAnthropic, tax: Taxonomy,
                                                       seeds: dict[str, Conversation]) -> None:
    sc = business_scenario(tax)
    drawn = [generate(fake, tax, seeds, sc, None) for _ in range(3)]
    assert all(r.ok for r in drawn)
    assert len({r.conversation.provenance.parameters["variation"]["seed"] for r in drawn if r.conversation}) == 3


# ---- the facts ---------------------------------------------------------------------------------
def test_amounts_scale_together_and_ages_move_within_bounds(tax: Taxonomy) -> None:
    text = ("A 66-year-old retiree had $640,000 in January and $565,000 now; she spends $2,400 a month, "
            "and the $7,500 catch-up is fixed. A $1.3 million estate.")
    varied = vary_facts(text, 1.2, 3, frozenset({"$7,500"}))
    # rounded to the figure's own significant digits: $640,000 has two, $565,000 three
    assert varied.startswith("A 69-year-old retiree had $770,000 in January and $678,000 now")
    assert "$2,900" in varied and "$7,500 catch-up" in varied and "$1.6 million" in varied
    amounts = [int(a.replace(",", "")) for a in re.findall(r"\$(\d[\d,]*\d)(?!\.)", varied)]
    assert amounts[0] > amounts[1]  # a drop stays a drop: one factor for every amount
    assert vary_facts("A 20-year-old", 1, -9) == "A 18-year-old" and vary_facts("A 93-year-old", 1, 9) == "A 95-year-old"


def test_fixed_facts_never_move(tax: Taxonomy) -> None:
    ctx = tax.by_id("scenario_contexts")["widow_survivor_benefits"]
    assert "62-year-old" in ctx.fixed_facts
    for seed in range(30):
        d = draw(seed, tax.variation, age_band="50-75", arc="grief_to_steadiness", outcome="action_plan",
                 context=ctx.context, fixed_facts=frozenset(ctx.fixed_facts))
        assert d.context is not None and "62-year-old" in d.context and d.person is not None and d.person.age == 62


def test_facts_vary_within_the_taxonomy_ranges_and_repeat_rarely(tax: Taxonomy) -> None:
    lo, hi = tax.variation.facts.amount_factor
    ctx = tax.by_id("scenario_contexts")["avoider_unopened_mail"]
    drawn = [draw(n, tax.variation, age_band="30-44", arc="overwhelm_to_focus", outcome="action_plan",
                  context=ctx.context) for n in range(200)]
    assert all(lo <= d.amount_factor <= hi and abs(d.age_shift) <= tax.variation.facts.age_years for d in drawn)
    texts = Counter(d.context for d in drawn)
    assert texts.most_common(1)[0][1] <= 6  # was: the same ages and amounts in every conversation


# ---- the person and the trajectory ----------------------------------------------------------
def test_a_person_matches_the_context_and_the_persona(tax: Taxonomy) -> None:
    she = "A 41-year-old nurse says her savings are gone and she cannot sleep."
    female = {n for b in tax.variation.backgrounds for n in b.female_names}
    for seed in range(20):
        d = draw(seed, tax.variation, age_band="25-34", arc="exploratory", outcome="resolved", context=she)
        assert d.person is not None and d.person.name.split()[0] in female
        assert 37 <= d.person.age <= 45  # the context's age, moved by at most age_years
        free = draw(seed, tax.variation, age_band="25-34", arc="exploratory", outcome="resolved", context=None)
        assert free.person is not None and 25 <= free.person.age <= 34 and free.context is None
    assert context_gender("A married couple, 62 and 60, are deciding when to claim.") is None  # any name
    assert context_gender("He lost his job") == "male"


def test_trajectories_follow_the_arc_and_the_outcome(tax: Taxonomy) -> None:
    def trajectories(arc: str, outcome: str) -> set[str | None]:
        return {draw(n, tax.variation, age_band="30-40", arc=arc, outcome=outcome, context=None).trajectory
                for n in range(80)}

    assert trajectories("exploratory", "ongoing") == {"resolved", "partly_resolved", "relapse"}
    assert trajectories("crisis_to_referral", "referral") == {"resolved", "partly_resolved"}  # no relapse for effect
    assert "partly_resolved" not in trajectories("triumph", "resolved")  # a resolved outcome resolves


def test_a_vertical_without_variation_draws_no_person(tax: Taxonomy) -> None:
    d = draw(5, Variation(), age_band="30-40", arc="exploratory", outcome="resolved", context="A 40-year-old has $10,000.")
    assert d.person is None and d.trajectory is None and d.context == "A 40-year-old has $10,000."
    assert d.as_dict()["facts"] == {"amount_factor": 1.0, "age_shift": 0}
