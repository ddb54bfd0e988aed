"""No secret leaves in an export: the values of the secret settings now in force must not appear in
a conversation, the dataset card or the manifest; finding one stops the export before anything is
written in place."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from lib.config import secret_values as configured_secrets
from lib.export.errors import ExportError
from lib.export.items import Item


def secret_values() -> dict[str, str]:
    """Secret settings now in force (environment and .streamlit/secrets.toml), by name: values an
    export must never contain. Values under 12 characters are left out (they would match by chance)."""
    found = configured_secrets()
    dsn = found.get("DATABASE_URL")
    if dsn and "://" in dsn:
        try:
            password = urlsplit(dsn).password
        except ValueError:
            password = None
        if password:
            found["DATABASE_URL password"] = password
        del found["DATABASE_URL"]  # the DSN without its password (host, user) is not a secret
    # a short or dictionary-word value ("postgres") would match ordinary text; real keys are long
    return {k: v for k, v in found.items() if len(v) >= 12}


def check_items(items: Sequence[Item], secrets: Mapping[str, str] | None = None) -> None:
    """secrets: secret_values(), read once for a stream of batches."""
    secrets = secret_values() if secrets is None else secrets
    if not secrets:
        return
    for item in items:
        training = json.dumps(item.training)
        for name, value in secrets.items():
            if value in item.raw or value in training:
                raise ExportError(
                    f"conversation {item.id} contains the value of {name}; nothing was exported. "
                    "Remove the secret from that conversation (or leave it out of the selection)"
                )


def check_text(text: str, where: str) -> None:
    for name, value in secret_values().items():
        if value in text:
            raise ExportError(
                f"{where} would contain the value of {name} (an export option holds it); "
                "nothing was exported. Change that option"
            )
