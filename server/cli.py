"""`hxtp-cloud` (also `python -m server`): serve, migrate, config."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

import uvloop

from server.config import SETTINGS_DOC, Settings


def _serve(settings: Settings) -> int:
    from server.app import Application

    async def main() -> None:
        app = Application(settings)
        await app.start()
        host = settings.http_host
        print(f"HxTP Cloud is up: http://{host}:{app.ports.http}/api/v1/status", flush=True)
        print(
            f"  REST API   http://{host}:{app.ports.http}/api/v1   (OpenAPI: /api/v1/openapi.json)",
            flush=True,
        )
        print(f"  WebSocket  ws://{host}:{app.ports.http}/ws/state?token=...", flush=True)
        print(f"  health     http://{host}:{app.ports.http}/health   metrics: /metrics", flush=True)
        if app.ports.grpc:
            print(f"  gRPC       {settings.grpc_host}:{app.ports.grpc}   (reflection enabled)", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        print("HxTP Cloud is stopping", flush=True)
        await app.stop()

    uvloop.run(main())
    return 0


def _migrate(settings: Settings) -> int:
    from server.storage.migrate import run_migrations

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    run_migrations(settings.database_url)
    print("database is at the latest schema")
    return 0


def _config(settings: Settings) -> int:
    for name, (default, meaning) in SETTINGS_DOC.items():
        print(f"{name}={default!r:40} # {meaning}")
    return 0


class _RequestIdFilter(logging.Filter):
    """Stamps every log record with the request id of the call it belongs to ("-" outside calls)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from server.rpc.call_context import request_id

        record.request_id = request_id.get()
        return True


def _configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hxtp-cloud", description="HxTP Cloud control plane")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the gRPC server, REST/WebSocket gateway and MQTT bridge")
    commands.add_parser("migrate", help="bring the database schema up to date")
    commands.add_parser("config", help="list every HXTP_* setting with its default")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    _configure_logging(settings.log_level)
    handlers = {"serve": _serve, "migrate": _migrate, "config": _config}
    return handlers[args.command](settings)


if __name__ == "__main__":
    sys.exit(main())
