"""The generated modules and services of the API package, in one stable order."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from types import ModuleType

from google.protobuf import descriptor

import hxtp.cloud.v1 as api_package


def api_modules() -> Iterator[ModuleType]:
    """Every generated *_pb2 module of the API package."""
    for info in sorted(pkgutil.iter_modules(api_package.__path__), key=lambda m: m.name):
        if info.name.endswith("_pb2"):
            yield importlib.import_module(f"{api_package.__name__}.{info.name}")


def api_services() -> Iterator[descriptor.ServiceDescriptor]:
    for module in api_modules():
        yield from module.DESCRIPTOR.services_by_name.values()
