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
    assert "tier must be one of" in errors and "no tenant" in errors and "no user" in errors


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
