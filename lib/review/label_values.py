"""A label value as a file gives it, made the value its field holds, and checked against the taxonomy: the
same rules the database's set_turn_label applies, checked before anything is written so that a file of
corrections names every problem with its line instead of stopping at the first."""

from __future__ import annotations

import json
import math
from typing import Any

from lib.core import limits
from lib.core.taxonomy import Taxonomy
from lib.core.vocabulary import LABEL_FIELDS

NUMBER_RANGES: dict[str, tuple[float, float]] = {
    "emotion.intensity": (0.0, 1.0),
    "emotion.valence": (-1.0, 1.0),
    "emotion.arousal": (0.0, 1.0),
}
OPTIONAL_FIELDS = frozenset({"emotion.secondary", "emotion.sub_emotion"})


class BadValue(ValueError):
    """A value its field cannot hold; the message says what the field takes."""


def coerce(field: str, raw: Any) -> Any:
    """The value as its field holds it: a number for intensity, valence and arousal (a numeric text too), a
    list of ids for the supporting strategies (a JSON list, or ids separated by ';' or ','), an id otherwise;
    an empty text is no value."""
    if field not in LABEL_FIELDS:
        raise BadValue(f"unknown label field {limits.quoted(field)}; expected one of {', '.join(LABEL_FIELDS)}")
    if isinstance(raw, str):
        raw = raw.strip()
        if raw == "":
            return None
    if field in NUMBER_RANGES:
        if isinstance(raw, bool) or raw is None:
            raise BadValue(f"{field} must be a number, not {limits.quoted(raw)}")
        try:
            number = float(raw)
        except (TypeError, ValueError):
            raise BadValue(f"{field} must be a number, not {limits.quoted(raw)}") from None
        if not math.isfinite(number):
            raise BadValue(f"{field} must be a finite number, not {limits.quoted(raw)}")
        return number
    if field == "strategies.supporting":
        if raw is None:
            return []
        if isinstance(raw, str):
            if raw.startswith("["):
                try:
                    raw = json.loads(raw)
                except json.JSONDecodeError:
                    raise BadValue("strategies.supporting is not a valid JSON list of strategy ids") from None
            else:
                raw = [p.strip() for p in raw.replace(",", ";").split(";") if p.strip()]
        if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
            raise BadValue("strategies.supporting must be a list of strategy ids")
        return raw
    if raw is not None and not isinstance(raw, str):
        raise BadValue(f"{field} must be a taxonomy id, not {limits.quoted(raw)}")
    return raw


def value_problem(field: str, value: Any, *, primary: str | None, tax: Taxonomy) -> str | None:
    """What is wrong with a value (coerced) for a field, or None. primary: the turn's emotion in force when the
    value applies (a sub-emotion must be one of its family's)."""
    if len(json.dumps(value)) > limits.LABEL_VALUE.max_chars:
        return f"the new value is longer than {limits.LABEL_VALUE.max_chars} characters"
    if field in NUMBER_RANGES:
        low, high = NUMBER_RANGES[field]
        return None if low <= value <= high else f"{field} must be between {low:g} and {high:g}, not {value:g}"
    if value is None:
        return None if field in OPTIONAL_FIELDS else f"{field} cannot be empty"
    emotions = tax.by_id("emotions")
    strategies = tax.by_id("strategies")
    known = ", ".join(strategies)
    if field in ("emotion.primary", "emotion.secondary"):
        if value in emotions:
            return None
        return f"unknown emotion {limits.quoted(value)} for {field}; expected one of {', '.join(emotions)}"
    if field == "emotion.sub_emotion":
        family = emotions.get(primary or "")
        subs = family.sub_emotions if family is not None else []
        if value in subs:
            return None
        return (
            f"unknown sub-emotion {limits.quoted(value)} for the {primary} emotion of this turn; "
            f"expected one of {', '.join(subs) or 'none'}"
        )
    if field == "strategies.primary":
        return None if value in strategies else f"unknown strategy {limits.quoted(value)}; expected one of {known}"
    unknown = [s for s in value if s not in strategies]
    return f"unknown supporting strategy {limits.quoted(unknown[0])}; expected one of {known}" if unknown else None
