"""One call's tenant request quota: taken at most once, by whoever reaches the rate-limit step.

Most calls take it in the RPC chain, before the servicer. Command routes must reject bad input
first (the contract's gate order puts RATE_LIMIT_EXCEEDED after PARAMS_INVALID), so for them the
chain hands the untaken quota to the servicer, which passes it to the command gates, and the gates
take it at their rate-limit step. Fan-out members and internal calls get NO_QUOTA (the call that
carried them already paid). The chain reads `decision` afterwards for the X-RateLimit-* headers.
"""

from __future__ import annotations

from server.domain.identity.rate_limits import Decision, RateLimiter, Tiers
from server.domain.outages import Outages
from server.errors import Code, HxtpError


class TenantLimits:
    """The limiter with the operator's tiers: a tenant's tier names its per-minute limit."""

    def __init__(self, limiter: RateLimiter, tiers: Tiers, outages: Outages | None = None) -> None:
        self.limiter = limiter
        self.tiers = tiers
        self._outages = outages

    async def hit(self, tenant_id: str, tier: str) -> Decision | None:
        """The limiter's decision; None while the limiter's store (Redis) is unreachable.

        Fail open: the tenant quota is fairness between authenticated tenants, not a safety rule, and
        refusing every call while Redis is away would take down routes that only need the database.
        Per-device command limits live on the command path and fail closed there.
        """
        try:
            return await self.limiter.hit(tenant_id, self.tiers.limit_for(tier))
        except Exception as error:
            if self._outages is None or self._outages.noted(error) is None:
                raise
            return None


class Quota:
    def __init__(self, limits: TenantLimits | None, tenant_id: str | None, tier: str) -> None:
        self._limits = limits
        self._tenant_id = tenant_id
        self._tier = tier
        self._taken = limits is None or tenant_id is None
        self.decision: Decision | None = None

    async def take(self) -> None:
        """Counts this call against the tenant (once); raises RATE_LIMIT_EXCEEDED when over."""
        if self._taken:
            return
        self._taken = True
        assert self._limits is not None and self._tenant_id is not None
        self.decision = decision = await self._limits.hit(self._tenant_id, self._tier)
        if decision is not None and not decision.allowed:
            raise HxtpError(
                Code.RATE_LIMIT_EXCEEDED,
                f"Rate limit of {decision.limit} requests per minute exceeded for this tenant",
                retry_after_seconds=decision.retry_after_seconds,
            )

    def headers(self) -> dict[str, str]:
        return self.decision.headers() if self.decision is not None else {}


NO_QUOTA = Quota(None, None, "")
