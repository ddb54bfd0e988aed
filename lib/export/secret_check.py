"""No secret leaves in an export: the values of the secret settings now in force must not appear in
a conversation, the dataset card or the manifest; finding one stops the export before anything is
written in place."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from lib.config import secret_values as configured_secrets
from lib.core.redaction import MIN_SECRET_LENGTH, dsn_password, known_secrets
from lib.export.errors import ExportError
from lib.export.items import Item


def secret_values() -> dict[str, str]:
    """Secret settings now in force (environment and .streamlit/secrets.toml), by name, and every other
    secret this process was given (lib.core.redaction): values an export must never contain. Values
    under MIN_SECRET_LENGTH characters are left out (they would match ordinary words)."""
    found = configured_secrets()
    dsn = found.pop("DATABASE_URL", None)  # the DSN without its password (host, user) is not a secret
    password = dsn_password(dsn) if dsn else None
    if password:
        found["DATABASE_URL password"] = password
    for n, value in enumerate(sorted(known_secrets())):
        if value not in found.values():
            found[f"a secret this process holds (#{n + 1})"] = value
    return {k: v for k, v in found.items() if len(v) >= MIN_SECRET_LENGTH}


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
