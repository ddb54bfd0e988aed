"""Secrets never stored, logged or shown: the one redaction path.

Every secret value this process has been given (each Settings' SecretStr fields and the password in
DATABASE_URL, each LLMSettings' API key) is remembered here when it is built. `redact` replaces those
values, and anything shaped like an Anthropic key, in a string or a nested value. It is applied

- to everything a store writes (lib/store/transport.py: every function's arguments, every row), so job
  item errors, generation logs, conversations and notes are clean whatever code path made them;
- to every log record of the process (installed by lib/__init__.py), tracebacks included;
- to every error text a page shows (lib/ui/display.py) and to LLMError's message and body;
- and the export refuses a document that still holds one (lib/export/secret_check.py).

An endpoint can echo a request header back in an error body, and a model can repeat what it was sent:
neither is under our control, so the text is cleaned on its way out rather than trusted.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

MASK = "[redacted]"
# Shorter values would match ordinary words ("postgres"); real keys and generated passwords are longer.
MIN_SECRET_LENGTH = 12
# Anthropic keys (the prefix sk-ant-, then the kind of key and its secret part), masked even when they
# are not this process's key: a key pasted into a note or echoed by a proxy is still a key.
KEY_PATTERN = re.compile(r"sk-ant-[A-Za-z0-9_\-]{8,}")

_lock = threading.Lock()
_known: frozenset[str] = frozenset()


def remember(*values: str | None) -> None:
    """Add secret values to those redacted from now on (short or empty values are ignored)."""
    global _known
    new = {v for v in values if v and len(v) >= MIN_SECRET_LENGTH} - _known
    if new:
        with _lock:
            _known = _known | new


def dsn_password(dsn: str) -> str | None:
    """The password in a postgresql:// connection string, if it has one."""
    if "://" not in dsn:
        found = re.search(r"(?:^|\s)password=(\S+)", dsn)
        return found.group(1) if found else None
    try:
        return urlsplit(dsn).password
    except ValueError:
        return None


def known_secrets() -> frozenset[str]:
    return _known


def redact_text(text: str, extra: Iterable[str] = ()) -> str:
    """The text with every known secret (and `extra`) replaced by [redacted]."""
    return _clean_text(text, _secrets(extra))


def redact(value: Any, extra: Iterable[str] = ()) -> Any:
    """The value with every secret replaced in its strings, walking dicts, lists and tuples. A value
    that holds none comes back as it is: one search of its JSON text is much cheaper than a walk."""
    secrets = _secrets(extra)
    if isinstance(value, str):
        return _clean_text(value, secrets)
    try:
        text = json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):  # keys that JSON cannot hold, a cycle: walk it
        return _clean(value, secrets)
    if "sk-ant-" in text or any(s in text for s in secrets):
        return _clean(value, secrets)
    return value


def _secrets(extra: Iterable[str]) -> list[str]:
    found = _known.union(v for v in extra if v and len(v) >= MIN_SECRET_LENGTH)
    return sorted(found, key=len, reverse=True)  # a secret containing another goes first


def _clean_text(text: str, secrets: list[str]) -> str:
    for s in secrets:
        if s in text:
            text = text.replace(s, MASK)
    if "sk-ant-" in text:
        text = KEY_PATTERN.sub(MASK, text)
    return text


def _clean(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return _clean_text(value, secrets)
    if isinstance(value, dict):
        return {k: _clean(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v, secrets) for v in value]
    if isinstance(value, tuple):
        return tuple(_clean(v, secrets) for v in value)
    return value


class _RedactingRecord(logging.LogRecord):
    """A log record whose message and traceback text are redacted once, when it is made."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        try:
            message = self.getMessage()
        except Exception:  # a malformed format string: let logging report it as it does
            return
        self.msg, self.args = redact_text(message), ()
        if self.exc_info and self.exc_info[1] is not None:
            self.exc_text = redact_text(logging.Formatter().formatException(self.exc_info))


def install_log_redaction() -> None:
    """Make every log record of this process redacted (idempotent). Handlers of any library come after
    the record is made, so nothing formats the secret in."""
    if logging.getLogRecordFactory() is logging.LogRecord:
        logging.setLogRecordFactory(_RedactingRecord)
