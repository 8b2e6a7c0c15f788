"""HxTP hot path: wire codec core shared by the device link and the domain.

Two twins implement one API: the compiled `ext._hotpath` (Cython) and the pure-Python
`ext._reference`, which defines the behaviour. The compiled twin is used unless the environment sets
HXTP_NO_EXTENSIONS=1 or it was not built; `USING_EXTENSION` says which one answered. Only the stdlib
is imported here, whichever twin is chosen.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import TYPE_CHECKING


def _choose_twin() -> tuple[ModuleType, bool]:
    if os.environ.get("HXTP_NO_EXTENSIONS") != "1":
        try:
            from ext import _hotpath
        except ImportError:
            pass
        else:
            return _hotpath, True
    from ext import _reference

    return _reference, False


_twin, USING_EXTENSION = _choose_twin()

if TYPE_CHECKING:
    # The static view: both twins expose the reference's API (checked by tests/ext).
    from ext._reference import *  # noqa: F403
else:
    globals().update({name: getattr(_twin, name) for name in _twin.__all__})

__all__ = ["USING_EXTENSION", *_twin.__all__]
