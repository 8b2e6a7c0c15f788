"""`hxtp-cloud users create | token | tenants set-tier` on a fresh data dir, and scope rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.cli import main
from server.domain.identity import scopes
from server.domain.identity.tokens import TokenService
from server.errors import HxtpError


def test_fresh_install_is_usable_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HXTP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HXTP_LOG_LEVEL", "warning")
    assert (
        main(["users", "create", "--email", "Ana@Example.com", "--role", "owner", "--tenant", "Acme Homes"])
        == 0
    )
    first = capsys.readouterr().out.strip()
    secret = (tmp_path / "jwt_secret").read_text().strip()
    principal = TokenService(secret).verify(first)
    assert principal.email == "ana@example.com" and principal.role.label == "owner" and principal.tenant_id

    assert main(["token", "--email", "ana@example.com"]) == 0
    again = TokenService(secret).verify(capsys.readouterr().out.strip())
    assert again.user_id == principal.user_id and again.tenant_id == principal.tenant_id

    # same tenant name: joins the existing tenant
    assert (
        main(["users", "create", "--email", "bo@example.com", "--role", "viewer", "--tenant", "Acme Homes"])
        == 0
    )
    viewer = TokenService(secret).verify(capsys.readouterr().out.strip())
    assert viewer.tenant_id == principal.tenant_id and viewer.role.label == "viewer"

    assert main(["tenants", "set-tier", "acme-homes", "pro"]) == 0
    assert "pro tier" in capsys.readouterr().out
    assert main(["token", "--email", "ana@example.com"]) == 0
    assert TokenService(secret).verify(capsys.readouterr().out.strip()).tier == "free"  # tier is not a claim

    assert main(["tenants", "set-tier", "acme-homes", "platinum"]) == 1
    assert main(["tenants", "set-tier", "nowhere", "pro"]) == 1
    assert main(["token", "--email", "nobody@example.com"]) == 1
    assert main(["users", "create", "--email", "x@example.com", "--role", "none", "--tenant", "T"]) == 1
    errors = capsys.readouterr().err
    assert "unknown tier 'platinum'" in errors and "no tenant" in errors and "no user" in errors
    assert "free (60/min), pro (300/min), fleet (unlimited)" in errors  # what may be chosen instead


def test_set_tier_accepts_every_configured_tier_and_only_those(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HXTP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HXTP_LOG_LEVEL", "warning")
    monkeypatch.setenv("HXTP_TIERS", "basic=30,team=5000,bench=0")
    assert main(["users", "create", "--email", "ana@example.com", "--tenant", "Tiered"]) == 0
    for tier in ("team", "bench", "basic"):
        assert main(["tenants", "set-tier", "tiered", tier]) == 0
        assert f"on the {tier} tier" in capsys.readouterr().out
    assert main(["tenants", "set-tier", "tiered", "pro"]) == 1  # a default tier, not configured here
    error = capsys.readouterr().err
    assert "unknown tier 'pro'" in error and "basic (30/min), team (5000/min), bench (unlimited)" in error
    monkeypatch.setenv("HXTP_TIERS", "free=sixty")
    assert main(["tenants", "set-tier", "tiered", "free"]) == 2
    assert "HXTP_TIERS" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("given", "normal"),
    [
        ("read:devices", "devices:read"),
        ("devices:read", "devices:read"),
        (" Write:Devices ", "devices:write"),
        ("commands:send", "commands:send"),
        ("send:commands", "commands:send"),
        ("health:read", "health:read"),
        ("*", "*"),
    ],
)
def test_scopes_normalise_to_resource_verb(given: str, normal: str) -> None:
    assert scopes.normalise(given) == normal


def test_scope_lists_grants_and_errors() -> None:
    assert scopes.normalise_all(["read:devices, devices:read", "admin:write"]) == (
        "admin:write",
        "devices:read",
    )
    granted = scopes.granted(["devices:write", "admin:write"])
    assert {"devices:read", "commands:send", "admin:read"} <= granted
    assert scopes.allows(granted, "read:devices") and not scopes.allows(granted, "firmware:upload")
    assert scopes.allows(None, "firmware:upload") and scopes.allows(frozenset({"*"}), "admin:write")
    for bad in ("devices", ":read", "a:b:c", "a b:c"):
        with pytest.raises(HxtpError):
            scopes.normalise(bad)
