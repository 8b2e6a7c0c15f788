"""Scratch databases on a PostgreSQL server, for the tests and the benchmarks: created empty under a
unique name, dropped afterwards."""

from __future__ import annotations

import asyncio
import secrets

import asyncpg


async def run_admin(dsn: str, statement: str) -> None:
    connection = await asyncpg.connect(dsn, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def create_scratch_database(dsn: str, prefix: str) -> str:
    """Create a uniquely named empty database on the server of `dsn`; returns its name."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    asyncio.run(run_admin(dsn, f'CREATE DATABASE "{name}"'))
    return name


def drop_scratch_database(dsn: str, name: str) -> None:
    # FORCE: a run that failed half-way may have left a connection open.
    asyncio.run(run_admin(dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
