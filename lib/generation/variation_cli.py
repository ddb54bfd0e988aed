"""Variation sets from the command line.

    python -m lib variations seed-01 --vary topic --n 20 [--seed S] [--mode batch] [--no-start] [--dry-run]

Plans N variations of each approved conversation named (what varies: topic, persona, intensity, tone,
outcome, or several joined by commas), adds them as scenarios linked to their source and starts one
generation job for them (a worker generates it: the app's, or `python -m lib worker`).
Exit codes: 0 done, 1 the request or the database failed (one line on stderr says why), 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from lib.config import ConfigError, Settings
from lib.core.taxonomy import TaxonomyError, load_taxonomy
from lib.core.variation_sets import VARY_FIELDS, VariationSetError, describe, plan_variations
from lib.generation.jobs import MODES, RunnerError
from lib.generation.variation_jobs import make_variations
from lib.store.boot import open_store
from lib.store.protocol import StoreError


def main(argv: Sequence[str] | None = None, prog: str = "python -m lib variations") -> int:
    parser = argparse.ArgumentParser(prog=prog, description="Make variations of approved conversations.")
    parser.add_argument("conversations", nargs="+", metavar="CONVERSATION-ID", help="approved conversations")
    parser.add_argument(
        "--vary", default="topic", help=f"what varies: {', '.join(VARY_FIELDS)}, or several joined by commas"
    )
    parser.add_argument("--n", type=int, default=None, help="variations per conversation (default: the taxonomy's)")
    parser.add_argument("--seed", type=int, default=0, help="the same seed gives the same variations")
    parser.add_argument("--mode", choices=list(MODES), default="realtime", help="how the job generates them")
    parser.add_argument("--no-start", action="store_true", help="add the scenarios, start no job")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, add nothing")
    args = parser.parse_args(argv)
    vary = [v.strip() for v in args.vary.split(",") if v.strip()]
    try:
        settings, tax = Settings.load(), load_taxonomy()
        n = args.n if args.n is not None else tax.variation.sets.default_count
        store = open_store(settings, default_plan_n=0)
        try:
            if args.dry_run:
                for cid in args.conversations:
                    conv = store.get_conversation(cid)
                    if conv is None:
                        raise VariationSetError(f"there is no conversation {cid}")
                    for row in plan_variations(conv, vary, n, tax, seed=args.seed).rows:
                        print(f"{cid}: " + "; ".join(describe(row["variation"], tax)))
                return 0
            made = make_variations(
                store,
                args.conversations,
                vary,
                n,
                tax,
                seed=args.seed,
                start=not args.no_start,
                mode=args.mode,
                model=settings.model,
            )
        finally:
            store.close()
    except (VariationSetError, RunnerError, StoreError, ConfigError, TaxonomyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    ids = made.scenario_ids
    print(f"added {len(ids)} variation scenarios (#{min(ids)}-#{max(ids)})")
    if made.job_id is not None:
        print(f"job #{made.job_id}: {made.queued} queued ({args.mode}); a worker generates them")
    if made.repeats:
        print("note: the rules allow fewer distinct variations than asked for, so some repeat")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
