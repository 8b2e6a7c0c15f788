"""Interpreter settings for a serving process, applied once at start-up.

- The GIL switch interval: SQLite's driver runs each statement on a worker thread that needs the
  GIL back from the event loop, and the loop needs it back to see the result. Under load the loop
  holds it until the interval forces a switch, so with CPython's default of 5 ms every statement
  of a group commit waited up to 5 ms twice: commands waited tens of milliseconds for their
  commit. At 0.5 ms a handoff is quick and the loop still runs long stretches.
- The young-generation GC threshold: a request allocates a few thousand objects, so the default
  (700) ran a collection several times per request, and the older generations' collections, each
  a pause for every request in flight, came often. 50,000 keeps the young generation small in
  memory (a few MB) and makes the pauses rare.
- What start-up built (modules, generated messages, routes, the wiring) lives as long as the process:
  frozen out of the collector's view once serving begins, a full collection no longer walks it.
"""

from __future__ import annotations

import gc
import sys

SWITCH_INTERVAL_S = 0.0005
GC_THRESHOLDS = (50_000, 50, 100)


def tune_for_serving() -> None:
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    gc.set_threshold(*GC_THRESHOLDS)


def started_serving() -> None:
    gc.freeze()
