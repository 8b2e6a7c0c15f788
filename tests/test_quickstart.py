"""The README's quick start, run exactly as written on a fresh copy of the repository.

The tracked files (as they are in the working tree) are copied to a new folder, which is what a
fresh clone holds. There `make serve` runs in the background, and the shell blocks the README shows
after it run in a second shell, line by line as a newcomer pastes them; every line must succeed.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
QUICK_START_PORTS = (8080, 50051, 1884)


def quick_start_blocks() -> list[str]:
    """The shell blocks of the README's first section, up to the next `## ` heading."""
    section = README.split("\n## ", 2)[1]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _fresh_clone(target: Path) -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for name in filter(None, tracked):
        source = ROOT / name.decode()
        if source.is_file():
            destination = target / name.decode()
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)


@pytest.fixture
def served_clone(tmp_path: Path) -> Iterator[Path]:
    taken = [port for port in QUICK_START_PORTS if _port_open(port)]
    if taken:
        pytest.fail(f"the quick start needs ports {QUICK_START_PORTS} free; taken: {taken}", pytrace=False)
    clone = tmp_path / "hxtp-cloud"
    _fresh_clone(clone)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HXTP_", "VIRTUAL_ENV"))}
    log = (tmp_path / "serve.log").open("wb")
    serve = subprocess.Popen(
        ["make", "serve"], cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 420
        while not _port_open(8080):
            if serve.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"make serve did not come up:\n{(tmp_path / 'serve.log').read_text()[-4000:]}")
            time.sleep(0.5)
        yield clone
    finally:
        os.killpg(serve.pid, signal.SIGTERM)
        try:
            serve.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(serve.pid, signal.SIGKILL)
            serve.wait()
        log.close()


@pytest.mark.integration
def test_the_quick_start_works_as_written_on_a_fresh_clone(served_clone: Path) -> None:
    blocks = quick_start_blocks()
    assert blocks and "make serve" in blocks[0], "the first block is the two commands"
    after_serve = "\n".join(blocks[1:])
    assert ".venv/bin/hxtp-cloud users create" in after_serve
    script = "set -euo pipefail\n" + after_serve.replace("curl ", "curl -fsS ")
    env = {key: value for key, value in os.environ.items() if not key.startswith("HXTP_")}
    done = subprocess.run(
        ["bash", "-c", script], cwd=served_clone, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert '"status":"operational"' in done.stdout.replace(" ", "")
    assert "you@example.com" in done.stdout
