"""HealthService: /health (reference body plus `checks`, 503 when degraded), liveness, readiness."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import Gauge

from contract.metadata import HTTP_STATUS
from hxtp.cloud.v1 import health_pb2
from server.domain.health import HealthMonitor, HealthReport

ACTIVE_DEVICES = Gauge("hxtp_active_devices", "Devices with valid traffic within the liveness window")


def _checks(report: HealthReport) -> health_pb2.HealthChecks:
    return health_pb2.HealthChecks(**report.checks)


async def _mark_unavailable(context: Any, report: HealthReport) -> None:
    if not report.healthy:
        context.set_trailing_metadata(((HTTP_STATUS, "503"),))


class HealthServicer:
    def __init__(self, monitor: HealthMonitor, active_devices: Callable[[], int]) -> None:
        self._monitor = monitor
        self._active_devices = active_devices
        ACTIVE_DEVICES.set_function(active_devices)

    async def GetHealth(
        self, request: health_pb2.GetHealthRequest, context: Any
    ) -> health_pb2.GetHealthResponse:
        report = await self._monitor.check()
        await _mark_unavailable(context, report)
        return health_pb2.GetHealthResponse(
            status=report.status,
            timestamp=report.timestamp,
            services={
                name: health_pb2.ServiceHealth(status=word, backend=backend)
                for name, (word, backend) in report.services().items()
            },
            backends=health_pb2.HealthBackends(
                database=report.backends.database, cache=report.backends.cache, mqtt=report.backends.mqtt
            ),
            metrics=health_pb2.HealthMetrics(active_devices=self._active_devices()),
            checks=_checks(report),
        )

    async def GetLiveness(
        self, request: health_pb2.GetLivenessRequest, context: Any
    ) -> health_pb2.GetLivenessResponse:
        # Alive means the event loop answers; dependencies belong to readiness.
        return health_pb2.GetLivenessResponse(status="ok")

    async def GetReadiness(
        self, request: health_pb2.GetReadinessRequest, context: Any
    ) -> health_pb2.GetReadinessResponse:
        report = await self._monitor.check()
        await _mark_unavailable(context, report)
        return health_pb2.GetReadinessResponse(
            status="ready" if report.healthy else "not_ready", checks=_checks(report)
        )
