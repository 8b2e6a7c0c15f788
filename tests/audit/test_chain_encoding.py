"""The chain's hashed text is defined by the standard library's JSON encoder (sorted keys, compact,
raw UTF-8, no NaN) and its timestamps by `%Y-%m-%dT%H:%M:%S.%fZ` in UTC; the faster writers the
chain uses must produce exactly that text, or old rows would stop verifying."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.domain.audit.chain import canonical_json, iso_timestamp


def _reference(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


_text = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=12)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    _text,
    st.integers(),  # beyond 64 bits too
    st.floats(allow_nan=False, allow_infinity=False),
)
_json = st.recursive(
    _scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(_text, children, max_size=4)),
    max_leaves=25,
)


@given(_json)
def test_canonical_json_is_the_standard_librarys_text(value: Any) -> None:
    assert canonical_json(value) == _reference(value)


@given(st.dictionaries(_text, _text, max_size=6), st.integers(min_value=1, max_value=2**62))
def test_the_hashed_fields_of_a_row_are_the_standard_librarys_text(
    details: dict[str, str], row_id: int
) -> None:
    fields = {
        "row_id": row_id,
        "event_type": "command_executed",
        "tenant_id": None,
        "details": canonical_json(details),
    }
    assert canonical_json(fields) == _reference(fields)


def test_non_finite_numbers_are_refused() -> None:
    for number in (math.nan, math.inf):
        with pytest.raises(ValueError):
            canonical_json({"x": number})


def test_a_lone_surrogate_is_written_as_the_standard_library_writes_it() -> None:
    assert canonical_json({"x": "\ud800"}) == _reference({"x": "\ud800"})


@given(
    st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_timestamps_are_the_strftime_text_in_utc(moment: datetime, offset_minutes: int) -> None:
    aware = moment.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    assert iso_timestamp(aware) == aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValueError):
        iso_timestamp(datetime(2026, 1, 1))
