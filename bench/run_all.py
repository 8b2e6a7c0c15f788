"""`make bench`: seven benchmarks and the command path's floor, each against a baseline of the same run.

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
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.result import parse  # noqa: E402

PY = sys.executable
TIMEOUT_S = 600.0

# One benchmark per line: name | script and arguments | repeats | environment | target | what the
# ratio divides. Environments shorten the default durations so the whole run stays under 15 min.
_TABLE = """
ext | bench/bench_hotpath.py --number 10000 --repeat 5 | 2 | \
  | params validation <= 500 ns and faster than fastjsonschema (ratio > 1) \
  | fastjsonschema ns / compiled validation ns
command-embedded | bench/bench_command.py | 2 | BENCH_DURATION=5s BENCH_SECONDS=5 \
  | >= 0.15 of the empty handler; p99 <= 20 ms at 1,000 commands/s | commands/s / empty handler req/s
command-production | bench/bench_command.py --production | 2 | BENCH_DURATION=5s BENCH_SECONDS=5 \
  | >= 0.15 of the empty handler; p99 <= 20 ms at 1,000 commands/s | commands/s / empty handler req/s
floor | bench/bench_floor.py | 1 | BENCH_DURATION=5s \
  | the least work a durable, signed, delivered command can take here: what bounds the command path \
  | top rung (parse + sign + commit + publish) req/s / empty handler req/s
grpc | bench/bench_grpc.py | 2 | BENCH_SECONDS=5 \
  | >= 0.5 of an empty grpc.aio unary method | ExecuteCommand calls/s / empty unary calls/s
ingest-mqtt | bench/bench_ingest_mqtt.py | 2 | \
  | >= 10,000 verified messages/s through Mosquitto \
  | verified messages/s / messages/s Mosquitto delivers to a bare subscriber
ws-fanout | bench/bench_ws_fanout.py | 2 | BENCH_EVENTS=30 \
  | p99 per delivery <= 100 ms (1,000 clients) \
  | p99 / p99 of the same fan-out through a bare websockets server
memory | bench/bench_memory.py | 1 | \
  | resident memory < 500 MB with 10,000 devices and 1,000 WebSocket clients \
  | RSS loaded / RSS of the idle server just started
http | bench/bench_http.py | 2 | BENCH_DURATION=5s \
  | GET /status against the empty handler (recorded: 0.30 on an idle machine) \
  | GET /status req/s / empty handler req/s
"""


@dataclass(frozen=True)
class Bench:
    name: str
    command: list[str]
    repeats: int
    env: dict[str, str]
    target: str  # what is aimed at, as a sentence
    ratio_of: str  # what the ratio divides, for the table


def _benches(table: str) -> list[Bench]:
    rows = table.strip().splitlines()  # a backslash-newline in the literal already joined the lines
    benches = []
    for row in rows:
        name, command, repeats, env, target, ratio_of = (cell.strip() for cell in row.split(" | "))
        variables = dict(item.split("=", 1) for item in env.split())
        benches.append(Bench(name, [PY, *command.split()], int(repeats), variables, target, ratio_of))
    return benches


BENCHES = _benches(_TABLE)


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
                bench.command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_S
            )
        except subprocess.TimeoutExpired:
            problems.append(f"run {number + 1}: no answer within {TIMEOUT_S:.0f} s")
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
