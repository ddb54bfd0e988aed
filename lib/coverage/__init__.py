"""Coverage, without Streamlit: what the dataset covers against taxonomy/targets.yaml. Each name below
lives in the module that owns it:

    targets       the targets: per emotion and strategy, length buckets, an even share per persona and topic
    estimate      the planned coverage of scenarios not generated yet (the generator's own lengths, the arcs)
    counts        public.coverage_counts' rows -> Coverage, the tables the charts draw, per scope
    shortfall     the gaps (targets not met), gaps -> planner weights, a plan sized to fill them
    page_figures  every chart of the Coverage page from one Coverage
    pairs         accepted contrastive pairs per emotion x failure kind against failures.yaml, their gaps
    charts        DataFrame -> plotly Figure (imported as lib.coverage.charts)

The page, the tests and the benchmark use these names through `lib.coverage`.
"""

from __future__ import annotations

from lib.coverage.counts import (
    SCOPE_NOTES,
    SCOPES,
    SECTIONS,
    UNKNOWN_COLOUR,
    Coverage,
    build,
    count_rows,
    from_rows,
    load,
    load_all,
    with_added,
)
from lib.coverage.estimate import (
    PLANNED_NOTE,
    arc_user_emotions,
    estimate_rows,
    generator_exchanges,
    pending_rows,
    scenario_exchanges,
    strategy_shares,
)
from lib.coverage.page_figures import FIGURES, SCOPE_PHRASES, figures
from lib.coverage.pairs import pair_figure, pair_frame, pair_gaps, pair_summary
from lib.coverage.shortfall import (
    GAP_COLUMNS,
    KINDS,
    MAX_PLAN_ROWS,
    GapPlan,
    fill_plan,
    gap_change,
    gap_weights,
    gaps,
    kind_frames,
    label_yields,
    suggested_rows,
    target_summary,
)
from lib.coverage.targets import dataset_size_target, emotion_target, even_share, strategy_target

__all__ = [
    "FIGURES",
    "GAP_COLUMNS",
    "KINDS",
    "MAX_PLAN_ROWS",
    "PLANNED_NOTE",
    "SCOPES",
    "SCOPE_NOTES",
    "SCOPE_PHRASES",
    "SECTIONS",
    "UNKNOWN_COLOUR",
    "Coverage",
    "GapPlan",
    "arc_user_emotions",
    "build",
    "count_rows",
    "dataset_size_target",
    "emotion_target",
    "estimate_rows",
    "even_share",
    "figures",
    "fill_plan",
    "from_rows",
    "gap_change",
    "gap_weights",
    "gaps",
    "generator_exchanges",
    "kind_frames",
    "label_yields",
    "load",
    "load_all",
    "pair_figure",
    "pair_frame",
    "pair_gaps",
    "pair_summary",
    "pending_rows",
    "scenario_exchanges",
    "strategy_shares",
    "strategy_target",
    "suggested_rows",
    "target_summary",
    "with_added",
]
