"""Scenarios page benchmark: 100,000 scenarios, the page's first render, a filter change, paging,
sorting, and memory per session.

    python bench/bench_scenarios.py [--scenarios 100000] [--runs 5] [--sessions 5]

Fills a fresh embedded database with --scenarios rows (the default plan's rows copied in SQL, which
is quicker than planning them), then runs pages/scenarios.py under streamlit's AppTest (the same
script the server runs, without the browser) and times:
- the first render of a session (the store already open, as it is after the app's start);
- a filter change (one persona) and clearing it again; the next page; a sort by the last update;
- the database's own time for one page (Store.scenario_page) with and without a filter;
and prints the process's resident memory before the first session, after it, and with --sessions
sessions alive at once. The browser's own drawing of the grid is not included. Prints figures
(median of --runs); asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from lib.core.taxonomy import load_taxonomy  # noqa: E402
from lib.store.embedded import start_embedded, stop_embedded  # noqa: E402
from lib.store.postgres import PostgresStore  # noqa: E402

PAGE = str(ROOT / "pages" / "scenarios.py")
BATCH = "'bench'"  # the plan_batch of the copies
COPIED = "tier, persona, emotional_arc, topic, intent, tone, outcome_type, context_id, context, plan_batch"


def rss_mb() -> float:
    """The process's resident memory now (Linux), in MB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run(at: AppTest) -> float:
    start = time.perf_counter()
    at.run(timeout=120)
    elapsed = (time.perf_counter() - start) * 1000
    if at.exception:
        raise SystemExit(f"the page failed: {at.exception}")
    return elapsed


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def fill(dsn: str, n: int) -> None:
    """Copies of the planned rows up to n scenarios: the same values the planner chose, repeated."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        have = conn.execute("select count(*) from public.scenarios").fetchone()[0]  # type: ignore[index]
        if n > have:
            conn.execute(
                f"insert into public.scenarios ({COPIED}) "
                f"select {COPIED.replace('plan_batch', BATCH)} from ("
                "  select s.*, row_number() over () as k from public.scenarios s,"
                "         generate_series(1, ceil(%(n)s::numeric / %(have)s)::int)) s where k <= %(n)s",
                {"n": n - have, "have": have},
            )
        conn.execute("analyze public.scenarios")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sessions", type=int, default=5)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="brightrun-bench-"))
    server = start_embedded(folder, keep_running=False)
    try:
        os.environ["DATABASE_URL"] = server.dsn
        for name in ("SUPABASE_URL", "ANTHROPIC_API_KEY"):
            os.environ.pop(name, None)
        tax = load_taxonomy()
        run(AppTest.from_file(PAGE, default_timeout=120))  # boots the database: migrations, taxonomy, seeds, plan
        fill(server.dsn, args.scenarios)
        store = PostgresStore(server.dsn)
        total = store.counts()["scenarios"]
        persona = tax.personas[0].id
        db_page = [timed(lambda: store.scenario_page(limit=100)) for _ in range(args.runs)]
        db_filtered = [timed(lambda: store.scenario_page({"persona": [persona]}, limit=100)) for _ in range(args.runs)]
        db_sorted = [
            timed(lambda: store.scenario_page(sort="updated_at", descending=True, limit=100, offset=50_000))
            for _ in range(args.runs)
        ]
        store.close()

        gc.collect()
        before = rss_mb()
        renders, filters, clears, pages, sorts = [], [], [], [], []
        for _ in range(args.runs):
            at = AppTest.from_file(PAGE, default_timeout=120)
            renders.append(run(at))
            next(w for w in at.multiselect if w.label == "Persona").set_value([persona])
            filters.append(run(at))
            next(w for w in at.multiselect if w.label == "Persona").set_value([])
            clears.append(run(at))
            next(b for b in at.button if b.key == "scn_next").click()
            pages.append(run(at))
            at.selectbox(key="scn_sort_by").set_value("Updated")
            sorts.append(run(at))
        after_one = rss_mb()
        alive = [AppTest.from_file(PAGE, default_timeout=120) for _ in range(args.sessions)]
        for at in alive:
            run(at)
        after_many = rss_mb()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        print(f"scenarios in the table:           {total:,}")
        print(f"database, first page of 100:      {statistics.median(db_page):7.1f} ms (median of {args.runs})")
        print(f"database, one persona's page:     {statistics.median(db_filtered):7.1f} ms")
        print(f"database, page 501 by last update:{statistics.median(db_sorted):7.1f} ms")
        print(f"first render of the page:         {statistics.median(renders):7.0f} ms")
        print(f"filter change (one persona):      {statistics.median(filters):7.0f} ms")
        print(f"clearing the filter:              {statistics.median(clears):7.0f} ms")
        print(f"next page:                        {statistics.median(pages):7.0f} ms")
        print(f"sort by last update:              {statistics.median(sorts):7.0f} ms")
        print(f"resident memory before a session: {before:7.0f} MB (Python, Streamlit, pandas, the taxonomy)")
        print(f"after {args.runs} sessions, one at a time: {after_one:7.0f} MB")
        print(f"with {args.sessions} more sessions alive:     {after_many:7.0f} MB "
              f"({(after_many - after_one) / max(args.sessions, 1):.0f} MB a session)")
        print(f"peak resident memory:             {peak:7.0f} MB")
    finally:
        stop_embedded(server)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
