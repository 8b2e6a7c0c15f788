"""Reading a firmware `cmd_ack` whose JSON does not parse (wire protocol §10.2, §3.2).

The firmware inserts a handler's error text into the ack's params without escaping it, so a quote in
that text makes the whole envelope invalid JSON. The envelope's layout is fixed, though: keys in
alphabetical order, `"params":<raw text>` between `nonce` and `payload_hash`, and every other value
an id, hex, base64 or a number, none of which the firmware writes with a quote. So the frame splits
into the fields before params, the raw params text and the fields after; the first and last parts
must each be valid JSON on their own.

What this returns is still unverified: the receive pipeline then checks it like any message (time
window, nonce, payload hash over the raw params text, sequence, signature over the signed fields)
before anything is recorded. Only the ack's own three params are read from the text: its status is
`failed` (an executed ack carries no error text and always encodes), its `ref_message_id` the id at
the end, and the error whatever stands between.
"""

from __future__ import annotations

import json
import re
from typing import Any

import ext

_PARAMS = b',"params":'
_AFTER_PARAMS = b',"payload_hash":'
_ACK_PARAMS = re.compile(
    rb'\A\{"ack_status":"failed","error":"(?P<error>.*)","ref_message_id":"(?P<ref>[^"\\]+)"\}\Z', re.DOTALL
)
_ERROR_MAX = 255  # the firmware's handler error text is at most 63 bytes; anything longer is not its ack


def unparseable_ack(
    frame_type: int | None, body: bytes
) -> tuple[dict[str, Any], bytes, dict[str, Any]] | None:
    """(envelope without params, raw params text, the ack's params as read) for a framed ack whose
    only defect is unescaped text in its error; None for anything else."""
    if frame_type != ext.FRAME_TYPES["ack"]:
        return None
    start = body.find(_PARAMS)
    end = body.rfind(_AFTER_PARAMS)
    if start < 0 or end <= start:
        return None
    try:
        before = json.loads(body[:start] + b"}")
        after = json.loads(b"{" + body[end + 1 :])
    except (ValueError, RecursionError):
        return None
    if not isinstance(before, dict) or not isinstance(after, dict) or set(before) & set(after):
        return None
    raw_params = body[start + len(_PARAMS) : end]
    match = _ACK_PARAMS.match(raw_params)
    if match is None or len(match["error"]) > _ERROR_MAX:
        return None
    error = match["error"].decode("utf-8", "replace")
    params = {
        "ack_status": "failed",
        "error": error,
        "ref_message_id": match["ref"].decode("ascii", "replace"),
    }
    return {**before, **after}, raw_params, params
