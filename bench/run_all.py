"""`make bench`: the seven benchmarks in one run, each against its baseline measured in the same run.

Each benchmark runs as its own process (its servers pinned to core 0, its load to core 1), a few
times over; the figures it prints on its RESULT line are reported as min / median / max over those
repeats, with the machine, the versions and the date, and appended to bench/RESULTS.md. Ratios are
computed inside each run from that run's own baseline, so a busy machine moves both sides.

    .venv/bin/python bench/run_all.py [--only NAME ...] [--repeats N] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.result import parse  # noqa: E402

PY = sys.executable
SHORT = {"BENCH_DURATION": "5s", "BENCH_SECONDS": "5"}


@dataclass(frozen=True)
class Bench:
    name: str
    command: list[str]
    target: str  # what is aimed at, as a sentence
    ratio_of: str  # what the ratio divides, for the table
    repeats: int = 3
    env: dict[str, str] = field(default_factory=dict)
    timeout: float = 300.0


BENCHES = [
    Bench(
        "ext",
        [PY, "bench/bench_hotpath.py", "--number", "20000", "--repeat", "5"],
        "params validation <= 500 ns and faster than fastjsonschema (ratio > 1)",
        "fastjsonschema ns / compiled validation ns",
        repeats=2,
    ),
    Bench(
        "command-embedded",
        [PY, "bench/bench_command.py"],
        ">= 0.15 of the empty handler; p99 <= 20 ms at 1,000 commands/s",
        "commands/s / empty handler req/s",
        repeats=2,
        env=SHORT,
    ),
    Bench(
        "command-production",
        [PY, "bench/bench_command.py", "--production"],
        ">= 0.15 of the empty handler; p99 <= 20 ms at 1,000 commands/s",
        "commands/s / empty handler req/s",
        repeats=2,
        env=SHORT,
    ),
    Bench(
        "grpc",
        [PY, "bench/bench_grpc.py"],
        ">= 0.5 of an empty grpc.aio unary method",
        "ExecuteCommand calls/s / empty unary calls/s",
        repeats=2,
        env={"BENCH_SECONDS": "5"},
    ),
    Bench(
        "ingest-mqtt",
        [PY, "bench/bench_ingest_mqtt.py"],
        ">= 10,000 verified messages/s through Mosquitto",
        "verified messages/s / messages/s Mosquitto delivers to a bare subscriber",
        repeats=2,
    ),
    Bench(
        "ws-fanout",
        [PY, "bench/bench_ws_fanout.py"],
        "p99 per delivery <= 100 ms (1,000 clients)",
        "p99 / p99 of the same fan-out through a bare websockets server",
        repeats=2,
        env={"BENCH_EVENTS": "30"},
    ),
    Bench(
        "memory",
        [PY, "bench/bench_memory.py"],
        "resident memory < 500 MB with 10,000 devices and 1,000 WebSocket clients",
        "RSS loaded / RSS of the idle server just started",
        repeats=1,
        timeout=420.0,
    ),
    Bench(
        "http",
        [PY, "bench/bench_http.py"],
        "GET /status against the empty handler (recorded: 0.30 on an idle machine)",
        "GET /status req/s / empty handler req/s",
        repeats=2,
        env={"BENCH_DURATION": "5s"},
    ),
]


def _command_figures(output: str) -> dict[str, float]:
    """bench_command.py speaks text (its owner may add a RESULT line, which then wins)."""
    figures = parse(output)
    if figures:
        return figures
    patterns = {
        "empty_rps": r"empty ASGI handler\s+([\d.]+) req/s",
        "command_rps": r"POST .*?command.*?\s([\d.]+) req/s",
        "command_p99_ms": r"POST .*?command.*?p99 ([\d.]+) ms",
        "command_non2xx": r"non-2xx (\d+)",
        "ratio": r"ratio command/empty: ([\d.]+)",
        "fixed_rate_p50_ms": r"at \d+/s for .*?p50 ([\d.]+) ms",
        "fixed_rate_p99_ms": r"at \d+/s for .*?p99 ([\d.]+) ms",
    }
    for name, pattern in patterns.items():
        match = re.search(pattern, output)
        if match:
            figures[name] = float(match.group(1))
    return figures


def _run(bench: Bench, repeats: int) -> tuple[list[dict[str, float]], list[str]]:
    runs, problems = [], []
    for number in range(repeats):
        started = time.monotonic()
        env = {**os.environ, "PYTHONPATH": str(ROOT), **bench.env}
        try:
            done = subprocess.run(
                bench.command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=bench.timeout
            )
        except subprocess.TimeoutExpired:
            problems.append(f"run {number + 1}: no answer within {bench.timeout:.0f} s")
            continue
        figures = (_command_figures if bench.name.startswith("command") else parse)(done.stdout)
        seconds = time.monotonic() - started
        print(
            f"  {bench.name} run {number + 1}/{repeats}: {seconds:.0f} s, exit {done.returncode}", flush=True
        )
        if done.returncode != 0 or not figures:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            problems.append(f"run {number + 1}: exit {done.returncode}: {' / '.join(tail)}")
        if figures:
            runs.append(figures)
    return runs, problems


def _version(command: list[str], pattern: str = r"(\d+\.\d+(?:\.\d+)?)") -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    match = re.search(pattern, out.stdout + out.stderr)
    return match.group(1) if match else "?"


def machine() -> list[str]:
    cpu = "?"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="utf-8") as info:
        memory_gb = int(info.readline().split()[1]) / 1024 / 1024
    packages = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in ("Cython", "grpcio", "uvicorn", "websockets", "redis", "gmqtt", "SQLAlchemy", "asyncpg")
    )
    commit = _version(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], r"([0-9a-f]{7,})")
    load = os.getloadavg()
    redis = _version(["redis-server", "--version"], r"v=(\S+)")
    mosquitto = _version(["mosquitto", "-h"], r"mosquitto version (\S+)")
    return [
        f"- machine: {cpu}, {os.cpu_count()} cores, {memory_gb:.1f} GB,"
        f" {platform.system()} {platform.release()}",
        f"- load average when the run began: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1/5/15 min)",
        f"- Python {platform.python_version()}; {packages}",
        f"- services: PostgreSQL {_version(['psql', '--version'])}, "
        f"Redis {redis}, Mosquitto {mosquitto}; wrk {_version(['wrk', '-v'])}",
        f"- commit: {commit}",
    ]


def _table(bench: Bench, runs: list[dict[str, float]]) -> list[str]:
    lines = ["| figure | min | median | max |", "| --- | ---: | ---: | ---: |"]
    for name in runs[0] if runs else []:
        values = [run[name] for run in runs if name in run]
        cells = [
            f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"
            for v in (min(values), statistics.median(values), max(values))
        ]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="names of the benchmarks to run (default: all)")
    parser.add_argument("--repeats", type=int, help="repeats of each (default: per benchmark)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    chosen = [b for b in BENCHES if not args.only or b.name in args.only]
    started = time.monotonic()
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    report = [f"## `make bench`, {now}", "", *machine(), ""]
    report.append(
        "Servers pinned to core 0, load to core 1, loopback only. Other work may share the machine "
        "(see the load average): absolute numbers move with it, ratios much less."
    )
    for bench in chosen:
        print(f"{bench.name}: {' '.join(bench.command[1:])}", flush=True)
        runs, problems = _run(bench, args.repeats or bench.repeats)
        report += ["", f"### {bench.name}", ""]
        env = " ".join(f"{k}={v}" for k, v in bench.env.items())
        report.append(
            f"Command: `{env + ' ' if env else ''}.venv/bin/python {' '.join(bench.command[1:])}`, "
            f"{len(runs)} run(s). Target: {bench.target}. ratio = {bench.ratio_of}."
        )
        report += ["", *_table(bench, runs)]
        report += [f"\n- problem: {problem}" for problem in problems]
    report += ["", f"Whole run: {(time.monotonic() - started) / 60:.1f} min.", ""]
    text = "\n".join(report)
    print(text)
    if not args.no_write:
        with (ROOT / "bench" / "RESULTS.md").open("a", encoding="utf-8") as results:
            results.write("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
