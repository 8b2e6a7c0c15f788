"""Paired comparison of the REST command path of two checkouts: a git revision against this tree.

A single benchmark run on this machine moves by 15-40 % from one run to the next (the empty handler
alone gave 25,000 to 35,000 req/s within an hour), so a change worth a few per cent cannot be seen
by running bench_command.py before and after it. This runs both servers at once, each on core 0
with its own data directory and 50 registered `light` devices, and alternates short wrk runs
between them (A B, B A, A B, ...), so both sides see the same moments of the machine; it reports
each side's runs, their medians, and the median of the per-round ratios B/A.

The revision is checked out into a temporary git worktree and its generated code (protos, the
Cython extension) built there with this virtualenv's Python.

Run: `.venv/bin/python bench/compare.py <revision> [--rounds 8]` (BENCH_DURATION=4s per wrk run).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

os.environ.setdefault("BENCH_DURATION", "4s")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_command import BODY, _owner_token, _round_robin_script, _unlimited_tier, command_paths
from bench.bench_http import ROOT, free_port, server_env, start_server, wrk


@contextmanager
def _worktree(revision: str) -> Iterator[Path]:
    """`revision` checked out and built in a temporary directory."""
    place = Path(tempfile.mkdtemp(prefix="hxtp-compare-"))
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(place), revision],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    try:
        for step in ("build_protos", "build_ext"):
            extra = ["--inplace"] if step == "build_ext" else []
            subprocess.run(
                [sys.executable, "setup.py", "--quiet", step, *extra],
                cwd=place,
                check=True,
                capture_output=True,
            )
        yield place
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(place)], cwd=ROOT, check=False, capture_output=True
        )
        shutil.rmtree(place, ignore_errors=True)


@contextmanager
def _command_server(root: Path) -> Iterator[tuple[str, str]]:
    """A server of the checkout at `root` with its devices; (URL, wrk script)."""
    with tempfile.TemporaryDirectory() as data_dir:
        port = free_port()
        env = server_env(
            {**os.environ, "PYTHONPATH": str(root)},
            data_dir,
            port,
            HXTP_DEVICE_COMMANDS_PER_MINUTE="1000000000",
        )
        token = _owner_token(env, root)
        _unlimited_tier(env, root)
        process = start_server([sys.executable, "-m", "server", "serve"], env, port, root)
        try:
            script = _round_robin_script(command_paths(port, token), BODY, token)
            yield f"http://127.0.0.1:{port}/", script
        finally:
            process.terminate()
            process.wait(timeout=60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revision", help="the A side, e.g. HEAD or main~3; B is this working tree")
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    described = subprocess.run(
        ["git", "rev-parse", "--short", args.revision], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    with ExitStack() as stack:
        sides = {
            f"A {described}": stack.enter_context(
                _command_server(stack.enter_context(_worktree(args.revision)))
            ),
            "B working tree": stack.enter_context(_command_server(ROOT)),
        }
        names = list(sides)
        for name in names:
            wrk(*sides[name])  # warm-up
        runs: dict[str, list[float]] = {name: [] for name in names}
        for round_number in range(args.rounds):
            for name in names if round_number % 2 == 0 else names[::-1]:
                time.sleep(1.0)  # the other side's work done
                result = wrk(*sides[name])
                if result["errors"]:
                    print(f"{name}: {result['errors']:.0f} answers were not 2xx")
                    return 1
                runs[name].append(result["rps"])
    for name in names:
        print(
            f"{name:24s} median {statistics.median(runs[name]):7.0f} commands/s"
            f"  runs {[round(r) for r in runs[name]]}"
        )
    paired = [b / a for a, b in zip(runs[names[0]], runs[names[1]], strict=True)]
    print(
        f"B/A: median of rounds {statistics.median(paired):.3f}"
        f"  (min {min(paired):.3f}, max {max(paired):.3f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
