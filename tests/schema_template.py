"""One SQLite database migrated to head per test process, copied wherever a test needs a fresh one.

Upgrading an empty SQLite file through every Alembic revision costs more than the rest of an
application's start-up; a byte copy of a migrated file is the same schema for a fraction of that.
The server still runs its migrations on start, which find the copy at head and do nothing.
Only the embedded SQLite default is copied: PostgreSQL tests keep their own fresh databases.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from server.config import EMBEDDED_DATABASE_FILE
from server.storage.migrate import run_migrations

_lock = threading.Lock()
_template: Path | None = None


def _migrated_template() -> Path:
    global _template
    with _lock:
        if _template is None:
            directory = Path(tempfile.mkdtemp(prefix="hxtp-schema-"))
            atexit.register(shutil.rmtree, directory, ignore_errors=True)
            template = directory / EMBEDDED_DATABASE_FILE
            # run_migrations refuses a thread whose event loop is running, and async tests call this.
            with ThreadPoolExecutor(max_workers=1) as worker:
                worker.submit(run_migrations, sqlite_url(template)).result()
            _template = template
        return _template


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def migrated_sqlite(path: Path) -> str:
    """Makes ``path`` a database at head unless a file is there already (a restarted server keeps its
    data); returns its async URL."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Disposing the migration engine checkpointed the WAL into the file: the copy is complete.
        shutil.copyfile(_migrated_template(), path)
    return sqlite_url(path)
