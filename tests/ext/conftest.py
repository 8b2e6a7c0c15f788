"""Both twins of the hot path, and the shared test vectors.

The compiled twin is not optional here: if `ext._hotpath` cannot be imported, every test that needs
it fails with the reason (it is never skipped), because an unbuilt extension is a broken build.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

import ext._reference

# A copy of the vectors the public firmware and SDKs computed (the steering repo's shared/spec/).
VECTORS_PATH = Path(__file__).resolve().parents[1] / "data" / "hxtp_vectors.json"
TWIN_NAMES = ("reference", "compiled")

# No example database: these tests must not write into the repository, and they run in CI anyway.
EXT_SETTINGS = settings(
    database=None, deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow]
)


def compiled_twin() -> ModuleType:
    try:
        return importlib.import_module("ext._hotpath")
    except ImportError as exc:
        pytest.fail(f"the compiled twin ext._hotpath is not importable ({exc}); build it (make build)")


def load_vectors() -> dict[str, Any]:
    if not VECTORS_PATH.is_file():
        raise FileNotFoundError(f"test vectors missing: expected {VECTORS_PATH}")
    data: dict[str, Any] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
    return data


@pytest.fixture(params=TWIN_NAMES)
def twin(request: pytest.FixtureRequest) -> ModuleType:
    return ext._reference if request.param == "reference" else compiled_twin()


@pytest.fixture(scope="session")
def twins() -> tuple[ModuleType, ModuleType]:
    """(reference, compiled), for tests that compare the two on the same input."""
    return ext._reference, compiled_twin()
