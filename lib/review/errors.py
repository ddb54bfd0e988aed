"""The one error of lib/review: a request the reviewer made that cannot be done as asked."""

from __future__ import annotations


class ReviewError(ValueError):
    """An action the reviewer asked for that cannot be done as asked; the message says what to do."""
