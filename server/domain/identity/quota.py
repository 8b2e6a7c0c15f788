"""Where in a call the tenant's request quota is taken.

Most calls take it in the RPC chain, before the servicer. Command routes must reject bad input
first (the contract's gate order puts RATE_LIMIT_EXCEEDED after PARAMS_INVALID), so for them the
chain leaves a checkpoint here and the command gates take the quota at their rate-limit step. A
call takes it at most once; with no checkpoint (fan-out members, internal calls) it is a no-op.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar

Checkpoint = Callable[[], Awaitable[None]]

_pending: ContextVar[Checkpoint | None] = ContextVar("hxtp_quota_checkpoint", default=None)


def defer_quota(checkpoint: Checkpoint | None) -> None:
    _pending.set(checkpoint)


async def take_quota() -> None:
    checkpoint = _pending.get()
    if checkpoint is not None:
        _pending.set(None)
        await checkpoint()
