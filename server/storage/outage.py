"""Which exceptions mean "the database cannot be reached" (an outage, answered 503), not a bug."""

from __future__ import annotations

import asyncpg
from sqlalchemy import exc as sa_exc

_DRIVER_OUTAGES = (
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
)
_OWN_MODULES = ("asyncpg", "sqlalchemy", "aiosqlite")


def database_unreachable(error: BaseException) -> bool:
    if isinstance(error, sa_exc.DBAPIError):
        return bool(error.connection_invalidated) or isinstance(
            error, (sa_exc.OperationalError, sa_exc.InterfaceError)
        )
    if isinstance(error, (sa_exc.TimeoutError, *_DRIVER_OUTAGES)):
        return True  # a pool that cannot hand out a connection in time, or the driver's own outage errors
    # A refused or reset socket reaches us unwrapped when it happens while the driver connects; only
    # the traceback says whose socket it was.
    return isinstance(error, OSError) and _raised_in(error, _OWN_MODULES)


def _raised_in(error: BaseException, modules: tuple[str, ...]) -> bool:
    trace = error.__traceback__
    while trace is not None:
        if str(trace.tb_frame.f_globals.get("__name__", "")).startswith(modules):
            return True
        trace = trace.tb_next
    return False
