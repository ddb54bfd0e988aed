"""Coverage page benchmark: 10,000 conversations (~120,000 turns), then time the page's data.

    python bench/bench_coverage.py [--conversations 10000] [--planned 2000] [--runs 5] [--no-apptest]

Fills a fresh embedded database through the Store as the app and the worker write it: scenarios,
conversations of 8-16 turns (save_generated, 4 threads), a review for most of them, a few hundred
regenerations (older versions must not count) and label corrections. Then times what a render of
pages/coverage.py computes:
  coverage_version()  the cache key the page reads on every render
  coverage_counts     all the aggregations of the three views, one SQL call (the page caches its rows
                      per coverage_version, so only the first render after a change pays for it)
  build / figures     per view: the rows -> the chart tables, and the 11 plotly figures
  page cold / warm    everything one render needs (this view + the Planned view for the gap planning,
                      gaps, the headline, the figures) without / with the counts cached
then the "Plan scenarios to fill these gaps" click, and, unless --no-apptest, full script runs of the
page under AppTest (Streamlit included), cold and warm.
Prints medians of --runs after a warm-up; asserts nothing. The database is deleted at the end.
"""
from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

import lib.coverage as coverage  # noqa: E402
from bench._database import fresh_store  # noqa: E402
from bench._timing import median_ms  # noqa: E402
from bench.bench_db import add_random_scenarios, conversation_for  # noqa: E402  (the same synthetic rows as the db bench)
from lib.core.taxonomy import Taxonomy, load_taxonomy  # noqa: E402
from lib.store.postgres import PostgresStore  # noqa: E402


def backend_cpu_ms(dsn: str) -> float:
    """CPU time used so far by every server process of the database (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    with psycopg.connect(dsn, autocommit=True) as conn:
        pids = [r[0] for r in conn.execute("select pid from pg_stat_activity where datname = current_database() "
                                           "and backend_type = 'client backend'")]  # not autovacuum
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total * 1000 / tick


def wall_cpu_ms(fn: Callable[[], Any], dsn: str) -> tuple[float, float, Any]:
    """Wall and CPU milliseconds of one call, and its result: CPU = this process plus the database
    server's processes, which on a busy machine says more than the wall clock."""
    server, mine, started = backend_cpu_ms(dsn), time.process_time(), time.perf_counter()
    result = fn()
    wall = (time.perf_counter() - started) * 1000
    return wall, (time.process_time() - mine) * 1000 + backend_cpu_ms(dsn) - server, result


def timed_cpu(runs: int, fn: Callable[[], Any], dsn: str) -> tuple[float, float, Any]:
    """Median wall and CPU milliseconds (wall_cpu_ms) of `runs` calls after a warm-up, and the last result."""
    result = fn()
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu, result = wall_cpu_ms(fn, dsn)
        walls.append(wall)
        cpus.append(cpu)
    return statistics.median(walls), statistics.median(cpus), result


def parallel(fn: Callable[[Any], Any], items: list[Any], threads: int = 4) -> None:
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(fn, items))


def fill(store: PostgresStore, tax: Taxonomy, n_conversations: int, n_planned: int, seed: int) -> None:
    rng = random.Random(seed)
    add_random_scenarios(store, tax, n_conversations + n_planned, rng)

    rows = [r for r in store.list_scenarios() if r["conversation_id"] is None]
    chosen = rng.sample(rows, min(n_conversations - (store.counts()["conversations"]), len(rows)))
    started = time.perf_counter()
    docs = [(conversation_for(r, f"bench-{r['id']}", tax, random.Random(r["id"])), r) for r in chosen]
    parallel(lambda d: store.save_generated(d[0], scenario_id=d[1]["id"]), docs)
    elapsed = time.perf_counter() - started
    print(f"  saved {len(docs)} conversations in {elapsed:.1f} s ({len(docs) / elapsed:.0f}/s, 4 threads)")

    started = time.perf_counter()
    regenerated = docs[: len(docs) // 30]  # a new version replaces the old one, which must stop counting
    parallel(lambda d: store.save_generated(conversation_for(d[1], f"{d[0].id}-v2", tax, random.Random(-d[1]["id"])),
                                            scenario_id=d[1]["id"]), regenerated)
    current = {d[1]["id"]: (f"{d[0].id}-v2" if i < len(regenerated) else d[0].id) for i, d in enumerate(docs)}
    decisions = rng.choices(["approved", "needs_edit", "rejected", None], weights=[60, 10, 10, 20], k=len(current))
    reviews = [(cid, d) for cid, d in zip(current.values(), decisions) if d]
    parallel(lambda r: store.record_review(r[0], r[1], reviewer="bench", reason_code="other", notes="bench"), reviews)
    emotions, strategies = tax.ids("emotions"), tax.ids("strategies")
    corrected = rng.sample(list(current.values()), min(600, len(current)))
    parallel(lambda cid: store.revise_label(cid, 0, "emotion.primary", rng.choice(emotions), author="bench"),
             corrected[:400])
    parallel(lambda cid: store.revise_label(cid, 1, "strategies.primary", rng.choice(strategies), author="bench"),
             corrected[400:])
    print(f"  {len(regenerated)} regenerations, {len(reviews)} reviews and {len(corrected)} label corrections "
          f"in {time.perf_counter() - started:.1f} s")
    with store.connection("analyze") as conn:
        conn.execute("analyze")


def vacuum(dsn: str) -> None:
    """What autovacuum does within a minute or so of bulk inserts: set the visibility map, so the
    counts read conversation_turns_coverage_idx without visiting the table."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("vacuum (analyze) public.conversation_turns, public.conversations, public.scenarios")


def page_data(store: PostgresStore, tax: Taxonomy, scope: str, rows: list[dict[str, Any]] | None = None
              ) -> dict[str, Any]:
    """What one render of pages/coverage.py computes, without Streamlit. rows=None: cold (the page's
    cache has no counts for this version of the data, so they are counted in SQL); else warm."""
    version = store.coverage_version()
    if rows is None:
        rows = coverage.count_rows(store, tax)
    counted = coverage.from_rows(rows, tax, (scope, "planned") if scope != "planned" else ("planned",))
    cov, planned = counted[scope], counted["planned"]
    return {"version": version, "gaps": coverage.gaps(cov, tax), "summary": coverage.target_summary(cov, tax),
            "plan_gaps": coverage.gaps(planned, tax), "figures": coverage.figures(cov, tax)}


def apptest_ms(dsn: str, runs: int) -> list[tuple[str, float, float, float, float]]:
    """Full runs of the page per view under AppTest (the script and Streamlit's serialisation of the
    figures): cold (st.cache_data cleared first) and warm (the counts cached)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ["DATABASE_URL"] = dsn
    st.cache_resource.clear()

    def once(scope: str) -> tuple[float, float]:
        at = AppTest.from_file(str(ROOT / "pages" / "coverage.py"), default_timeout=120)
        at.session_state["br_coverage_scope"] = scope
        wall, cpu, _ = wall_cpu_ms(at.run, dsn)
        assert not at.exception, at.exception
        return wall, cpu

    once("approved")  # opens the store, imports
    empty = Path(tempfile.mkdtemp(prefix="bench-empty-page-")) / "empty.py"
    empty.write_text("import streamlit as st\nst.write('empty')\n")
    floor = []
    for _ in range(runs):  # what AppTest itself costs per run, whatever the page
        floor.append(wall_cpu_ms(lambda: AppTest.from_file(str(empty), default_timeout=60).run(), dsn)[:2])
    shutil.rmtree(empty.parent, ignore_errors=True)
    out = [("(empty page)", statistics.median(f[0] for f in floor), statistics.median(f[1] for f in floor),
            math.nan, math.nan)]
    for scope in coverage.SCOPES:
        cold, warm = [], []
        for _ in range(runs):
            st.cache_data.clear()
            cold.append(once(scope))
            warm.append(once(scope))
        out.append((scope, *(statistics.median(x[i] for x in runs_) for runs_ in (cold, warm) for i in (0, 1))))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--planned", type=int, default=2_000, help="scenarios left without a conversation")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-apptest", action="store_true", help="skip the full page runs under AppTest")
    args = parser.parse_args(argv)

    tax = load_taxonomy()
    store, server, _ = fresh_store("brightrun-bench-coverage-")
    try:
        fill(store, tax, args.conversations, args.planned, args.seed)
        c = store.counts()
        with store.connection("count current") as conn:
            cur = conn.execute("select count(*) filter (where is_current) as current, "
                               "count(*) filter (where is_current and review_status = 'approved') as approved "
                               "from public.conversations").fetchone()
        print(f"rows: {c['scenarios']} scenarios, {c['conversations']} conversations ({cur['current']} current, "
              f"{cur['approved']} approved), {c['conversation_turns']} turns, {c['reviews']} reviews, "
              f"{c['label_revisions']} label revisions")

        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"\nthe coverage page's data (median of {args.runs} runs after a warm-up, ms; "
              f"load average {load} on {os.cpu_count()} CPUs)")
        fresh_ms, _ = median_ms(args.runs, lambda: coverage.count_rows(store, tax))
        vacuum(server.dsn)
        version_ms, _ = median_ms(args.runs, store.coverage_version)
        sql_ms, sql_cpu, rows = timed_cpu(args.runs, lambda: coverage.count_rows(store, tax), server.dsn)
        print(f"  coverage_version() {version_ms:.0f}")
        print(f"  coverage_counts (all three views, one call): {sql_ms:.0f} wall, {sql_cpu:.0f} CPU, {len(rows)} rows "
              f"({fresh_ms:.0f} wall right after the bulk inserts, before autovacuum's pass)")
        with store.connection("explain") as conn:
            plan = conn.execute("explain (analyze, format json) select * from public.coverage_counts()").fetchone()
        print(f"  of which server time: {plan['QUERY PLAN'][0]['Execution Time']:.0f}")
        print(f"  {'view':<11}{'build':>7}{'figures':>9}{'cold wall':>11}{'cold CPU':>10}{'warm wall':>11}"
              f"{'warm CPU':>10}")
        for scope in coverage.SCOPES:
            build_ms, cov = median_ms(args.runs, lambda s=scope: coverage.from_rows(rows, tax, (s,))[s])
            fig_ms, _ = median_ms(args.runs, lambda c_=cov: coverage.figures(c_, tax))
            cold_ms, cold_cpu, _ = timed_cpu(args.runs, lambda s=scope: page_data(store, tax, s), server.dsn)
            warm_ms, warm_cpu, _ = timed_cpu(args.runs, lambda s=scope: page_data(store, tax, s, rows), server.dsn)
            print(f"  {scope:<11}{build_ms:>7.0f}{fig_ms:>9.0f}{cold_ms:>11.0f}{cold_cpu:>10.0f}{warm_ms:>11.0f}"
                  f"{warm_cpu:>10.0f}")

        started = time.perf_counter()
        planned = coverage.load(store, tax, "planned")
        existing = store.list_scenarios()
        result = coverage.fill_plan(tax, planned, existing)
        print(f"\n'Plan scenarios to fill these gaps' (sizing search over {len(existing)} existing rows): "
              f"{(time.perf_counter() - started) * 1000:.0f} ms, {result.n} scenarios, closes all: {result.closes_all}")
        n_fixed = result.n or 100  # a table this big may leave nothing to plan: time 100 rows then
        started = time.perf_counter()
        coverage.fill_plan(tax, planned, existing, n_fixed)
        print(f"  the preview on a rerun ({n_fixed} scenarios, fixed size): "
              f"{(time.perf_counter() - started) * 1000:.0f} ms")

        if not args.no_apptest:
            print(f"\nfull page run under AppTest (median of {args.runs}, ms; CPU includes AppTest's own "
                  "polling of the script thread)")
            print(f"  {'view':<13}{'cold wall':>10}{'cold CPU':>10}{'warm wall':>11}{'warm CPU':>10}")
            for scope, cold, cold_cpu, warm, warm_cpu in apptest_ms(server.dsn, args.runs):
                print(f"  {scope:<13}{cold:>10.0f}{cold_cpu:>10.0f}{warm:>11.0f}{warm_cpu:>10.0f}")
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
