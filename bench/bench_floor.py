"""The floor of the REST command path: how close to the empty handler can a command get on this stack?

Runs bench/floor_app.py, the least work a command can take (no gateway, no chain, no ORM), once per
rung of its ladder, under the same uvicorn + uvloop + httptools and the same wrk load as
bench/bench_command.py (64 connections, 50 devices round-robin, server on core 0, wrk on core 1),
against the empty handler in the same run:

    parse -> + sign -> + commit (durable: command and audit rows) -> + publish (embedded broker)

Each rung is checked to have done its work: the app's own counts (`GET /floor/counts`) and the rows in
its SQLite file are compared with the answers wrk received, so a rung that skipped a step fails. The
ratio of the top rung bounds what the product's command path can reach here; the product's own ratio
divided by it is the share our own layers (gateway, chain, gates, memos, ORM) leave.

Run: `.venv/bin/python bench/bench_floor.py` (needs Debian's wrk).
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_command import _round_robin_script
from bench.bench_http import CONNECTIONS, ROOT, free_port, measure_empty_handler, start_server, wrk
from bench.floor_app import LEVELS, device_ids, mint_token
from bench.result import emit

BODY = json.dumps({"action": "light_brightness", "params": {"brightness": 80}})


def _counts(port: int) -> dict[str, int]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/floor/counts", timeout=10) as response:
        return dict(json.loads(response.read()))


def _rows(database: str, table: str) -> int:
    with sqlite3.connect(database) as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _check(level: str, answered_by_wrk: float, counts: dict[str, int], database: str) -> list[str]:
    """What the rung should have done for every answer wrk received; an empty list when it did."""
    rung = LEVELS.index(level)
    answered = counts["answered"]
    problems = []
    # wrk counts only the answers it read; up to one request per connection may be answered after it stopped.
    if not answered_by_wrk <= answered <= answered_by_wrk + 2 * int(CONNECTIONS):
        problems.append(f"the app answered {answered}, wrk received {answered_by_wrk:.0f}")
    if rung >= 1 and counts["signed"] < answered:
        problems.append(f"signed {counts['signed']} < answered {answered}")
    if rung >= 2:
        for table in ("command", "audit_log"):
            rows = _rows(database, table)
            if rows < answered or rows != counts["committed"]:
                problems.append(f"{table}: {rows} rows, committed {counts['committed']}, answered {answered}")
    if rung >= 3 and counts["delivered"] != answered:
        problems.append(f"delivered {counts['delivered']} != answered {answered}")
    return problems


def _rung(
    level: str, env: dict[str, str], script: str, path: str, data_dir: str
) -> tuple[dict[str, float], list[str]]:
    port = free_port()
    database = str(Path(data_dir) / f"floor-{level}.db")
    environment = {
        **env,
        "FLOOR_LEVEL": level,
        "FLOOR_DB": database,
        "FLOOR_BROKER_PORT": str(free_port()),
    }
    server = [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.floor_app:app",
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    process = start_server(server, environment, port)
    try:
        warm = wrk(f"http://127.0.0.1:{port}{path}", script)
        result = wrk(f"http://127.0.0.1:{port}{path}", script)
        counts = _counts(port)
    finally:
        process.terminate()
        process.wait(timeout=30)
    problems = _check(level, warm["requests"] + result["requests"], counts, database)
    if warm["errors"] or result["errors"]:
        problems.append(f"{warm['errors'] + result['errors']:.0f} non-2xx answers")
    return result, problems


def main() -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    empty = measure_empty_handler(env)
    paths = [f"/api/v1/device/{device_id}/command" for device_id in device_ids()]
    script = _round_robin_script(paths, BODY, mint_token())
    figures: dict[str, float] = {"empty_rps": empty["rps"]}
    failed = False
    print(f"empty ASGI handler   {empty['rps']:8.0f} req/s")
    with tempfile.TemporaryDirectory() as data_dir:
        for level in LEVELS:
            result, problems = _rung(level, env, script, paths[0], data_dir)
            ratio = result["rps"] / empty["rps"]
            figures[f"{level}_rps"], figures[f"{level}_ratio"] = result["rps"], ratio
            print(
                f"+ {level:18} {result['rps']:8.0f} req/s  ratio {ratio:.3f}"
                f"  p99 {result.get('p99_ms', 0):.2f} ms"
                + ("" if not problems else "  NOT DONE: " + "; ".join(problems))
            )
            failed = failed or bool(problems)
    os.unlink(script)
    emit(**figures, ratio=figures[f"{LEVELS[-1]}_ratio"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
