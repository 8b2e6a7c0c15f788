"""The one line a benchmark prints for bench/run_all.py: `RESULT {json}`, its figures by name."""

from __future__ import annotations

import json

PREFIX = "RESULT "


def emit(**figures: float) -> None:
    print(PREFIX + json.dumps(figures), flush=True)


def parse(output: str) -> dict[str, float]:
    for line in reversed(output.splitlines()):
        if line.startswith(PREFIX):
            return {k: float(v) for k, v in json.loads(line[len(PREFIX) :]).items()}
    return {}
