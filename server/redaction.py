"""Credentials never reach a log line.

uvicorn logs each WebSocket handshake with its full URL, and browsers can only send their token in
that URL (`/ws/state?token=<JWT>`); an exception message may quote a header. Every log record of the
process is scrubbed where it is made (the record factory), so every handler, ours or uvicorn's or a
test's, sees the scrubbed text: query credentials, Bearer values, API keys, session cookies, CLI
handshake codes and anything shaped like a JWT become `[redacted]`.
"""

from __future__ import annotations

import logging
import re
from typing import Any

_QUERY_CREDENTIAL = re.compile(
    r"(?i)([?&;](?:token|access_token|id_token|api_key|apikey|key|secret|device_secret|password|"
    r"dry_run_token|code|csrf|csrf_token|session)=)[^&\s\"'#]+"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_API_KEY = re.compile(r"\bhxtp_[A-Za-z0-9_-]{8,}")
_COOKIE = re.compile(r"(?i)(hxtp_session=)[^;\s\"',]+")
_HANDSHAKE_CODE = re.compile(r"\bHXT-[0-9A-Za-z]{16,}")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
REDACTED = "[redacted]"


def scrub(text: str) -> str:
    text = _QUERY_CREDENTIAL.sub(lambda m: m.group(1) + REDACTED, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _API_KEY.sub("hxtp_" + REDACTED, text)
    text = _COOKIE.sub(lambda m: m.group(1) + REDACTED, text)
    text = _HANDSHAKE_CODE.sub("HXT-" + REDACTED, text)
    return _JWT.sub(REDACTED, text)


_installed = False


def install() -> None:
    """Scrub every log record made from now on in this process (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    make_record = logging.getLogRecordFactory()

    def scrubbing_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed call logs as it would have; never lose the record
            return record
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            # The traceback is formatted later, by the handler; its last line quotes the exception.
            error = record.exc_info[1]
            if scrub(str(error)) != str(error):
                record.exc_info = None
                record.msg = f"{record.msg} ({type(error).__name__}: {scrub(str(error))})"
        return record

    logging.setLogRecordFactory(scrubbing_factory)
