"""A server that falls behind its broker says so once per overload, not once per dropped message."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import REGISTRY

from server.devicelink import connection
from server.devicelink.connection import MqttConnection


def _dropped() -> float:
    return REGISTRY.get_sample_value("hxtp_mqtt_inbox_dropped_total") or 0.0


async def test_an_overload_is_one_line_when_it_starts_and_one_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    mqtt = MqttConnection("mqtt://127.0.0.1:1", client_id="overload-test")  # never started
    before = _dropped()
    extra = 25
    # gmqtt's receive callback, as the client calls it for each message (no dispatcher drains it).
    for n in range(connection._INBOX_SIZE + extra):
        mqtt._receive(None, f"hxtp/t/device/d/state/{n}", b"{}", 1, None)
    assert _dropped() - before == extra
    full = [r for r in caplog.records if "inbox full" in r.getMessage()]
    assert len(full) == 1 and full[0].levelno == logging.ERROR

    while mqtt._inbox.qsize() >= connection._INBOX_SIZE // 2 - 1:  # the dispatcher catches up
        mqtt._inbox.get_nowait()
    mqtt._receive(None, "hxtp/t/device/d/state", b"{}", 1, None)
    drained = [r for r in caplog.records if "inbox drained" in r.getMessage()]
    assert len(drained) == 1 and f"{extra} inbound message(s) were dropped" in drained[0].getMessage()
    caplog.clear()  # the ERROR above is the subject of this test
