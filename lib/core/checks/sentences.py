"""A sentence splitter for assistant turns: what "one sentence_function per sentence" counts.

Rule-based and small on purpose (no model, no download). A sentence ends at `.`, `!`, `?` or an
ellipsis, optionally followed by closing quotes or brackets, when whitespace and then the start of
a new sentence follow: a capital letter, a digit, a currency sign or an opening quote or bracket.
It does not end:
- after a title or a Latin abbreviation (Dr., Mr., e.g., i.e., vs., cf.),
- after No., Vol., p., Jan. and friends when a number follows ("No. 5", "Jan. 15"),
- after a capital initial or a dotted abbreviation (F., U.S., a.m.) unless a word that usually opens a sentence
  follows ("in the U.S. If you..." and "Plan B. Then" end; "U.S. Treasury" and "John F. Kennedy" do not),
- inside a number or amount (1.5, $1.5k, 18.99%): there is no whitespace after the point.
"etc." ends a sentence only when a capital letter follows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from lib.core.checks.normalize import clip, normalize_phrase

# Lower-cased, without the final period.
_NEVER_FINAL = {
    "dr",
    "mr",
    "mrs",
    "ms",
    "mx",
    "prof",
    "sr",
    "jr",
    "st",
    "mt",
    "gov",
    "sen",
    "capt",
    "lt",
    "sgt",
    "rev",
    "e.g",
    "i.e",
    "cf",
    "vs",
    "viz",
    "approx",
    "dept",
    "inc",
    "ltd",
    "corp",
    "llc",
}
_BEFORE_NUMBER = {
    "no",
    "nos",
    "vol",
    "vols",
    "p",
    "pp",
    "ch",
    "sec",
    "art",
    "para",
    "ex",
    "tel",
    "fig",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
}
# Words that open a sentence far more often than they follow "U.S." or "a.m." inside one.
_OPENERS = {
    "i",
    "you",
    "we",
    "they",
    "he",
    "she",
    "it",
    "if",
    "the",
    "this",
    "that",
    "these",
    "those",
    "there",
    "but",
    "and",
    "so",
    "or",
    "when",
    "what",
    "why",
    "how",
    "where",
    "which",
    "who",
    "my",
    "your",
    "our",
    "their",
    "a",
    "an",
    "in",
    "on",
    "for",
    "to",
    "as",
    "at",
    "let's",
    "let",
    "here",
    "now",
    "then",
    "yes",
    "no",
    "please",
    "many",
    "most",
    "some",
    "one",
    "each",
    "every",
    "after",
    "before",
    "because",
    "since",
    "while",
    "once",
}
_MAYBE_FINAL = {"etc"}

_END = re.compile(r"(?:[.!?]+|\u2026|\.\.\.)['\"\u2019\u201d)\]]*(?=\s)")
_STARTER = re.compile(r"\s+(?=[A-Z0-9$\u00a3\u20ac'\"\u2018\u201c(\[\u00bf\u00a1]|[^\W\d_a-z])")
_TOKEN_BEFORE = re.compile(r"(\S+)$")


@dataclass(frozen=True)
class Sentence:
    text: str
    start: int
    end: int


def _is_boundary(text: str, stop: int, dot_at: int) -> bool:
    """Whether the terminal punctuation ending at `stop` (its first character at `dot_at`) ends a sentence."""
    nxt = _STARTER.match(text, stop)
    if nxt is None:
        return False
    if text[dot_at] != ".":
        return True  # ! ? and ellipses always end a sentence when a new one starts
    if text[dot_at:stop].startswith(".."):
        return True
    m = _TOKEN_BEFORE.search(text, 0, dot_at)
    token = (m.group(1) if m else "").lstrip("(['\"\u2018\u201c").lower()
    following = text[nxt.end() : nxt.end() + 1]
    if token in _NEVER_FINAL:
        return False
    if token in _BEFORE_NUMBER and following.isdigit():
        return False
    if token in _MAYBE_FINAL:
        return following.isupper()
    initial = len(token) == 1 and token.isalpha() and m is not None and m.group(1)[-1].isupper() and token != "i"
    if initial or re.fullmatch(r"(?:[a-z]\.)+[a-z]", token):  # "F. Kennedy", "Plan B.", U.S., a.m.
        word = re.match(r"[\w'\u2019]+", text[nxt.end() :])
        return word is not None and word.group(0).lower().replace("\u2019", "'") in _OPENERS
    return True


def split_sentences(text: str) -> list[Sentence]:
    """The sentences of the text with their character spans (whitespace between them excluded)."""
    out: list[Sentence] = []
    start = 0
    length = len(text)
    while start < length and text[start].isspace():
        start += 1
    for m in _END.finditer(text):
        if m.end() <= start:
            continue
        if _is_boundary(text, m.end(), m.start()):
            out.append(Sentence(text[start : m.end()], start, m.end()))
            start = m.end()
            while start < length and text[start].isspace():
                start += 1
    end = len(text.rstrip())
    if start < end:
        out.append(Sentence(text[start:end], start, end))
    return out


def numbered_sentences(text: str, limit: int = 60) -> str:
    """The text's sentences with their numbers, `[0] "First..." [1] "Second..."`: what a model that
    refers to sentences by number needs to see when its numbers and the split disagree."""
    return " ".join(f'[{n}] "{clip(s.text, limit)}"' for n, s in enumerate(split_sentences(text)))


def sentence_numbers(text: str, quoted: Sequence[str]) -> list[int]:
    """The number of each quoted sentence in the text's split. A quote that is not one of them (a label
    written before the text was edited) keeps its position, within the sentences there are."""
    split = [normalize_phrase(s.text) for s in split_sentences(text)]
    index = {s: n for n, s in reversed(list(enumerate(split)))}
    last = max(len(split) - 1, 0)
    return [index.get(normalize_phrase(q), min(k, last)) for k, q in enumerate(quoted)]
