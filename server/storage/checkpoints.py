"""WAL checkpoints of the embedded SQLite database, off the commit path.

SQLite checkpoints a WAL database from inside the commit that takes the log past 1,000 pages: that
commit copies the log into the database file and syncs it before it returns, and on a serving
process it is a group commit that every command in flight is waiting for (the slowest commits at a
fixed 1,000 commands/s were those). A serving process turns that off on its own connections and
runs passive checkpoints from a thread with a connection of its own instead: a passive checkpoint
waits for no reader or writer, so commits go on while the log is copied, and the next writer starts
the log over once it has all been copied. The log's size stays bounded by what is written between
two checkpoints.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)

CHECKPOINT_INTERVAL_S = 0.5


class WalCheckpointer:
    """Passive checkpoints of `database_file` every `interval` seconds on a thread of its own."""

    def __init__(
        self, database_file: Path, busy_timeout_ms: int, interval: float = CHECKPOINT_INTERVAL_S
    ) -> None:
        self._file = database_file
        self._busy_timeout_ms = busy_timeout_ms
        self._interval = interval
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def start(self) -> None:
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="sqlite-checkpoints", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stops the thread (a checkpoint under way finishes first); the last connection to close
        checkpoints what is left, as SQLite always does."""
        if self._thread is not None:
            self._stopping.set()
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            while not self._stopping.wait(self._interval):
                try:
                    if connection is None:
                        connection = sqlite3.connect(self._file, isolation_level=None)
                        connection.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as error:
                    self._failed(error)
                    if connection is not None:
                        connection.close()
                        connection = None
                else:
                    self._recovered()
        finally:
            if connection is not None:
                connection.close()

    def _failed(self, error: sqlite3.Error) -> None:
        if not self._failing:  # once per outage; commits still checkpoint nothing meanwhile
            self._failing = True
            log.warning("SQLite checkpoints failing, the write-ahead log grows until they work: %r", error)

    def _recovered(self) -> None:
        if self._failing:
            self._failing = False
            log.info("SQLite checkpoints working again")
