"""Text normalisation shared by the checks: how two spellings of the same text are made equal.

Matching a label against its turn ignores only what a copy of the text may innocently change:
case, runs of whitespace, typographic quotes and apostrophes, dash and ellipsis glyphs. Nothing
looser: a cue that paraphrases the text, drops a word or fixes a typo does not match.
"""

from __future__ import annotations

import re

_GLYPHS = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "`": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2015": "-",
        "\u2212": "-",
        "\u00a0": " ",
        "\u2009": " ",
        "\u202f": " ",
        "\u200b": "",
    }
)
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*", re.UNICODE)
_EDGE_PUNCT = " \t\n.,;:!?"


def normalize(text: str) -> str:
    """Lower case, one space between words, straight quotes and hyphens, '...' for an ellipsis."""
    return _SPACE.sub(" ", text.translate(_GLYPHS).replace("\u2026", "...")).strip().lower()


def normalize_phrase(text: str) -> str:
    """A label quoting part of a turn: normalised, and without the punctuation at its edges (a cue
    may stop before the comma the text has, or quote the sentence's final period)."""
    return normalize(text).strip(_EDGE_PUNCT)


def words(text: str) -> list[str]:
    """The words of the text, lower case, apostrophes kept inside words ("don't")."""
    return [w.replace("\u2019", "'") for w in _WORD.findall(text.lower())]


def stem(word: str) -> str:
    """A light English stem so that a keyword matches its inflections: save/saving/saved,
    worry/worried/worries, plan/planning. Deliberately small: it only has to make a persona's
    or a topic's listed words match the forms people type."""
    w = word.lower().replace("\u2019", "'")
    w = w.removesuffix("'s")
    for suffix in ("ing", "ed", "es", "s"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3 and not w.endswith("ss"):
            w = w[: -len(suffix)]
            break
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "aeiouls":
        w = w[:-1]  # planning -> plann -> plan
    if w.endswith("i") and len(w) > 3:
        w = w[:-1] + "y"  # worried -> worri -> worry
    if w.endswith("e") and len(w) > 3:
        w = w[:-1]  # save -> sav, like saving -> sav
    return w


def stems(text: str) -> list[str]:
    return [stem(w) for w in words(text)]


def contains_phrase(text_stems: list[str], phrase: str) -> bool:
    """Whether the phrase's words, stemmed, occur in a row in the text's stemmed words."""
    target = stems(phrase)
    if not target:
        return False
    n = len(target)
    return any(text_stems[i : i + n] == target for i in range(len(text_stems) - n + 1))


def clip(text: str, limit: int = 80) -> str:
    """A quoted span short enough for a one-line reason."""
    text = _SPACE.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."
