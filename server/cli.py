"""`hxtp-cloud` (also `python -m server`): serve, migrate, config, users create, token, tenants set-tier,
audit verify."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

import uvloop

from server.config import SETTINGS_DOC, Settings
from server.domain.identity.rate_limits import Tiers


def _serve(settings: Settings) -> int:
    from server.app import Application
    from server.runtime import started_serving, tune_for_serving

    tune_for_serving()

    async def main() -> None:
        app = Application(settings)
        try:
            await app.start()
        except OSError as error:
            # Nearly always a port another program holds: say which settings choose the ports.
            await app.stop()
            raise SystemExit(
                f"cannot start: {error}. The ports come from HXTP_HTTP_PORT, "
                "HXTP_GRPC_PORT and HXTP_EMBEDDED_MQTT_PORT; is another HxTP Cloud already running?"
            ) from None
        started_serving()
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


def _identity_command(settings: Settings, args: argparse.Namespace) -> int:
    """users create / token / tenants set-tier: a fresh install is usable from the command line."""
    from server.cache import create_cache
    from server.domain.identity.tokens import TokenService
    from server.domain.identity.users import Identity
    from server.domain.memo import MemoHub
    from server.errors import HxtpError
    from server.keyfiles import load_or_create_secret
    from server.storage.database import Database
    from server.storage.migrate import run_migrations

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    run_migrations(settings.database_url)
    tokens = TokenService(load_or_create_secret(settings.jwt_secret, settings.data_dir / "jwt_secret"))

    async def run() -> str:
        database = Database(settings.database_url)
        # Role and tier changes made here reach running replicas' memos through Redis when shared.
        cache = create_cache(settings.redis_url) if settings.redis_url else None
        identity = Identity(database, Tiers.parse(settings.tiers), MemoHub(cache))
        try:
            if args.command == "tenants":
                tenant = await identity.set_tier(args.tenant, args.tier)
                return f"tenant {tenant.slug} ({tenant.id}) is on the {tenant.tier} tier"
            if args.command == "users":
                principal = await identity.ensure_user(args.email, args.role, args.tenant)
            else:
                principal = await identity.principal_for_email(args.email)
            return tokens.mint(principal)
        finally:
            if cache is not None:
                await cache.close()
            await database.dispose()

    try:
        print(asyncio.run(run()))
    except HxtpError as error:
        print(f"error: {error.reason or error.spec.message}", file=sys.stderr)
        return 1
    return 0


def _audit_verify(settings: Settings) -> int:
    """Exit 0 with the row count when every chain is intact; 1 naming each chain's first bad row."""
    from server.domain.audit.log import AuditLog
    from server.storage.database import Database

    def name(chain_id: str) -> str:
        if chain_id == "*":
            return "* (written before per-tenant chains)"
        return f"of tenant {chain_id}" if chain_id else "without tenant"

    async def verify() -> int:
        database = Database(settings.database_url)
        try:
            report = await AuditLog(database).verify()
        finally:
            await database.dispose()
        if report.intact:
            print(f"audit chains intact: {report.count} row(s) in {len(report.chains)} chain(s) verified")
            return 0
        for chain_id, broken in report.broken():
            print(
                f"audit chain {name(chain_id)} BROKEN at row {broken.first_bad_row}: {broken.problem}",
                file=sys.stderr,
            )
            unverified = f"row {broken.first_bad_row} and later are unverified"
            print(f"  rows 1..{broken.count} verify; {unverified}", file=sys.stderr)
        return 1

    return asyncio.run(verify())


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
    # Libraries that narrate their internals at INFO (plugin set-up, state machines, each migration
    # step) speak only when something is wrong; the server's own lines say what happened.
    for chatty in ("alembic", "amqtt", "transitions", "gmqtt"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLevelName(level.upper())))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hxtp-cloud", description="HxTP Cloud control plane")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the gRPC server, REST/WebSocket gateway and MQTT bridge")
    commands.add_parser("migrate", help="bring the database schema up to date")
    commands.add_parser("config", help="list every HXTP_* setting with its default")
    audit = commands.add_parser("audit", help="audit log tools")
    audit.add_argument("audit_command", choices=["verify"], help="verify: walk every tenant's hash chain")
    users = commands.add_parser("users", help="manage users").add_subparsers(dest="action", required=True)
    create = users.add_parser(
        "create", help="create (or update) a user, its tenant if missing; prints a token"
    )
    create.add_argument("--email", required=True)
    create.add_argument("--role", default="owner", help="owner, admin, user or viewer (default owner)")
    create.add_argument(
        "--tenant", help="tenant name or slug; created when missing (omit for a tenantless user)"
    )
    token = commands.add_parser("token", help="print a fresh access token for an existing user")
    token.add_argument("--email", required=True)
    tenants = commands.add_parser("tenants", help="manage tenants")
    tenants_actions = tenants.add_subparsers(dest="action", required=True)
    set_tier = tenants_actions.add_parser("set-tier", help="put a tenant on a plan tier (rate limit)")
    set_tier.add_argument("tenant", help="tenant id or slug")
    set_tier.add_argument(
        "tier", help="a tier of HXTP_TIERS (default: free 60/min, pro 300/min, fleet unlimited)"
    )
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    try:
        Tiers.parse(settings.tiers)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    _configure_logging(settings.log_level)
    if args.command in ("users", "token", "tenants"):
        return _identity_command(settings, args)
    handlers = {"serve": _serve, "migrate": _migrate, "config": _config, "audit": _audit_verify}
    return handlers[args.command](settings)


if __name__ == "__main__":
    sys.exit(main())
