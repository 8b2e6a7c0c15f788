"""The standard grpc.health.v1 service, answered live from the same dependency checks as /health
(a stored status would lag behind a dependency that just went down or came back)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from server.domain.health import HealthMonitor

WATCH_INTERVAL_SECONDS = 2.0


class GrpcHealthServicer(health_pb2_grpc.HealthServicer):
    def __init__(self, monitor: HealthMonitor, services: Iterable[str]) -> None:
        self._monitor = monitor
        self._services = {"", *services}

    async def _status(self) -> Any:
        report = await self._monitor.check()
        if report.healthy:
            return health_pb2.HealthCheckResponse.SERVING
        return health_pb2.HealthCheckResponse.NOT_SERVING

    async def Check(self, request: Any, context: Any) -> health_pb2.HealthCheckResponse:
        if request.service not in self._services:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return health_pb2.HealthCheckResponse(status=await self._status())

    async def Watch(self, request: Any, context: Any) -> AsyncIterator[health_pb2.HealthCheckResponse]:
        if request.service not in self._services:
            yield health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVICE_UNKNOWN)
            return
        last = None
        while True:
            status = await self._status()
            if status != last:
                last = status
                yield health_pb2.HealthCheckResponse(status=status)
            await asyncio.sleep(WATCH_INTERVAL_SECONDS)
