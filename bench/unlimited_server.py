"""`hxtp-cloud serve` for benchmarks: the same server with the tenant quota lifted.

Every request counts against the tenant's per-minute quota (free 60, pro 300); a throughput
benchmark would measure the 429 path instead of the command path. This process only raises the
free tier's quota; nothing else differs from `python -m server serve`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.cli import main
from server.domain.identity import rate_limits

# 10^8 a minute is unlimited for any benchmark, and keeps Redis's GCRA emission interval (60 s / limit)
# above a millisecond timestamp's float resolution (at 10^9 the script's expiry rounds to 0).
rate_limits.TIERS[rate_limits.DEFAULT_TIER] = 100_000_000

sys.exit(main(["serve"]))
