"""A fresh embedded database for a benchmark: booted in a temporary folder as on a first start
(initdb, migrations, taxonomy, seeds and, unless told otherwise, the default plan), opened through
the Store, and deleted when the process exits."""
from __future__ import annotations

import atexit
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from lib.config import Settings
from lib.store import Store
from lib.store.boot import open_store
from lib.store.embedded import EmbeddedServer, start_embedded
from lib.store.postgres import PostgresStore


def fresh_store(prefix: str, **boot: Any) -> tuple[PostgresStore, EmbeddedServer, Path]:
    """The store, its server (stopped at exit) and the folder that holds it. boot: open_store's options."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    # atexit runs last-registered first: the server stops (and deletes its pgdata), then this
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    started = time.perf_counter()
    server = start_embedded(folder, keep_running=False)
    store = open_store(Settings(data_dir=folder), **boot)
    print(f"fresh embedded database booted in {time.perf_counter() - started:.2f} s")
    return store, server, folder


def print_rows(store: Store) -> None:
    """The rows the benchmark works on, one line."""
    counts = store.counts()
    print(f"rows: {counts['scenarios']} scenarios, {counts['conversations']} conversations, "
          f"{counts['conversation_turns']} turns, {counts['reviews']} reviews, "
          f"{counts['label_revisions']} label revisions")
