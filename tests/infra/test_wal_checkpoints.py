"""The embedded database's WAL is checkpointed by a thread of its own in a serving process, never by
a commit, and the log stays bounded."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from server.storage.checkpoints import WalCheckpointer
from server.storage.database import Database

ROW = b"x" * 4000


async def _autocheckpoint(database: Database) -> int:
    async with database.engine.connect() as connection:
        return int((await connection.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one())


async def test_a_serving_database_leaves_checkpoints_to_its_thread(tmp_path: Path) -> None:
    serving = Database(f"sqlite+aiosqlite:///{tmp_path / 'serving.db'}", background_checkpoints=True)
    other = Database(f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    try:
        assert await _autocheckpoint(serving) == 0
        assert await _autocheckpoint(other) == 1000  # a CLI process keeps SQLite's own
    finally:
        await serving.dispose()
        await other.dispose()


def _write_without_checkpoints(database_file: Path, batches: int) -> int:
    """Commits `batches` of 60 rows of 4 kB, a moment apart; the largest the log grew (bytes)."""
    writer = sqlite3.connect(database_file, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("CREATE TABLE IF NOT EXISTS blob (data BLOB)")
    largest = 0
    try:
        for _ in range(batches):
            writer.execute("BEGIN")
            writer.executemany("INSERT INTO blob VALUES (?)", [(ROW,)] * 60)
            writer.execute("COMMIT")
            largest = max(largest, database_file.with_name(database_file.name + "-wal").stat().st_size)
            time.sleep(0.01)
    finally:
        writer.close()
    return largest


def test_the_checkpointer_keeps_the_log_bounded(tmp_path: Path) -> None:
    written = 40 * 60 * len(ROW)  # ~9.6 MB
    unchecked = _write_without_checkpoints(tmp_path / "unchecked.db", 40)
    assert unchecked > written  # without checkpoints the log holds everything written

    database_file = tmp_path / "checked.db"
    sqlite3.connect(database_file).execute("PRAGMA journal_mode=WAL").fetchall()
    checkpointer = WalCheckpointer(database_file, busy_timeout_ms=5000, interval=0.02)
    checkpointer.start()
    try:
        checked = _write_without_checkpoints(database_file, 40)
    finally:
        checkpointer.stop()
    assert checked < written / 3
    assert sqlite3.connect(database_file).execute("SELECT count(*) FROM blob").fetchone() == (2400,)


def test_a_failing_checkpointer_says_so_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    checkpointer = WalCheckpointer(tmp_path / "missing" / "hxtp.db", busy_timeout_ms=100, interval=0.01)
    with caplog.at_level(logging.INFO, logger="server.storage.checkpoints"):
        checkpointer.start()
        time.sleep(0.3)
        checkpointer.stop()
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 1
    assert "SQLite checkpoints failing" in messages[0]
