"""Review and approval, without Streamlit. Each name below lives in the module that owns it:

    labels      the words for statuses, decisions, reasons, sources, label fields and groups
    queue       the filters, the snapshot of conversation ids, moving through it; session keys
    view        one conversation as the page shows it: turns, arc, integrity report, ratings, decisions, details
    ratings     the judge's and reviewers' ratings per criterion
    actions     decide, seed example, label corrections, ratings (agree, override), regeneration with feedback
    analytics   label corrections counted, with names, from every source or one
    agreement   how far reviewers agree (kappa, alpha) on the decision and labels, per pair, over time
    calibration the judge's verdicts against reviewers' decisions and overrides, per criterion
    figures     the arc figure, the corrections chart, badge colours
    text        ids, label values and times as plain text
    double      double review as a reviewer sees it: blind until they have decided
    errors      ReviewError

The page and the benchmark use these names through `lib.review`. Label revisions from the other sources
have modules of their own, imported by name: suggestions (the judge's and the checks' suggested
corrections, accepted or dismissed), operator_import (operators' corrections from a file, with
label_values checking each value), drift (the corrections over time, by source, model and prompt).
"""

from __future__ import annotations

from lib.review.actions import (
    ActionResult,
    agree,
    correct_assistant_turn,
    correct_user_turn,
    decide,
    queue_regeneration,
    rate,
    set_seed_example,
)
from lib.review.agreement import Agreement, load_agreement
from lib.review.analytics import CorrectionTotals, label_analytics, totals
from lib.review.calibration import OVERALL, Calibration, CriterionCalibration, build_calibration, calibration
from lib.review.double import BLIND_BADGE, BLIND_NOTE, as_seen_by, is_blind, suggestions_seen_by
from lib.review.errors import ReviewError
from lib.review.figures import arc_figure, badge_colour, corrections_chart
from lib.review.labels import (
    DECISION_LABELS,
    DEFAULT_STATUSES,
    FIELD_LABELS,
    GROUP_DIMENSIONS,
    GROUP_LABELS,
    RATING_FILTER_LABELS,
    RATING_FILTERS,
    RATING_LABELS,
    RATING_STATES,
    REASON_LABELS,
    SOURCE_LABELS,
    STATUS_LABELS,
)
from lib.review.queue import (
    ADVANCE_KEY,
    CURRENT_KEY,
    FILTERS_KEY,
    FLASH_KEY,
    QUERY_PARAM,
    QUEUE_KEY,
    QueueFilters,
    after_decision,
    current_in,
    filter_summary,
    is_stale,
    load_queue,
    next_after,
    position,
    position_text,
    snapshot_caption,
    status_summary,
    step,
    take_snapshot,
)
from lib.review.ratings import CriterionView, Rating, RatingsView, build_ratings
from lib.review.text import label_text_names, label_value_text
from lib.review.view import (
    DETAIL_SECTIONS,
    ConversationView,
    RevisionView,
    TurnView,
    build_view,
    check_title,
    details_frame,
    finding_message,
    load_view,
)

__all__ = [
    "ADVANCE_KEY",
    "BLIND_BADGE",
    "BLIND_NOTE",
    "CURRENT_KEY",
    "DECISION_LABELS",
    "DEFAULT_STATUSES",
    "DETAIL_SECTIONS",
    "FIELD_LABELS",
    "FILTERS_KEY",
    "FLASH_KEY",
    "GROUP_DIMENSIONS",
    "GROUP_LABELS",
    "OVERALL",
    "QUERY_PARAM",
    "QUEUE_KEY",
    "RATING_FILTERS",
    "RATING_FILTER_LABELS",
    "RATING_LABELS",
    "RATING_STATES",
    "REASON_LABELS",
    "SOURCE_LABELS",
    "STATUS_LABELS",
    "ActionResult",
    "Agreement",
    "Calibration",
    "ConversationView",
    "CorrectionTotals",
    "CriterionCalibration",
    "CriterionView",
    "QueueFilters",
    "Rating",
    "RatingsView",
    "ReviewError",
    "RevisionView",
    "TurnView",
    "after_decision",
    "agree",
    "arc_figure",
    "as_seen_by",
    "badge_colour",
    "build_calibration",
    "build_ratings",
    "build_view",
    "calibration",
    "check_title",
    "correct_assistant_turn",
    "correct_user_turn",
    "corrections_chart",
    "current_in",
    "decide",
    "details_frame",
    "filter_summary",
    "finding_message",
    "is_blind",
    "is_stale",
    "label_analytics",
    "label_text_names",
    "label_value_text",
    "load_agreement",
    "load_queue",
    "load_view",
    "next_after",
    "position",
    "position_text",
    "queue_regeneration",
    "rate",
    "set_seed_example",
    "snapshot_caption",
    "status_summary",
    "step",
    "suggestions_seen_by",
    "take_snapshot",
    "totals",
]
