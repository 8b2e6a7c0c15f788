"""Build steps that turn sources into importable code.

`python setup.py build_protos` generates the protobuf/gRPC Python modules under ./hxtp from
./protos, and `python setup.py build_ext --inplace` compiles the Cython hot path in ./ext. Both
outputs are gitignored: the protos and the .pyx are the sources of truth.
"""

from __future__ import annotations

import os
from pathlib import Path

from setuptools import Command, Extension, find_packages, setup

ROOT = Path(__file__).resolve().parent
PROTO_ROOT = ROOT / "protos"


def _include_dirs() -> list[str]:
    """Where protoc finds google/api/*.proto (googleapis-common-protos) and the well-known types."""
    import google.api  # type: ignore[import-untyped]
    import grpc_tools

    googleapis_root = Path(next(iter(google.api.__path__))).parent.parent
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    return [str(PROTO_ROOT), str(googleapis_root), str(well_known)]


class BuildProtos(Command):
    description = "generate Python protobuf and gRPC modules from protos/"
    user_options: list[tuple[str, str | None, str]] = []

    def initialize_options(self) -> None:
        pass

    def finalize_options(self) -> None:
        pass

    def run(self) -> None:
        from grpc_tools import protoc

        sources = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))
        args = ["protoc", *(f"-I{d}" for d in _include_dirs())]
        args += [f"--python_out={ROOT}", f"--pyi_out={ROOT}", f"--grpc_python_out={ROOT}", *sources]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        # Regular packages (not namespace packages) so mypy and importlib resolve them the same way.
        for directory in (ROOT / "hxtp").rglob("*"):
            if directory.is_dir():
                (directory / "__init__.py").touch()
        (ROOT / "hxtp" / "__init__.py").touch()


def _extensions() -> list[Extension]:
    from Cython.Build import cythonize

    hotpath = Extension(
        "ext._hotpath",
        sources=["ext/_hotpath.pyx"],
        extra_compile_args=["-O3"],
    )
    return cythonize([hotpath], language_level=3, quiet=True)


if __name__ == "__main__":
    os.chdir(ROOT)
    setup(
        name="hxtp-cloud",
        version="1.0.0",
        # The project installs into the venv in editable mode (`make build`), so `hxtp-cloud` and the
        # packages resolve to this tree; the extension is compiled in place once, by build_ext.
        packages=find_packages(include=["server*", "gateway*", "contract*", "ext*", "hxtp*"]),
        ext_modules=[] if os.environ.get("HXTP_EDITABLE_INSTALL") else _extensions(),
        cmdclass={"build_protos": BuildProtos},
    )
