"""SystemService: status, version, changelog and Prometheus metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from google.api import httpbody_pb2
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from hxtp.cloud.v1 import system_pb2
from server.domain import system


class SystemServicer:
    def __init__(self, changelog_path: Path) -> None:
        markdown, releases = system.read_changelog(changelog_path)
        self._changelog = system_pb2.GetChangelogResponse(
            markdown=markdown,
            entries=[
                system_pb2.ChangelogEntry(version=r.version, date=r.date, changes=r.changes) for r in releases
            ],
        )

    async def GetStatus(
        self, request: system_pb2.GetStatusRequest, context: Any
    ) -> system_pb2.GetStatusResponse:
        return system_pb2.GetStatusResponse(
            system=system.SYSTEM_NAME,
            status=system.OPERATIONAL,
            beta=system.BETA,
            version=system.VERSION,
            protocol=system.PROTOCOL,
        )

    async def GetVersion(
        self, request: system_pb2.GetVersionRequest, context: Any
    ) -> system_pb2.GetVersionResponse:
        return system_pb2.GetVersionResponse(version=system.VERSION, protocol=system.PROTOCOL)

    async def GetChangelog(
        self, request: system_pb2.GetChangelogRequest, context: Any
    ) -> system_pb2.GetChangelogResponse:
        return self._changelog

    async def GetMetrics(self, request: system_pb2.GetMetricsRequest, context: Any) -> httpbody_pb2.HttpBody:
        return httpbody_pb2.HttpBody(content_type=CONTENT_TYPE_LATEST, data=generate_latest(REGISTRY))
