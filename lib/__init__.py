"""Bright Run Training Data Studio: all logic (see DESIGN.md).

Importing any part of it makes every log record of the process redacted (lib/core/redaction.py), so no
entry point (the app, a worker, the CLI, a test) can log a secret by forgetting to ask for it."""

from __future__ import annotations

from lib.core.redaction import install_log_redaction

install_log_redaction()
