"""Make a variation set: plan the variations of approved conversations (lib/core/variation_sets.py), add
them as scenarios linked to their sources, and start one generation job for them. Review's and the
Scenarios page's "Make variations" and `python -m lib variations` all come here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lib.core.taxonomy import Taxonomy
from lib.core.variation_sets import VariationSet, VariationSetError, plan_variations
from lib.core.vocabulary import DEMO_MODEL
from lib.generation.estimate import Estimate
from lib.generation.job_progress import as_demo
from lib.generation.jobs import VARIATIONS_OF, RunnerError, endpoint_problem, job_settings, start_job
from lib.generation.llm import LLMSettings
from lib.generation.rating import QualityPolicy
from lib.store.protocol import Store


@dataclass(frozen=True)
class MadeVariations:
    scenario_ids: list[int]
    job_id: int | None  # None: the scenarios were added and nothing was started
    queued: int
    repeats: bool  # more variations were asked for than the rules have distinct alternatives


def plan_sets(
    store: Store, conversation_ids: Sequence[str], vary: Sequence[str], n: int, tax: Taxonomy, *, seed: int = 0
) -> list[VariationSet]:
    """The variation set of each conversation, planned and not added; VariationSetError says what stands in
    the way."""
    if not conversation_ids:
        raise VariationSetError("choose at least one approved conversation to make variations of")
    plans = []
    for cid in dict.fromkeys(conversation_ids):
        conv = store.get_conversation(cid)
        if conv is None:
            raise VariationSetError(f"there is no conversation {cid}; refresh the page and choose another")
        plans.append(plan_variations(conv, vary, n, tax, seed=seed))
    return plans


def make_variations(
    store: Store,
    conversation_ids: Sequence[str],
    vary: Sequence[str],
    n: int,
    tax: Taxonomy,
    *,
    seed: int = 0,
    created_by: str | None = None,
    start: bool = True,
    mode: str = "realtime",
    model: str | None = None,
    check: LLMSettings | None = None,
    estimate: Estimate | None = None,
    demo: bool = False,
) -> MadeVariations:
    """n variations of each conversation, linked to it; with start, one job generates all of them (with the
    estimate shown before, if any). demo: the job is a demo replay (lib.generation.app_worker
    .start_demo_worker runs it), for a machine without an API key. VariationSetError or RunnerError (both
    ValueError) say what stands in the way; nothing is added then."""
    plans = plan_sets(store, conversation_ids, vary, n, tax, seed=seed)
    problem = endpoint_problem(check) if start and check is not None else None
    if problem:
        raise RunnerError("Nothing was started: " + problem)
    ids: list[int] = []
    for p in plans:
        ids += store.add_scenarios(
            p.rows, plan_batch="variations of " + p.source_id, plan_seed=seed, origin="variation", created_by=created_by
        )
    repeats = any(p.repeats for p in plans)
    if not start:
        return MadeVariations(ids, None, 0, repeats)
    if demo:
        return MadeVariations(ids, *_demo_job(store, ids, [p.source_id for p in plans], created_by, estimate), repeats)
    job_id, queued = start_job(
        store,
        ids,
        model=model,
        created_by=created_by,
        requested_from="variations",
        mode=mode,
        estimate=estimate,
        variations_of=[p.source_id for p in plans],
    )
    return MadeVariations(ids, job_id, queued, repeats)


def _demo_job(
    store: Store, ids: list[int], sources: list[str], created_by: str | None, estimate: Estimate | None
) -> tuple[int, int]:
    """A demo replay job for the variations: stored as replayed (the model and the job's "demo" mark), at no
    cost, and left out of exports as every demo replay is."""
    settings = as_demo(job_settings("realtime", "variations", QualityPolicy(), None, estimate))
    settings[VARIATIONS_OF] = list(dict.fromkeys(sources))
    job_id = store.create_job(ids, kind="realtime", model=DEMO_MODEL, settings=settings, created_by=created_by)
    job = store.get_job(job_id) or {}
    return job_id, int(job.get("total_items") or len(ids))
