"""The firmware's protocol core (firmware/core) against the wire-protocol vectors and its own rules:
the C++ test program firmware/core/tests/core_tests.cpp, built by CMake and run through ctest."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.firmware.build import BUILD, VECTORS, built

# Builds the firmware's host programs with cmake and runs them.
pytestmark = pytest.mark.integration


def test_core_passes_every_vector_and_rule() -> None:
    program = built("hxtp-core-tests")
    result = subprocess.run([str(program), str(VECTORS)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-6000:] + result.stdout
    summary = re.search(r"(\d+) vectors used, (\d+) checks, 0 failures", result.stdout)
    assert summary is not None, result.stdout
    assert int(summary.group(1)) >= 25 and int(summary.group(2)) >= 200


def test_ctest_runs_the_same_program() -> None:
    built("hxtp-core-tests")
    result = subprocess.run(
        ["ctest", "--output-on-failure", "-R", "core_vectors"],
        cwd=BUILD,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "100% tests passed" in result.stdout
