"""The selector in ext/__init__.py and the one API both twins (and the stub) expose."""

from __future__ import annotations

import ast
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import ext
import ext._reference

REPO = Path(__file__).resolve().parents[2]
STUB = REPO / "ext" / "_hotpath.pyi"

PROBE = """
import json, sys
before = set(sys.modules)
{prelude}
import ext
loaded = sorted({{name.split(".")[0] for name in set(sys.modules) - before}})
twin = ext.HmacKey.__module__
print(json.dumps({{"using_extension": ext.USING_EXTENSION, "twin": twin, "loaded": loaded}}))
"""


def probe(prelude: str = "", **env: str) -> dict[str, object]:
    """Import ext in a fresh interpreter, so the selector runs for real."""
    environment = {key: value for key, value in os.environ.items() if key != "HXTP_NO_EXTENSIONS"}
    environment.update(env)
    completed = subprocess.run(
        [sys.executable, "-c", PROBE.format(prelude=prelude)],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(completed.stdout)
    return result


@pytest.mark.integration  # a child interpreter
def test_the_compiled_twin_is_chosen_by_default(twins: tuple[ModuleType, ModuleType]) -> None:
    assert probe()["using_extension"] is True
    assert ext.USING_EXTENSION is (os.environ.get("HXTP_NO_EXTENSIONS") != "1")


@pytest.mark.integration  # child interpreters
def test_the_reference_is_chosen_on_request_or_when_the_extension_is_missing() -> None:
    assert probe(HXTP_NO_EXTENSIONS="1")["using_extension"] is False
    missing = probe("sys.modules['ext._hotpath'] = None")  # makes `from ext import _hotpath` fail
    assert (missing["using_extension"], missing["twin"]) == (False, "ext._reference")


@pytest.mark.integration  # a child interpreter
@pytest.mark.parametrize("setting", ["0", "1"])
def test_ext_imports_the_standard_library_only(setting: str) -> None:
    loaded = probe(HXTP_NO_EXTENSIONS=setting)["loaded"]
    assert isinstance(loaded, list)
    # A Cython module registers its own runtime helpers in sys.modules; nothing is imported for them.
    cython_runtime = {name for name in loaded if name == "cython_runtime" or name.startswith("_cython_")}
    assert set(loaded) - set(sys.stdlib_module_names) - cython_runtime == {"ext"}


def test_both_twins_export_the_same_api_and_constants(twins: tuple[ModuleType, ModuleType]) -> None:
    reference, compiled = twins
    assert reference.__all__ == compiled.__all__
    assert ext.__all__ == ["USING_EXTENSION", *reference.__all__]
    for name in reference.__all__:
        ours, theirs = getattr(reference, name), getattr(compiled, name)
        if not callable(ours):
            assert ours == theirs, name
    shared = ("HxtpRejection", "ParamsInvalid", "SchemaInvalid", "Reason", "ALL_REASONS")
    assert all(getattr(reference, name) is getattr(compiled, name) for name in shared)


def _stub_signatures() -> dict[str, list[str]]:
    tree = ast.parse(STUB.read_text())
    found: dict[str, list[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            found[node.name] = [
                a.arg for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)
            ]
        elif isinstance(node, ast.ClassDef):
            found[node.name] = []
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            found[node.target.id] = []
        elif isinstance(node, ast.ImportFrom):
            found.update({alias.asname or alias.name: [] for alias in node.names})
    return found


def test_the_stub_declares_every_name_with_the_reference_parameters() -> None:
    stub = _stub_signatures()
    assert set(ext._reference.__all__) <= set(stub)
    for name in ext._reference.__all__:
        target = getattr(ext._reference, name)
        if inspect.isfunction(target):
            assert stub[name] == list(inspect.signature(target).parameters), name
