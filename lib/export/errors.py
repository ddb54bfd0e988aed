"""The errors an export raises for a person to act on: one line each, saying what is wrong and what to do."""

from __future__ import annotations


class ExportError(ValueError):
    """An export that cannot be made, phrased as one line: what is wrong, and what to do."""


class NothingToExport(ExportError):
    """The selection matched no conversation; the message says why and which filter to change."""
