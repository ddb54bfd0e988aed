"""The Store protocol: everything the pages and the worker may ask of the database.

lib/store/calls/ makes each method of one row of a table (the SQL function it calls, its
parameters, the shape of its result), run by one of two transports: PostgresStore (psycopg, for the
embedded database and DATABASE_URL) and, in hosted mode, SupabaseStore (supabase-py). The
signatures below, and those of the runner's part in lib/store/job_protocol.py, are the only ones:
the methods are made with them.

Rows come back as plain dicts (column -> value; numbers as int/float, times as aware datetimes),
conversations as lib.core.models.Conversation. Errors are the StoreError subclasses of
lib/store/types.py, each with a one-line message a person can act on; the types the methods take
and return live there too and are importable from here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from lib.core.models import Conversation, RevisionSource
from lib.core.vocabulary import Decision
from lib.store.job_protocol import JobStore, WorkerSession
from lib.store.types import (
    LABEL_STATS_GROUPS,
    REVIEW_FILTERS,
    SCENARIO_COLUMNS,
    SCENARIO_FILTERS,
    SCENARIO_SORTS,
    STALE_SQLSTATE,
    BootError,
    BootReport,
    ExportRow,
    InvalidInput,
    JobItem,
    JobKind,
    MigrationError,
    NotFound,
    PermissionDenied,
    ScenarioPage,
    Stale,
    StoreError,
    StoreInfo,
    StoreKind,
    StoreUnavailable,
)

__all__ = [
    "LABEL_STATS_GROUPS",
    "REVIEW_FILTERS",
    "SCENARIO_COLUMNS",
    "SCENARIO_FILTERS",
    "SCENARIO_SORTS",
    "STALE_SQLSTATE",
    "BootError",
    "BootReport",
    "ExportRow",
    "InvalidInput",
    "JobItem",
    "JobKind",
    "MigrationError",
    "NotFound",
    "PermissionDenied",
    "ScenarioPage",
    "Stale",
    "Store",
    "StoreError",
    "StoreInfo",
    "StoreKind",
    "StoreUnavailable",
    "WorkerSession",
]


@runtime_checkable
class Store(JobStore, Protocol):
    """The database as the app sees it. Writes that touch several rows are atomic."""

    label: str  # where the data lives, safe to show (no password, no key)

    # -- the store itself ---------------------------------------------------------------------
    def describe(self) -> StoreInfo:
        """Kind, a label safe to show, server version, row counts, migrations, last boot."""
        ...

    def counts(self) -> dict[str, int]:
        """Row count per table (scenarios, conversations, conversation_turns, reviews, ...)."""
        ...

    def scenario_status_counts(self) -> dict[str, int]:
        """Scenarios per status, most first."""
        ...

    def coverage_counts(self, scopes: Sequence[str] = ("approved", "generated", "planned")) -> list[dict[str, Any]]:
        """Every count of the coverage page, computed in SQL in one call (public.coverage_counts):
        long rows scope, section, a, b, c, n, m. scopes: 'approved', 'generated', 'planned' (scenarios
        not generated yet estimated; min_turns..max_turns are the quality rules). See lib/coverage.py."""
        ...

    def coverage_version(self) -> str:
        """A short text that changes whenever anything coverage_counts reads changes (a cache key)."""
        ...

    def conversation_texts(self) -> list[dict[str, Any]]:
        """Every current conversation's turn texts in order (v_conversation_texts: id, scenario_id,
        created_at, review_status, source, tier, persona, emotional_arc, topic, roles, texts), for the
        near-duplicate search and the diversity figures. coverage_version changes when they do."""
        ...

    def conversation_texts_version(self) -> str:
        """A short text that changes when a conversation's text can have changed (added, regenerated,
        removed) and not when one is reviewed: a cache key for the near-duplicate search."""
        ...

    def close(self) -> None: ...

    # -- scenarios ----------------------------------------------------------------------------
    def list_scenarios(
        self, filters: Mapping[str, Sequence[str | int]] | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """v_scenarios rows ordered by id. filters: SCENARIO_FILTERS key -> allowed values (OR
        within a key, AND across keys; an empty list filters nothing)."""
        ...

    def scenario_page(
        self,
        filters: Mapping[str, Sequence[str | int]] | None = None,
        sort: str = "id",
        descending: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> ScenarioPage:
        """One page of v_scenarios rows, filtered (as list_scenarios), sorted by one of SCENARIO_SORTS
        (id breaks ties) and counted in the database (public.scenario_page): a page of the table
        costs the rows shown, not the whole table."""
        ...

    def get_scenario(self, scenario_id: int) -> dict[str, Any] | None: ...

    def add_scenarios(
        self,
        rows: Sequence[Mapping[str, Any]],
        *,
        plan_batch: str | None = None,
        plan_seed: int | None = None,
        origin: str = "planned",
        created_by: str | None = None,
    ) -> list[int]:
        """rows: tier, persona, emotional_arc, topic, intent, tone, outcome_type, context_id, context; a
        variation row (origin 'variation') also source_conversation_id and variation (lib/core/variation_sets.py)."""
        ...

    # -- variation sets -------------------------------------------------------------------------
    def variation_counts(self) -> list[dict[str, Any]]:
        """Per source conversation: the variations planned, generated and approved (public.variation_counts)."""
        ...

    # -- conversations ------------------------------------------------------------------------
    def get_conversation(self, conversation_id: str) -> Conversation | None: ...

    def conversation_versions(self, scenario_id: int) -> list[Conversation]:
        """Every version of a scenario's conversation, newest first."""
        ...

    def conversation_turn_rows(self, conversation_id: str) -> list[dict[str, Any]]:
        """The turn rows with the labels in force (after every revision)."""
        ...

    def seed_examples(self) -> list[Conversation]:
        """The current conversations marked use_as_seed_example, by id: the prompts' examples."""
        ...

    def set_scenario_status(self, scenario_id: int, status: str | None) -> str:
        """Around a generation without a job item: 'generating', 'failed', or None to settle on what
        the scenario's current conversation says. Returns the new status."""
        ...

    def save_generated(
        self,
        conversation: Conversation,
        *,
        item_id: int | None = None,
        scenario_id: int | None = None,
        worker: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> str:
        """Store a generated conversation as its scenario's current version and close its job
        item, in one transaction. Idempotent per item and per conversation id."""
        ...

    # -- review -------------------------------------------------------------------------------
    def record_review(
        self,
        conversation_id: str,
        decision: Decision,
        *,
        reviewer: str,
        reason_code: str | None = None,
        notes: str = "",
        review_count: int | None = None,
    ) -> int: ...

    def revise_label(
        self,
        conversation_id: str,
        turn: int,
        field: str,
        new_value: Any,
        *,
        author: str,
        reason: str = "",
        source: RevisionSource = "human_review",
    ) -> int | None:
        """Returns the revision id, or None when new_value is already in force (unless a reviewer makes the
        correction another author made, having none of that label: then it is recorded as theirs)."""
        ...

    def reviews_for(self, conversation_id: str) -> list[dict[str, Any]]:
        """Every decision on a conversation, oldest first."""
        ...

    def label_revisions_for(self, conversation_id: str) -> list[dict[str, Any]]:
        """Every label revision of a conversation, oldest first."""
        ...

    def review_queue(
        self,
        filters: Mapping[str, Sequence[str | int]] | None = None,
        *,
        quality: tuple[float, float] | None = None,
        current_only: bool = True,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """v_review_queue rows (one per conversation version): those whose ratings failed a hard rule first,
        then the other flagged ones, then the rest, each oldest first. filters: REVIEW_FILTERS
        key -> allowed values (OR within a key, AND across keys; an empty list filters nothing).
        quality: (low, high) score range, inclusive; a conversation without a score passes only
        the full range 1-10. current_only: leave out the versions a regeneration replaced."""
        ...

    def review_queue_ids(
        self,
        filters: Mapping[str, Sequence[str | int]] | None = None,
        *,
        quality: tuple[float, float] | None = None,
        current_only: bool = True,
    ) -> list[str]:
        """The ids review_queue() would return, in its order: the cheap read for taking the queue."""
        ...

    def reviewer_names(self) -> list[str]:
        """Everyone who has recorded a review decision, by name."""
        ...

    def conversation_metadata(self, conversation_id: str) -> dict[str, Any]:
        """The conversation_metadata key/value pairs (template, parameters, usage, worker, ...)."""
        ...

    def set_seed_example(self, conversation_id: str, value: bool, *, by: str) -> bool:
        """Mark (or unmark) a conversation as a seed example, in the column and the document. Only an
        approved conversation can become one (InvalidInput otherwise). Returns the new value."""
        ...

    def label_correction_stats(self, by: str | None = None, *, source: str | None = None) -> list[dict[str, Any]]:
        """The label corrections counted per (field, from_value, to_value[, group_id]), most frequent
        first, with conversations, authors and last_at. by: None or one of LABEL_STATS_GROUPS."""
        ...

    # -- label revisions from every source: operators' imports, suggestions, drift -----------------
    def import_label_revisions(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
        """Operators' corrections (line, conversation_id, turn, field, new_value, author, reason, observed_at),
        written as operator_realtime revisions in one transaction: all or none (an error names the line).
        Needs the operator role. Returns written, unchanged (already in force) and conversations."""
        ...

    def propose_label_suggestions(self, conversation_id: str, suggestions: Sequence[Mapping[str, Any]]) -> int:
        """The integrity checks' suggestions (turn, field, suggested_value, reason, check) for the labels in
        force; one already made is not made again. Needs the operator role. Returns how many were new."""
        ...

    def label_suggestions(self, conversation_id: str) -> list[dict[str, Any]]:
        """The suggested revisions of a conversation, open ones first, with in_force (the value now) and
        stale (open, but made for a value no longer in force: it cannot be accepted)."""
        ...

    def decide_label_suggestions(self, ids: Sequence[int], decision: str, *, by: str) -> list[int]:
        """Accept ('accepted': automated revisions by `by`) or dismiss ('dismissed') suggestions, all or none;
        a stale or already decided one raises Stale. Returns the ids of the revisions written."""
        ...

    def label_drift(self, source: str | None = None) -> list[dict[str, Any]]:
        """The corrections counted per (day, field, from_value, to_value, source, model, template), with
        corrections and conversations; source: only that one."""
        ...

    # -- export ---------------------------------------------------------------------------------
    def export_conversations(
        self,
        filters: Mapping[str, Sequence[str | int]] | None = None,
        review_statuses: Sequence[str] | None = None,
        limit: int | None = None,
        after_scenario_id: int | None = None,
    ) -> list[ExportRow]:
        """The current conversation of every scenario that passes `filters` (SCENARIO_FILTERS keys,
        as list_scenarios) and whose review status is one of `review_statuses` (None: any), by
        scenario id. With `limit` and `after_scenario_id` (the last id of the batch before), the
        export reads them in batches (keyset pages), so its memory does not grow with the dataset."""
        ...

    def export_counts(self, filters: Mapping[str, Sequence[str | int]] | None = None) -> dict[str, int]:
        """Current conversations per review status among the scenarios that pass `filters`: what an
        export would match, counted without reading a document."""
        ...

    # -- preference pairs: accepted contrastive responses as the export and Coverage read them -----
    def export_preference_pairs(self, conversation_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The accepted contrastive responses of these conversations (an export's batch) whose
        conversation is current, by conversation and turn: id, conversation_id, version, turn_idx,
        failure_kind, why, rejected (the failed text), chosen (the conversation's turn), system_prompt,
        before (the turns before it: role, text), reviewed_by, reviewed_at, review_note, model, created_at."""
        ...

    def contrastive_pair_counts(self, approved_only: bool = True) -> list[dict[str, Any]]:
        """Accepted pairs of current conversations per (emotion, failure_kind): n. The emotion is the one
        in force on the user turn the failed answer replies to. approved_only: of approved conversations
        only (else of every conversation not rejected)."""
        ...

    # -- members and the signed-in user (hosted mode; a direct connection is the service role) -----
    def whoami(self) -> dict[str, Any]:
        """user_id, email, display_name and role of the caller (role None: not a member)."""
        ...

    def list_members(self) -> list[dict[str, Any]]: ...

    def add_member(
        self, email: str, role: str = "viewer", *, user_id: str | None = None, display_name: str | None = None
    ) -> dict[str, Any]:
        """Add (or update) a member; without user_id the person is looked up by email (admins only)."""
        ...

    def set_member_role(self, user_id: str, role: str) -> dict[str, Any]: ...

    def remove_member(self, user_id: str) -> bool: ...

    # -- double review and reviewer agreement ----------------------------------------------------------
    def double_review_share(self) -> float:
        """The share of conversations sent to a second reviewer at their first decision (0-1; 0.10 unless
        an admin set it). It lives in the database so every reviewer's app samples by the same share."""
        ...

    def set_double_review_share(self, share: float) -> float:
        """Change the share (admins; InvalidInput outside 0-1). Assignments already made keep theirs."""
        ...

    def second_review_ids(self, reviewer: str) -> list[str]:
        """The current conversations waiting for a second review that `reviewer` has not decided on (so
        never one they reviewed first), in the queue's order. Signed in, the reviewer is the session's."""
        ...

    def agreement_decisions(self) -> list[dict[str, Any]]:
        """For each conversation two or more people decided on: each reviewer's last decision
        (conversation_id, reviewer, decision, decided_at)."""
        ...

    def agreement_labels(self) -> list[dict[str, Any]]:
        """For the same conversations: each reviewer's value of every turn's labels (conversation_id,
        reviewer, turn_idx, role, emotion_primary, emotion_intensity, strategy_primary): their last
        revision of that turn and field, else the value as generated."""
        ...

    # -- quality ratings as the Review page and the export read them ---------------------------------
    def conversation_ratings(self, conversation_id: str) -> list[dict[str, Any]]:
        """Every rating of a conversation, the judge's and people's, newest first; in_force marks the ones
        that count (a person's latest rating of a criterion, else the judge's latest run)."""
        ...

    def label_findings(self, conversation_id: str) -> list[dict[str, Any]]:
        """The labels the judge would change (turn_idx, field, current_value, suggested_value, reason),
        newest first; latest_run marks those of the judge's latest run."""
        ...

    def record_human_rating(
        self,
        conversation_id: str,
        criterion: str,
        score: int,
        *,
        rater: str,
        pass_at: int,
        hard: bool = False,
        reason: str = "",
        cited_turns: Sequence[int] = (),
        rubric_id: str | None = None,
        rubric_version: str | None = None,
    ) -> int:
        """A person's 1-5 rating of one criterion: a new row, in force over the judge's (whose row is
        kept). pass_at and hard come from the rubric the person rated against. Returns its id."""
        ...

    def conversation_quality(self, *, current_only: bool = True) -> list[dict[str, Any]]:
        """v_conversation_quality: per rated conversation, the ratings in force (scores, min_score, flagged,
        hard_failed, flag_reasons), by conversation id. A conversation nobody rated has no row."""
        ...

    def rating_calibration(self) -> list[dict[str, Any]]:
        """The judge against the reviewers (public.rating_calibration): per criterion (None: overall),
        judge_pass and review_status, the conversations, and how many of those ratings people rated too
        (human_rated) with another score (overridden)."""
        ...

    # -- contrastive turns (lib/generation/contrast.py): the jobs that write them, a reviewer's decision ----
    def create_contrast_job(
        self,
        conversation_ids: Sequence[str],
        *,
        kind: JobKind = "realtime",
        model: str | None = None,
        settings: Mapping[str, Any] | None = None,
        created_by: str | None = None,
        max_attempts: int = 3,
    ) -> int | None:
        """A contrastive job (task 'contrast'), one item per approved conversation of conversation_ids not
        queued in another; settings carry turns, kinds and n. Returns the job id, or None when none is left."""
        ...

    def save_contrast_result(self, record: Mapping[str, Any], *, item_id: int | None = None) -> dict[str, Any]:
        """A contrastive run (lib.generation.contrast.ContrastResult.to_record()) in one transaction: its
        log rows and the failed responses it kept; with responses the item succeeds. Idempotent per item.
        Returns {responses, log_ids, created}."""
        ...

    def contrastive_responses(self, conversation_id: str) -> list[dict[str, Any]]:
        """The failed responses written for a conversation version, by turn, oldest first."""
        ...

    def decide_contrast(
        self, response_id: int, decision: str, *, reviewer: str | None, note: str = ""
    ) -> dict[str, Any]:
        """A reviewer accepts or rejects a contrastive response (a later decision replaces the earlier);
        signed in, the decision is the member's whatever reviewer says. Returns the row."""
        ...
