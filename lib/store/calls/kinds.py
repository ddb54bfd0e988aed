"""The building blocks of the table of calls: the conditions of a read, the kinds of call (a SQL
function, a read of a table or view, an insert, the export), the conversions of arguments and the
shapes of results, and the conditions made of the methods' filter arguments."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from lib.core.models import SCENARIO_FIELDS, Conversation
from lib.store.protocol import LABEL_STATS_GROUPS, REVIEW_FILTERS, SCENARIO_FILTERS, InvalidInput, JobItem, ScenarioPage

LOG_COLUMNS: frozenset[str] = frozenset(
    {
        "job_id",
        "item_id",
        "scenario_id",
        "attempt",
        "purpose",
        "outcome",
        "model",
        "template_name",
        "template_version",
        "template_sha256",
        "parameters",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "cost_usd",
        "duration_ms",
        "http_status",
        "request_id",
        "error",
        "raw_response",
        "stop_reason",
    }
)

Args = Mapping[str, Any]  # a method's arguments by name, defaults applied


# -- conditions of a read (each transport writes them its way: SQL, or PostgREST filters) -------------
@dataclass(frozen=True)
class Eq:
    column: str
    value: Any


@dataclass(frozen=True)
class AnyOf:
    """column is one of values; no values matches no row."""

    column: str
    values: tuple[Any, ...]
    type: Literal["text", "bigint"] = "text"


@dataclass(frozen=True)
class Overlaps:
    """An array column shares at least one of values."""

    column: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Between:
    """low <= column <= high, inclusive; or_null lets a row without a value through too."""

    column: str
    low: float
    high: float
    or_null: bool = False


@dataclass(frozen=True)
class IsTrue:
    column: str


@dataclass(frozen=True)
class NotNull:
    column: str


Cond = Eq | AnyOf | Overlaps | Between | IsTrue | NotNull


def matches_nothing(conds: Sequence[Cond]) -> bool:
    return any(isinstance(c, AnyOf) and not c.values for c in conds)


# -- the kinds of call ------------------------------------------------------------------------------
def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Arg:
    """A function parameter: the method argument it comes from, its SQL type (psycopg casts to it;
    jsonb goes as JSON), and the conversion applied first (it must accept None)."""

    source: str
    type: str
    convert: Callable[[Any], Any] = _same


@dataclass(frozen=True)
class Fn:
    """A call of public.<name>(p_... => ...). returns: 'rows' (set-returning), 'row' (a composite),
    'value' (a scalar or jsonb), 'values' (setof a scalar). order: the columns that keep the pages
    of a long set-returning result apart where the transport pages (PostgREST's max-rows)."""

    name: str
    args: Mapping[str, Arg]
    returns: Literal["rows", "row", "value", "values"]
    action: str  # for the error line; {argument} fields are filled in
    shape: Callable[[Any], Any] = _same
    order: tuple[str, ...] = ()
    skip_if_empty: str | None = None  # an argument that, when empty, makes the call needless


@dataclass(frozen=True)
class Embed:
    """Columns of the row another table's id column points at, added to each row read."""

    table: str
    key: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Read:
    """Rows of a table or view where no SQL function exists. order: (column, descending) pairs; a
    transport that pages keeps them apart by it. count_by: count the rows per value of that column."""

    relation: str
    action: str
    where: Callable[[Args], list[Cond]] = lambda args: []
    columns: tuple[str, ...] = ()  # () = every column
    order: tuple[tuple[str, bool], ...] = (("id", False),)
    limit: str | None = None  # the argument that caps the rows
    one: bool = False
    embed: Embed | None = None
    count_by: str | None = None
    shape: Callable[[Any], Any] = _same


@dataclass(frozen=True)
class Insert:
    table: str
    source: str  # the argument holding the row (column -> value)
    action: str
    columns: frozenset[str]
    required: tuple[str, ...] = ()
    json_columns: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Export:
    """The current conversation documents of the scenarios that pass `where`, with their training
    block apart (ExportRow). Each transport reads them its fastest way."""

    action: str
    where: Callable[[Args], list[Cond]]
    limit: str | None = None


Call = Fn | Read | Insert | Export


# -- argument conversions and result shapes ---------------------------------------------------------
def integer(value: Any) -> int | None:
    return None if value is None else int(value)


def decimal(value: Any) -> float | None:
    return None if value is None else float(value)


def boolean(value: Any) -> bool | None:
    return None if value is None else bool(value)


def ints(values: Any) -> list[int] | None:
    return None if values is None else [int(v) for v in values]


def texts(values: Any) -> list[str] | None:
    if values is None:
        return None
    return [values] if isinstance(values, str) else [str(v) for v in values]


def listed(values: Any) -> list[Any] | None:
    return None if values is None else list(values)


def as_dict(value: Any) -> dict[str, Any]:
    return dict(value or {})


def document(conversation: Conversation | None) -> dict[str, Any] | None:
    return None if conversation is None else conversation.model_dump(mode="json")


# what a variation row carries besides its dimensions (lib/core/variation_sets.py)
VARIATION_FIELDS: tuple[str, ...] = ("source_conversation_id", "variation")


def scenario_payload(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {k: row.get(k) for k in SCENARIO_FIELDS} | {k: row[k] for k in VARIATION_FIELDS if row.get(k) is not None}
        for row in rows
    ]


def label_group(by: str | None) -> str | None:
    if by is not None and by not in LABEL_STATS_GROUPS:
        raise InvalidInput(f"label analytics can be grouped by {', '.join(LABEL_STATS_GROUPS)}, not {by!r}")
    return by


def first(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    return rows[0] if rows else None


def count(value: Any) -> int:
    return int(value or 0)


def conversation_or_none(rows: list[dict[str, Any]]) -> Conversation | None:
    return Conversation.model_validate(rows[0]["document"]) if rows else None


def conversations(rows: list[dict[str, Any]]) -> list[Conversation]:
    return [Conversation.model_validate(r["document"]) for r in rows]


def job_items(rows: list[dict[str, Any]]) -> list[JobItem]:
    return [JobItem.model_validate(r) for r in rows]


def info_counts(info: Any) -> dict[str, int]:
    return {k: int(v) for k, v in ((info or {}).get("counts") or {}).items()}


def entry(key: str, default: Any = None) -> Callable[[Mapping[str, Any]], Any]:
    """A parameter taken from one key of a record argument (e.g. save_judge_result's)."""
    return lambda record: record.get(key, default)


# -- conditions from the methods' filter arguments -------------------------------------------------------
def filter_conditions(
    filters: Mapping[str, Sequence[str | int]] | None,
    allowed: Mapping[str, str],
    what: str,
    int_keys: Sequence[str] = (),
    overlap_keys: Sequence[str] = (),
) -> list[Cond]:
    """SCENARIO_FILTERS / REVIEW_FILTERS: OR within a key, AND across keys; an empty list filters nothing."""
    out: list[Cond] = []
    for key, values in (filters or {}).items():
        column = allowed.get(key)
        if column is None:
            raise InvalidInput(f"unknown {what} filter {key!r}; expected one of {', '.join(allowed)}")
        if not values:
            continue
        if key in int_keys:
            try:
                out.append(AnyOf(column, tuple(int(v) for v in values), "bigint"))
            except (TypeError, ValueError):
                raise InvalidInput(f"{what} ids must be numbers, got {list(values)!r}") from None
        elif key in overlap_keys:
            out.append(Overlaps(column, tuple(str(v) for v in values)))
        else:
            out.append(AnyOf(column, tuple(str(v) for v in values)))
    return out


def scenario_where(args: Args) -> list[Cond]:
    return filter_conditions(args["filters"], SCENARIO_FILTERS, "scenario", int_keys=("ids",))


def scenario_filter_columns(filters: Mapping[str, Sequence[str | int]] | None) -> dict[str, list[str]]:
    """SCENARIO_FILTERS keys -> the v_scenarios columns public.scenario_page filters by (empty lists dropped)."""
    out: dict[str, list[str]] = {}
    for key, values in (filters or {}).items():
        column = SCENARIO_FILTERS.get(key)
        if column is None:
            raise InvalidInput(f"unknown scenario filter {key!r}; expected one of {', '.join(SCENARIO_FILTERS)}")
        if values:
            out[column] = [str(v) for v in values]
    return out


def scenario_page(value: Any) -> ScenarioPage:
    page = value or {}
    return ScenarioPage(
        total=int(page.get("total") or 0),
        by_status={str(k): int(v) for k, v in (page.get("by_status") or {}).items()},
        rows=[{k: _when(k, v) for k, v in row.items()} for row in page.get("rows") or []],
    )


def _when(column: str, value: Any) -> Any:
    """A time inside jsonb is ISO text; rows elsewhere carry aware datetimes (see the protocol)."""
    return datetime.fromisoformat(value) if column.endswith("_at") and isinstance(value, str) else value


def review_where(args: Args) -> list[Cond]:
    out = filter_conditions(
        args["filters"],
        REVIEW_FILTERS,
        "review queue",
        int_keys=("scenario_id", "min_rating"),
        overlap_keys=("reviewer", "scores"),
    )
    if args["current_only"]:
        out.append(IsTrue("is_current"))
    if args["quality"] is not None:
        low, high = float(args["quality"][0]), float(args["quality"][1])
        out.append(Between("quality_score", low, high, or_null=(low, high) == (1.0, 10.0)))  # no score: full range only
    return out


def export_where(args: Args) -> list[Cond]:
    out = [*scenario_where(args), NotNull("conversation_id")]
    statuses = args.get("review_statuses")
    if statuses is not None:
        out.append(AnyOf("review_status", tuple(str(s) for s in statuses)))
    after = args.get("after_scenario_id")
    if after is not None:  # a keyset page: ids after the last one read (bigint's upper bound)
        out.append(Between("id", int(after) + 1, 2**63 - 1))
    return out


def equal(column: str, source: str, convert: Callable[[Any], Any] = _same) -> Callable[[Args], list[Cond]]:
    return lambda args: [Eq(column, convert(args[source]))]
