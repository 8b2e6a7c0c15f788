"""The command path reads a request's Struct field by field (server.rpc.convert.struct_to_dict);
protobuf's own json_format walk is the reference it must agree with for every JSON value."""

from __future__ import annotations

import math
from typing import Any

from google.protobuf import json_format, struct_pb2
from hypothesis import given
from hypothesis import strategies as st

from server.rpc.convert import dict_to_struct, plain, struct_to_dict

_numbers = st.one_of(
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
)
_scalars = st.one_of(st.none(), st.booleans(), st.text(max_size=20), _numbers)
_json = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def _reference(struct: struct_pb2.Struct) -> Any:
    return plain(json_format.MessageToDict(struct))


@given(st.dictionaries(st.text(max_size=8), _json, max_size=6))
def test_struct_reading_agrees_with_json_format(data: dict[str, Any]) -> None:
    struct = dict_to_struct(data)
    ours = struct_to_dict(struct)
    assert ours == _reference(struct)
    assert _same_types(ours, _reference(struct))


def _same_types(left: Any, right: Any) -> bool:
    """== says 1 == 1.0 == True; the validator does not (an integer schema must see an int)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(_same_types(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(map(_same_types, left, right))
    return True


def test_whole_numbers_come_back_as_integers_and_large_ones_as_floats() -> None:
    read = struct_to_dict(dict_to_struct({"small": 80, "half": 0.5, "big": float(2**60)}))
    assert read == {"small": 80, "half": 0.5, "big": float(2**60)}
    assert type(read["small"]) is int and type(read["big"]) is float


def test_a_value_with_nothing_set_reads_as_null() -> None:
    struct = struct_pb2.Struct()
    struct.fields["empty"].CopyFrom(struct_pb2.Value())
    assert struct_to_dict(struct) == {"empty": None}


def test_non_finite_numbers_are_read_for_the_validator_to_refuse() -> None:
    struct = struct_pb2.Struct()
    struct.fields["x"].number_value = math.inf
    assert struct_to_dict(struct) == {"x": math.inf}
