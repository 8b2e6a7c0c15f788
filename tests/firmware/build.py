"""The firmware host build (firmware/CMakeLists.txt) as the tests use it: configured once under
.build/firmware, then rebuilt incrementally (what `make firmware` does)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / ".build" / "firmware"
VECTORS = ROOT / "tests" / "data" / "hxtp_vectors.json"


def built(target: str) -> Path:
    """Path of a built firmware executable (configured and rebuilt as needed)."""
    if shutil.which("cmake") is None:
        pytest.fail("cmake is missing: the firmware host build needs it (see firmware/README.md)")
    cache = BUILD / "CMakeCache.txt"
    # Configured again when an earlier configure ran before libmosquitto-dev was installed, as
    # `make firmware` does: hxtp-device is only defined once it is found.
    if not (BUILD / "Makefile").exists() or re.search(r"MOSQUITTO_\w*-NOTFOUND", cache.read_text()):
        subprocess.run(
            ["cmake", "-S", str(ROOT / "firmware"), "-B", str(BUILD), "-DCMAKE_BUILD_TYPE=RelWithDebInfo"],
            check=True,
            capture_output=True,
        )
    result = subprocess.run(
        ["cmake", "--build", str(BUILD), "--target", target, "-j2"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return BUILD / target
