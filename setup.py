"""Build hook: compile the Go c-shared library into the package.

Installing from source (``pip install .`` or ``pip install -e .``) and
building a wheel both run ``go build -buildmode=c-shared`` on ``native/``;
the wheel is then platform-specific and needs no Go to install.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1
    from wheel.bdist_wheel import bdist_wheel  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent
NATIVE_DIR = ROOT / "native"
LIBRARY_NAME = "libtlsclient.so"
GO_MINIMUM = (1, 24, 1)
GO_MINIMUM_TEXT = ".".join(map(str, GO_MINIMUM))


def go_command() -> str:
    go = os.environ.get("GO") or shutil.which("go")
    if not go:
        sys.exit(
            f"error: building scrapy-tlsclient from source needs Go >= {GO_MINIMUM_TEXT} "
            "(the native tls-client library is Go). Install Go (https://go.dev/dl/) and retry, "
            "or install a prebuilt scrapy-tlsclient wheel."
        )
    output = subprocess.run([go, "version"], capture_output=True, text=True, check=False).stdout
    match = re.search(r"go(\d+)\.(\d+)(?:\.(\d+))?", output)
    if not match:
        sys.exit(f"error: cannot read the Go version from {output!r}; Go >= {GO_MINIMUM_TEXT} is needed")
    found = tuple(int(part or 0) for part in match.groups())
    if found < GO_MINIMUM:
        sys.exit(f"error: Go {'.'.join(map(str, found))} found, Go >= {GO_MINIMUM_TEXT} is needed")
    return go


def build_native_library(target: Path) -> None:
    target = target.resolve()  # go runs in native/, so a relative path would land there
    target.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, CGO_ENABLED="1")
    command = [
        go_command(),
        "build",
        "-buildmode=c-shared",
        "-trimpath",
        "-o",
        str(target),
        "./cmd/libtlsclient",
    ]
    print("building the native library:", " ".join(command), flush=True)
    subprocess.run(command, cwd=NATIVE_DIR, env=env, check=True)
    target.with_suffix(".h").unlink(missing_ok=True)


class BuildPyWithNative(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            package_dir = ROOT / "scrapy_tlsclient"
        else:
            package_dir = Path(self.build_lib) / "scrapy_tlsclient"
        build_native_library(package_dir / "_lib" / LIBRARY_NAME)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = list(super().get_outputs(include_bytecode))
        if not getattr(self, "editable_mode", False):
            outputs.append(str(Path(self.build_lib) / "scrapy_tlsclient" / "_lib" / LIBRARY_NAME))
        return outputs


class BinaryDistribution(Distribution):
    def has_ext_modules(self) -> bool:
        return True


class PlatformWheel(bdist_wheel):
    # Python-version independent (cffi ABI mode), platform specific (the .so).
    def finalize_options(self) -> None:
        super().finalize_options()
        self.root_is_pure = False

    def get_tag(self) -> tuple[str, str, str]:
        _, _, platform = super().get_tag()
        return "py3", "none", platform


setup(
    distclass=BinaryDistribution,
    cmdclass={"build_py": BuildPyWithNative, "bdist_wheel": PlatformWheel},
)
