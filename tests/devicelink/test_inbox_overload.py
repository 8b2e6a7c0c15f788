"""A server that falls behind its broker stops reading it, and says so once per overload.

The inbox is driven the way gmqtt's reader and the dispatcher drive it (``put`` for every parsed
message, ``pop`` until empty); the same flow control against the real broker is in
test_inbox_backpressure.
"""

from __future__ import annotations

import logging

import pytest
from prometheus_client import REGISTRY

from server.devicelink.connection import MqttConnection
from server.devicelink.inbox import Inbox


def _dropped() -> float:
    return REGISTRY.get_sample_value("hxtp_mqtt_inbox_dropped_total") or 0.0


def _messages(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if text in r.getMessage()]


def test_reading_pauses_at_the_high_water_mark_and_resumes_at_half_of_it() -> None:
    inbox = Inbox(high_water=10, hard_cap=100)
    for n in range(9):
        inbox.put("t", b"%d" % n)
    assert inbox.readable
    inbox.put("t", b"9")
    assert not inbox.readable
    for n in range(10, 20):  # the rest of the read in progress still comes in
        inbox.put("t", b"%d" % n)
    while len(inbox) > 6:
        inbox.pop()
    assert not inbox.readable
    inbox.pop()
    assert inbox.readable and len(inbox) == 5
    assert [inbox.pop() for _ in range(6)] == [("t", b"%d" % n) for n in range(15, 20)] + [None]


def test_large_messages_pause_reading_by_their_bytes() -> None:
    inbox = Inbox(high_water=1_000, high_water_bytes=10_000)
    for _ in range(9):
        inbox.put("t", bytes(999))  # 1,000 bytes each with the topic
    assert inbox.readable
    inbox.put("t", bytes(999))
    assert not inbox.readable
    while len(inbox) > 5:
        inbox.pop()
    assert inbox.readable


async def test_an_overload_is_one_line_when_it_starts_and_one_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    inbox = Inbox(high_water=10, hard_cap=30)
    before = _dropped()
    extra = 25
    for n in range(30 + extra):  # nothing waits for the reader to be readable: the cap is reached
        inbox.put(f"hxtp/t/device/d/state/{n}", b"{}")
    assert _dropped() - before == extra
    assert len(_messages(caplog, "reading from the broker paused")) == 1
    full = _messages(caplog, "inbox full")
    assert len(full) == 1 and full[0].levelno == logging.ERROR

    while inbox.pop() is not None:  # the dispatcher catches up
        pass
    drained = _messages(caplog, "inbox drained;")
    assert len(drained) == 1 and f"{extra} inbound message(s) were dropped" in drained[0].getMessage()
    assert len(_messages(caplog, "drained after")) == 1
    caplog.clear()  # the ERROR above is the subject of this test

    for _ in range(12):  # a second overload, without drops, is one pair of lines of its own
        inbox.put("hxtp/t/device/d/state", b"{}")
    while inbox.pop() is not None:
        pass
    assert len(_messages(caplog, "reading from the broker paused")) == 1
    assert len(_messages(caplog, "drained after")) == 1
    assert not _messages(caplog, "inbox full")


async def test_the_connection_feeds_its_inbox_from_the_receive_callback() -> None:
    mqtt = MqttConnection("mqtt://127.0.0.1:1", client_id="overload-test")  # never started
    # gmqtt's receive callback, as the client calls it for each message; a non-UTF-8 topic is kept.
    mqtt._receive(None, b"hxtp/t/device/\xff/state", b"{}", 1, None)
    assert mqtt._inbox.pop() == ("hxtp/t/device/\ufffd/state", b"{}")
