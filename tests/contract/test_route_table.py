"""The route table against the API reference and against its reviewed snapshot.

The snapshot (golden/routes.txt) makes every contract change visible in review: regenerate it with
`HXTP_UPDATE_GOLDEN=1 make test` and commit the diff together with the proto change.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.descriptors import load_methods
from gateway.routes import Match, Router

GOLDEN = Path(__file__).parent / "golden" / "routes.txt"

# Every endpoint of ../shared/spec/000_3007727b76eb6ff6.txt (paths as mounted), written out by
# hand from the reference so the check does not depend on the protos it checks.
REFERENCE = [
    ("GET", "/api/v1/auth/me"),
    ("GET", "/api/v1/auth/cli"),
    ("GET", "/api/v1/auth/handshake/{code}"),
    ("GET", "/api/v1/auth/csrf"),
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/api/v1/auth/api-keys"),
    ("POST", "/api/v1/auth/api-keys"),
    ("POST", "/api/v1/auth/api-keys/revoke"),
    ("POST", "/api/v1/auth/api-keys/rotate"),
    ("GET", "/health"),
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("POST", "/api/v1/device/register"),
    ("GET", "/api/v1/devices"),
    ("GET", "/api/v1/devices/{id}"),
    ("POST", "/api/v1/device/{id}/rotate-secret"),
    ("GET", "/api/v1/device/{id}/key-history"),
    ("POST", "/api/v1/device/{id}/revoke"),
    ("POST", "/api/v1/device/{id}/command"),
    ("POST", "/api/v1/device/{id}/command/confirm"),
    ("POST", "/api/v1/devices/command"),
    ("POST", "/api/v1/rooms/{id}/command"),
    ("POST", "/api/v1/groups/{slug}/command"),
    ("GET", "/api/v1/device/{id}/commands"),
    ("POST", "/api/v1/homes"),
    ("GET", "/api/v1/homes"),
    ("PATCH", "/api/v1/homes/{id}"),
    ("DELETE", "/api/v1/homes/{id}"),
    ("POST", "/api/v1/homes/{id}/rooms"),
    ("GET", "/api/v1/homes/{id}/rooms"),
    ("DELETE", "/api/v1/homes/{id}/rooms/{room}"),
    ("GET", "/api/v1/manifest/capabilities"),
    ("GET", "/api/v1/manifest/types"),
    ("GET", "/api/v1/devices/{id}/manifest"),
    ("POST", "/api/v1/devices/{id}/manifest"),
    ("PUT", "/api/v1/devices/{id}/manifest"),
    ("POST", "/api/v1/intent"),
    ("POST", "/api/v1/firmware/check"),
    ("POST", "/api/v1/firmware/release"),
    ("GET", "/api/v1/firmware/{id}"),
    ("POST", "/api/v1/firmware/{id}/release"),
    ("GET", "/api/v1/groups"),
    ("POST", "/api/v1/groups"),
    ("POST", "/api/v1/groups/{slug}/join"),
    ("POST", "/api/v1/tenant/register"),
    ("GET", "/api/v1/status"),
    ("GET", "/api/v1/version"),
    ("GET", "/api/v1/changelog"),
    ("GET", "/api/v1/metrics"),
    ("GET", "/ws/state"),
    ("POST", "/api/v1/devices/{id}/command"),
    ("POST", "/api/v1/cognition/observation"),
]

# What real clients need beyond the reference (rest-contract.md §1.6, §1.8, §9).
CLIENT_ROUTES = [
    ("GET", "/metrics"),
    ("GET", "/ws"),
    ("GET", "/api/v1/health"),
    ("GET", "/api/v1/health/live"),
    ("GET", "/api/v1/health/ready"),
    ("POST", "/api/v1/devices/register"),
    ("POST", "/api/v1/devices/{id}/command/confirm"),
    ("POST", "/api/v1/devices/{id}/rotate-secret"),
    ("POST", "/api/v1/devices/{id}/revoke"),
    ("GET", "/api/v1/devices/{id}/commands"),
    ("DELETE", "/api/v1/auth/api-keys/{id}"),
    ("GET", "/api/v1/firmware/check"),
    ("POST", "/api/v1/firmware/upload"),
    ("POST", "/api/v1/device/claim"),
    ("GET", "/api/v1/device/{id}/bootstrap"),
    ("GET", "/api/v1/devices/{id}/state"),
    ("GET", "/api/v1/devices/{id}/capabilities"),
    ("GET", "/api/v1/commands/{id}"),
    ("POST", "/api/v1/groups/{id}/devices"),
]


@pytest.fixture(scope="module")
def router() -> Router:
    return Router(load_methods())


def _concrete(path: str) -> str:
    """A real URL for a templated reference path (ids that cannot collide with literal segments)."""
    return (
        path.replace("{id}", "id-123")
        .replace("{room}", "room-9")
        .replace("{slug}", "slug-x")
        .replace("{code}", "HXT-" + "a" * 64)
    )


@pytest.mark.parametrize(("method", "path"), REFERENCE + CLIENT_ROUTES)
def test_route_is_served(router: Router, method: str, path: str) -> None:
    match = router.match(method, _concrete(path))
    assert isinstance(match, Match), f"{method} {path} is not served"


def test_aliases_reach_the_same_rpc(router: Router) -> None:
    pairs = [
        ("POST", "/api/v1/device/d/command", "/api/v1/devices/d/command"),
        ("POST", "/api/v1/device/d/command/confirm", "/api/v1/devices/d/command/confirm"),
        ("POST", "/api/v1/device/register", "/api/v1/devices/register"),
        ("GET", "/api/v1/device/d/commands", "/api/v1/devices/d/commands"),
        ("GET", "/ws/state", "/ws"),
        ("GET", "/health", "/api/v1/health"),
    ]
    for method, singular, plural in pairs:
        one, other = router.match(method, singular), router.match(method, plural)
        assert isinstance(one, Match) and isinstance(other, Match)
        assert one.route.method.full_name == other.route.method.full_name, (singular, plural)
    revoke_post = router.match("POST", "/api/v1/auth/api-keys/revoke")
    revoke_delete = router.match("DELETE", "/api/v1/auth/api-keys/k1")
    assert isinstance(revoke_post, Match) and isinstance(revoke_delete, Match)
    assert revoke_post.route.method.full_name == revoke_delete.route.method.full_name


def test_route_table_matches_the_reviewed_snapshot(router: Router) -> None:
    current = "".join(f"{method} {path} {rpc}\n" for method, path, rpc in router.table())
    if os.environ.get("HXTP_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(current)
    assert GOLDEN.exists(), "no snapshot yet: run with HXTP_UPDATE_GOLDEN=1"
    assert current == GOLDEN.read_text(), "the route table changed: review and regenerate the snapshot"


def test_every_rpc_has_an_http_binding() -> None:
    unbound = [m.full_name for m in load_methods() if not m.bindings]
    assert not unbound, unbound
