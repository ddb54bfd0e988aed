"""Import the label corrections operators made in a live product: `python -m lib import-revisions FILE`.

A file is JSONL (one object a line) or CSV (a header line, then one correction a line). Each correction:
- conversation: the conversation id (a version of a scenario's conversation), or scenario: the scenario id,
  which means that scenario's current conversation (the handle a product keeps across regenerations; the
  dataset has no external id of its own);
- turn: the 0-based turn index; field: a label field (emotion.primary, ..., strategies.supporting);
- new_value: the corrected value (for strategies.supporting a JSON list, or ids separated by ';');
- author: the operator who made it; reason: why (may be empty); at: when, optional (ISO 8601, UTC if no zone).

The whole file is checked first (known conversation, the turn exists and holds that field, the value fits the
field and the taxonomy), and every bad line is named with its number; then one database call writes every
correction as an operator_realtime revision in one transaction, or none.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lib.core import limits
from lib.core.models import Conversation
from lib.core.taxonomy import Taxonomy
from lib.core.vocabulary import LABEL_FIELDS
from lib.review.label_values import BadValue, coerce, value_problem
from lib.store.protocol import Store

COLUMNS = ("conversation", "scenario", "turn", "field", "new_value", "author", "reason", "at")
MAX_SHOWN = 20  # problems printed; the rest are counted


class Correction(BaseModel):
    """One line of the file, as written."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    conversation: str | None = None
    scenario: int | None = None
    turn: int = Field(ge=0)
    field: str
    new_value: Any = None
    author: str = Field(min_length=1, max_length=limits.NAME.max_chars)
    reason: str = Field("", max_length=limits.REASON.max_chars)
    at: datetime | None = None

    @model_validator(mode="after")
    def _one_conversation(self) -> Correction:
        if bool(self.conversation) == (self.scenario is not None):
            raise ValueError("name the conversation (conversation id) or the scenario (scenario id), one of the two")
        return self


@dataclass
class ImportReport:
    lines: int = 0
    conversations: int = 0
    written: int = 0
    unchanged: int = 0  # the value was in force already
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class ImportFileError(ValueError):
    """The file cannot be read as corrections at all (missing, empty, not JSONL or CSV)."""


def read_lines(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, the line's fields) for each correction, or (line number, what is wrong with it)."""
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".ndjson", ".csv"):
        raise ImportFileError(f"{path}: expected a .jsonl or .csv file of corrections")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ImportFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFileError(f"{path}: cannot be read as UTF-8 text ({exc.__class__.__name__})") from None
    yield from (_csv(text) if suffix == ".csv" else _jsonl(text))


def _jsonl(text: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield n, f"not valid JSON ({exc.msg} at column {exc.colno})"
            continue
        yield (n, obj) if isinstance(obj, dict) else (n, "expected a JSON object with the correction's fields")


def _csv(text: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    unknown = [h for h in header if h not in COLUMNS]
    if not header or unknown:
        what = f"unknown column {limits.quoted(unknown[0])}" if unknown else "no header line"
        raise ImportFileError(f"line 1: {what}; the columns are {', '.join(COLUMNS)}")
    reader.fieldnames = header
    for row in reader:
        if None in row:
            yield reader.line_num, f"{len(row[None]) + len(header)} values for {len(header)} columns"
            continue
        yield reader.line_num, {k: v for k, v in row.items() if v is not None and v.strip() != ""}


def _problem(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    message = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        return f"unknown field {limits.quoted(where)}; the fields are {', '.join(COLUMNS)}"
    return f"{where}: {message}" if where else message


@dataclass
class _Turns:
    """A conversation's turns as the file's corrections find them: roles, and the emotion in force, which an
    earlier line of the same file may have changed."""

    id: str
    roles: list[str]
    primaries: dict[int, str]


def _conversation(store: Store, c: Correction, cache: dict[str, _Turns | str]) -> _Turns | str:
    key = c.conversation or f"scenario {c.scenario}"
    if key not in cache:
        found = _load(store, c)
        if isinstance(found, _Turns):  # one record per conversation, whether a line names it or its scenario
            found = cache.setdefault(found.id, found)
        cache[key] = found
    return cache[key]


def _load(store: Store, c: Correction) -> _Turns | str:
    cid = c.conversation
    if cid is None:
        scenario = store.get_scenario(int(c.scenario or 0))
        if scenario is None:
            return f"there is no scenario #{c.scenario}"
        cid = scenario.get("conversation_id")
        if not cid:
            return f"scenario #{c.scenario} has no conversation yet"
    conv: Conversation | None = store.get_conversation(cid)
    if conv is None:
        return f"there is no conversation {limits.quoted(cid)}"
    turns = conv.current_turns()
    primaries = {i: t.emotion.primary for i, t in enumerate(turns) if t.role == "user"}
    return _Turns(conv.id, [t.role for t in turns], primaries)


def validate(
    store: Store, tax: Taxonomy, lines: Sequence[tuple[int, dict[str, Any] | str]]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The rows to write (in the file's order) and every problem, each as 'line N: what is wrong'."""
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    cache: dict[str, _Turns | str] = {}
    for n, fields in lines:
        problem, row = _check_line(store, tax, fields, cache)
        if problem:
            problems.append(f"line {n}: {problem}")
        elif row is not None:
            rows.append({"line": n, **row})
    return rows, problems


def _check_line(
    store: Store, tax: Taxonomy, fields: dict[str, Any] | str, cache: dict[str, _Turns | str]
) -> tuple[str | None, dict[str, Any] | None]:
    if isinstance(fields, str):
        return fields, None
    try:
        c = Correction.model_validate(fields)
    except ValidationError as exc:
        return _problem(exc), None
    if c.field not in LABEL_FIELDS:
        return f"unknown label field {limits.quoted(c.field)}; expected one of {', '.join(LABEL_FIELDS)}", None
    found = _conversation(store, c, cache)
    if isinstance(found, str):
        return found, None
    if c.turn >= len(found.roles):
        return f"conversation {found.id} has no turn {c.turn} (it has {len(found.roles)} turns)", None
    role = found.roles[c.turn]
    if LABEL_FIELDS[c.field].role != role:
        return (
            f"turn {c.turn} of {found.id} is {'an' if role == 'assistant' else 'a'} {role} turn: it has no {c.field}",
            None,
        )
    try:
        value = coerce(c.field, c.new_value)
    except BadValue as exc:
        return str(exc), None
    wrong = value_problem(c.field, value, primary=found.primaries.get(c.turn), tax=tax)
    if wrong:
        return wrong, None
    if c.field == "emotion.primary":
        found.primaries[c.turn] = value
    at = c.at if c.at is None or c.at.tzinfo else c.at.replace(tzinfo=UTC)
    return None, {
        "conversation_id": found.id,
        "turn": c.turn,
        "field": c.field,
        "new_value": value,
        "author": c.author,
        "reason": c.reason,
        "observed_at": at.isoformat() if at else None,
    }


def import_file(store: Store, tax: Taxonomy, path: Path, *, dry_run: bool = False) -> ImportReport:
    """Check the whole file, then (unless dry_run or a line is bad) write it in one call."""
    lines = list(read_lines(path))
    rows, problems = validate(store, tax, lines)
    report = ImportReport(lines=len(lines), conversations=len({r["conversation_id"] for r in rows}), problems=problems)
    if not lines:
        report.problems.append(f"{path.name} holds no corrections")
    if report.problems or dry_run:
        return report
    counts = store.import_label_revisions(rows)
    report.written = int(counts.get("written", 0))
    report.unchanged = int(counts.get("unchanged", 0))
    return report


def main(argv: Sequence[str] | None = None, prog: str = "python -m lib import-revisions") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("file", type=Path, help="a .jsonl or .csv file of corrections")
    parser.add_argument("--dry-run", action="store_true", help="check the file and write nothing")
    args = parser.parse_args(argv)

    from lib.core.taxonomy import TaxonomyError, load_taxonomy
    from lib.store import open_store
    from lib.store.protocol import StoreError

    try:
        tax = load_taxonomy()
        store = open_store()
    except (StoreError, TaxonomyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        report = import_file(store, tax, args.file, dry_run=args.dry_run)
    except ImportFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except StoreError as exc:
        print(f"error: {args.file}: {exc}; nothing was written", file=sys.stderr)
        return 1
    finally:
        store.close()
    if not report.ok:
        for p in report.problems[:MAX_SHOWN]:
            print(f"error: {args.file} {p}", file=sys.stderr)
        if len(report.problems) > MAX_SHOWN:
            print(f"... and {len(report.problems) - MAX_SHOWN} more problems", file=sys.stderr)
        print(f"nothing was written: fix the {len(report.problems)} lines above and import again", file=sys.stderr)
        return 1
    if args.dry_run:
        print(f"{args.file}: {report.lines} corrections of {report.conversations} conversations are valid (dry run)")
        return 0
    print(
        f"{args.file}: {report.lines} corrections of {report.conversations} conversations imported as "
        f"operator_realtime revisions: {report.written} written, {report.unchanged} already in force"
    )
    return 0
