"""Scenarios page benchmark: 10,000 scenarios, the page's first render, a filter change, and memory.

    python bench/bench_scenarios.py [--scenarios 10000] [--runs 5]

Plans --scenarios rows into a fresh embedded database, then runs pages/scenarios.py under
streamlit's AppTest (the same script the server runs, without the browser) and times:
- the first render of a session (the store already open, as it is after the app's start);
- a filter change (one persona) and clearing it again;
and prints the process's peak RSS. The browser's own drawing of the grid is not included.
Prints figures (median of --runs); asserts nothing.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

from lib.core.planner import plan  # noqa: E402
from lib.store.embedded import start_embedded, stop_embedded  # noqa: E402
from lib.store.postgres import PostgresStore  # noqa: E402
from lib.core.taxonomy import load_taxonomy  # noqa: E402

PAGE = str(ROOT / "pages" / "scenarios.py")


def run(at: AppTest) -> float:
    start = time.perf_counter()
    at.run(timeout=120)
    elapsed = (time.perf_counter() - start) * 1000
    if at.exception:
        raise SystemExit(f"the page failed: {at.exception}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="brightrun-bench-"))
    server = start_embedded(folder, keep_running=False)
    try:
        os.environ["DATABASE_URL"] = server.dsn
        for name in ("SUPABASE_URL", "ANTHROPIC_API_KEY"):
            os.environ.pop(name, None)
        tax = load_taxonomy()
        first = AppTest.from_file(PAGE, default_timeout=120)
        run(first)  # boots the database: migrations, taxonomy, seeds, the default plan
        store = PostgresStore(server.dsn)
        existing = store.list_scenarios()
        extra = plan(tax, max(args.scenarios - len(existing), 0), seed=1,
                     existing=[{k: r[k] for k in ("tier", "persona", "emotional_arc", "topic", "intent", "tone",
                                                   "outcome_type", "context_id")} for r in existing])
        store.add_scenarios([s.as_dict() for s in extra.scenarios], plan_batch="bench")
        total = store.counts()["scenarios"]
        store.close()

        renders, filters, clears = [], [], []
        persona = tax.personas[0].id
        for _ in range(args.runs):
            at = AppTest.from_file(PAGE, default_timeout=120)
            renders.append(run(at))
            next(w for w in at.multiselect if w.label == "Persona").set_value([persona])
            filters.append(run(at))
            next(w for w in at.multiselect if w.label == "Persona").set_value([])
            clears.append(run(at))
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"scenarios in the table:       {total:,}")
        print(f"first render of the page:     {statistics.median(renders):7.0f} ms (median of {args.runs})")
        print(f"filter change (one persona):  {statistics.median(filters):7.0f} ms")
        print(f"clearing the filter:          {statistics.median(clears):7.0f} ms")
        print(f"peak RSS of this process:     {rss_mb:7.0f} MB (Streamlit + the page + the data)")
    finally:
        stop_embedded(server)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
