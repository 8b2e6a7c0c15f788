"""The platform operator's key (HXTP_ADMIN_KEY), presented as the x-hxtp-admin-key header on /admin/*.

Without a configured key the admin routes do not exist (404), so a server never exposes them by
accident; with one, a missing or wrong header is a 403. Compared in constant time.
"""

from __future__ import annotations

import hmac

from server.errors import Code, HxtpError

HEADER = "x-hxtp-admin-key"


class OperatorKey:
    def __init__(self, key: str) -> None:
        self._key = key.strip()

    def check(self, presented: str) -> None:
        if not self._key:
            raise HxtpError(Code.NOT_FOUND, "Not found")
        if not presented or not hmac.compare_digest(self._key.encode(), presented.strip().encode()):
            raise HxtpError(Code.FORBIDDEN, "A valid x-hxtp-admin-key header is required")
