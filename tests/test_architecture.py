"""The import directions of ARCHITECTURE.md, enforced: a forbidden import fails here, naming it."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# package -> module prefixes it must never import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "server.domain": (
        "grpc",
        "starlette",
        "uvicorn",
        "httpx",
        "gmqtt",
        "amqtt",
        "hxtp",
        "google.protobuf",
        "gateway",
        "server.rpc",
        "server.devicelink",
        "server.app",
        "server.cli",
    ),
    "server.devicelink": ("grpc", "starlette", "uvicorn", "hxtp", "gateway", "server.rpc", "server.app"),
    "server.rpc": (
        "starlette",
        "uvicorn",
        "gmqtt",
        "amqtt",
        "gateway",
        "server.app",
        "server.devicelink",
        "server.storage",
        "server.cache",
    ),
    "server.storage": (
        "grpc",
        "starlette",
        "gmqtt",
        "gateway",
        "server.rpc",
        "server.devicelink",
        "server.app",
    ),
    "server.cache": (
        "grpc",
        "starlette",
        "gmqtt",
        "gateway",
        "server.rpc",
        "server.devicelink",
        "server.app",
    ),
    "gateway": ("server", "gmqtt", "amqtt", "sqlalchemy", "sqlmodel", "redis"),
    "contract": ("server", "gateway", "grpc", "starlette", "gmqtt", "sqlalchemy", "redis"),
    "server.errors": ("grpc",),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _sources(package: str) -> list[Path]:
    base = ROOT / package.replace(".", "/")
    module = base.with_suffix(".py")
    return [module] if module.is_file() else sorted(base.rglob("*.py"))


def _matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_what_it_may(package: str) -> None:
    violations = [
        f"{_module_name(path)} imports {name}"
        for path in _sources(package)
        for name in _imports(path)
        if any(_matches(name, prefix) for prefix in FORBIDDEN[package])
    ]
    assert not violations, "\n".join(violations)


def test_ext_imports_the_standard_library_only() -> None:
    violations = [
        f"{_module_name(path)} imports {name}"
        for path in [*_sources("ext"), *sorted((ROOT / "ext").glob("*.pyx"))]
        for name in (_imports(path) if path.suffix == ".py" else [])
        if name.split(".")[0] not in sys.stdlib_module_names and not _matches(name, "ext")
    ]
    assert not violations, "\n".join(violations)


def test_nothing_but_the_entry_point_imports_the_composition_root() -> None:
    importers = [
        _module_name(path)
        for package in ("server", "gateway", "ext")
        for path in _sources(package)
        if any(_matches(name, "server.app") for name in _imports(path)) and _module_name(path) != "server.cli"
    ]
    assert not importers, importers


def test_the_checker_sees_imports() -> None:
    # Guards the guard: if parsing silently found nothing, every rule above would pass vacuously.
    assert "gateway.transport" in _imports(ROOT / "gateway" / "app.py")
    assert "server.errors" in _imports(ROOT / "server" / "domain" / "identity" / "tokens.py")
