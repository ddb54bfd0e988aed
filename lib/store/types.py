"""What the Store speaks in: its errors (one line a person can act on), the filter keys of its
reads and the columns of a scenario row, and the records it returns besides plain dicts (the boot
report, the store's description, a claimed job item, an export row)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from lib.core.models import SCENARIO_FIELDS

StoreKind = Literal["embedded", "postgres", "supabase"]
JobKind = Literal["realtime", "batch"]


# review_queue filter keys -> the v_review_queue column each one filters ("reviewer": any decision by
# one of them; "status": the conversation's review_status, 'unreviewed' for none yet; "rating": the
# rating state (lib/review/labels.RATING_STATES); "scores": 'criterion=score' of a rating in force, any
# of them; "min_rating": the lowest rating in force is one of these numbers)
REVIEW_FILTERS: dict[str, str] = {
    "status": "review_status",
    "tier": "tier",
    "persona": "persona",
    "emotional_arc": "emotional_arc",
    "topic": "topic",
    "source": "source",
    "reviewer": "reviewers",
    "scenario_id": "scenario_id",
    "ids": "id",
    "rating": "rating_state",
    "scores": "criterion_scores",
    "min_rating": "min_rating",
}
LABEL_STATS_GROUPS: tuple[str, ...] = ("topic", "persona", "tier", "emotional_arc")

# list_scenarios filter keys -> the v_scenarios column each one filters
SCENARIO_FILTERS: dict[str, str] = {
    "persona": "persona",
    "start_emotion": "start_emotion",
    "topic_cluster": "topic_cluster",
    "intent": "intent",
    "tone": "tone",
    "topic": "topic",
    "outcome_type": "outcome_type",
    "tier": "tier",
    "status": "status",
    "emotional_arc": "emotional_arc",
    "ids": "id",
    "origin": "origin",
    "source": "source_conversation_id",  # "Variations of": the conversation a variation varies
}

# The columns of a scenario row (v_scenarios), in display order.
SCENARIO_COLUMNS: tuple[str, ...] = (
    "id",
    *SCENARIO_FIELDS,
    "status",
    "origin",
    "quality_score",
    "plan_seed",
    "plan_batch",
    "created_by",
    "created_at",
    "updated_at",
    "start_emotion",
    "end_emotion",
    "topic_cluster",
    "conversation_id",
    "conversation_version",
    "conversation_source",
    "conversation_quality",
    "review_status",
    "turn_count",
    "conversation_created_at",
    "source_conversation_id",
    "variation",
)


class StoreError(Exception):
    """A database problem, phrased as one line: what failed, and what to do."""


class StoreUnavailable(StoreError):
    """The database cannot be reached or started."""


class MigrationError(StoreError):
    """A migration file failed; the database was left as it was before that file."""


class BootError(StoreError):
    """The database is reachable but preparing it failed (taxonomy, seeds, default plan)."""


class PermissionDenied(StoreError):
    """The caller's role may not do this (SQLSTATE 42501)."""


class NotFound(StoreError):
    """The row the call names does not exist."""


class InvalidInput(StoreError):
    """The call's arguments were refused (unknown id, bad value, constraint)."""


# The SQLSTATE record_review raises for a decision made on what is no longer there.
STALE_SQLSTATE = "BR409"


class Stale(StoreError):
    """Someone changed the row since the caller read it (SQLSTATE BR409): reload, then try again."""


class BootReport(BaseModel):
    """What open_store did at start, for the log, the CLI and the app's data-source panel."""

    model_config = ConfigDict(extra="forbid")
    seconds: float = 0.0
    migrations_applied: list[str] = Field(default_factory=list)
    taxonomy_synced: bool = False
    seeds_imported: list[str] = Field(default_factory=list)
    seed_problems: list[str] = Field(default_factory=list)  # "seeds/x.json: skipped, reason"
    planned: int = 0


class StoreInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: StoreKind
    label: str  # where the data lives, safe to show (never a password)
    server_version: str = ""
    counts: dict[str, int] = Field(default_factory=dict)
    migrations: list[str] = Field(default_factory=list)  # applied versions, oldest first
    boot: BootReport | None = None


class JobItem(BaseModel):
    """One scenario to generate within a job, as a worker sees it after claiming it."""

    model_config = ConfigDict(extra="ignore")
    id: int
    job_id: int
    scenario_id: int
    status: str
    attempts: int
    max_attempts: int
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    heartbeat_at: datetime | None = None
    feedback: str | None = None
    previous_conversation_id: str | None = None
    conversation_id: str | None = None
    error: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


# The v_scenarios columns public.scenario_page sorts by (it refuses any other)
SCENARIO_SORTS: tuple[str, ...] = (
    "id",
    "status",
    "persona",
    "start_emotion",
    "topic",
    "emotional_arc",
    "tier",
    "intent",
    "tone",
    "outcome_type",
    "quality_score",
    "updated_at",
    "source_conversation_id",
)


class ScenarioPage(NamedTuple):
    """One page of the scenario table: the rows matching the filters (total, and per status) and the
    v_scenarios rows of this page, in the order asked for."""

    total: int
    by_status: dict[str, int]
    rows: list[dict[str, Any]]


class ExportRow(NamedTuple):
    """A conversation to export (lib.export.formats), as stored. `document` is the Conversation's JSON text
    without its `training` block, which comes apart in `training`: the export copies the text into
    the full format as it is and sets the split, instead of validating and re-serializing 10,000
    documents. scenario_id groups the split (None: not from the database)."""

    scenario_id: int | None
    version: int
    document: str
    training: dict[str, Any]
