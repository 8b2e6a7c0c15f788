"""Every table module, imported once: the complete schema the migrations must produce.

Alembic's schema comparison (tests/infra) and anything else that needs the whole metadata import this
module; a new `*_tables.py` is added here, and a test checks that none is missing.
"""

from __future__ import annotations

from server.storage import (  # noqa: F401  (importing a module registers its tables on the metadata)
    audit_tables,
    cognition_tables,
    command_tables,
    devicelink_tables,
    fleet_tables,
    identity_tables,
    models,
    platform_tables,
    rollout_tables,
)
from server.storage.models import metadata

__all__ = ["metadata"]
