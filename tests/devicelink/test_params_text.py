"""A command's params text goes into the envelope as it is and is signed and hashed (the firmware
profiles sign `action|params text`): it must be the standard library's compact text, in the params'
own key order, whichever writer produced it (server.domain.json_text)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.domain.json_text import compact_json

_text = st.text(max_size=12)  # lone surrogates included
_json = st.recursive(
    st.one_of(
        st.none(), st.booleans(), _text, st.integers(), st.floats(allow_nan=False, allow_infinity=False)
    ),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(_text, children, max_size=4)),
    max_leaves=25,
)


@given(_json)
def test_params_text_is_the_standard_librarys_in_the_params_order(value: Any) -> None:
    assert compact_json(value) == json.dumps(
        value, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def test_non_finite_numbers_are_refused() -> None:
    with pytest.raises(ValueError):
        compact_json({"brightness": math.nan})


def test_what_json_cannot_hold_is_refused() -> None:
    with pytest.raises(TypeError):
        compact_json({"brightness": object()})
