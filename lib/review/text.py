"""Taxonomy ids, label values and times as a person reads them (plain text: the page escapes it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from lib.core.taxonomy import Taxonomy

# label fields whose values are taxonomy ids, and the dimension that names them
_ID_FIELDS: dict[str, str] = {
    "emotion.primary": "emotions",
    "emotion.secondary": "emotions",
    "strategies.primary": "strategies",
    "strategies.supporting": "strategies",
}


def name(items: Mapping[str, Any], key: str | None) -> str:
    """The display name of a taxonomy id; the id itself when the taxonomy does not know it."""
    if key is None:
        return ""
    item = items.get(key)
    return item.name if item is not None else key


def intensity_band(family: Any, intensity: float | None) -> str:
    """The label of the emotion family's band an intensity falls in (Emotion.band_of); '' when the family or
    the intensity is unknown, or it lies outside every band."""
    if family is None or intensity is None:
        return ""
    band = family.band_of(intensity)
    return "" if band is None else str(band.label)


def when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at else ""


def _values_text(field: str, values: Sequence[str], tax: Taxonomy) -> str:
    dimension = _ID_FIELDS.get(field)
    if dimension is not None:
        items = tax.by_id(dimension)
        return ", ".join(name(items, v) for v in values)
    if field == "emotion.sub_emotion":
        return ", ".join(v.replace("_", " ") for v in values)
    return ", ".join(values)


def label_value_text(field: str, value: Any, tax: Taxonomy) -> str:
    """A label value as a person reads it: names for ids, 2 decimals for numbers."""
    if value is None or value == [] or value == "":
        return "(none)"
    if field == "strategies.supporting":
        return _values_text(field, [str(v) for v in value], tax)
    if field in _ID_FIELDS or field == "emotion.sub_emotion":
        return _values_text(field, [str(value)], tax)
    if isinstance(value, (int, float)):
        return f"{float(value):.2f}"
    return str(value)


def label_text_names(field: str, text: str | None, tax: Taxonomy) -> str:
    """The database's label_text() of a value (ids, rounded numbers, 'a, b' lists, '(none)'),
    with names for the ids."""
    if text is None or text == "(none)":
        return "(none)"
    if field == "strategies.supporting":
        return _values_text(field, [x.strip() for x in text.split(",")], tax)
    return _values_text(field, [text], tax)
