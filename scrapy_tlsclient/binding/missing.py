"""The message for a package without its native library.

The common cause is a source checkout imported in place of the installed
package: Python puts the current directory (``python -c``, ``python -m
scrapy``) or a project directory (``scrapy crawl``) first on ``sys.path``,
so starting it in the repository root after ``pip install .`` imports the
checkout's ``scrapy_tlsclient/``, which has no built library. The message
then names both copies and the way out rather than a bare missing file.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import sys
from pathlib import Path

__all__ = ["missing_library_message"]

PACKAGE = "scrapy_tlsclient"


def missing_library_message(missing: Path, bundled: Path, env_var: str) -> str:
    """What to say when the library at ``missing`` does not exist;
    ``bundled`` is where the imported package keeps its own."""
    package = bundled.parent.parent
    checkout = package.parent
    shadowing = missing == bundled
    installed = _other_copy_with_library(package, bundled.relative_to(package)) if shadowing else None
    if installed is None and (not shadowing or not (checkout / "native").is_dir()):
        return (
            f"tls-client library not found at {missing}. Install scrapy-tlsclient from a "
            f"wheel, build it from source (needs Go >= 1.24.1), or point the "
            f"{env_var} environment variable at a libtlsclient.so."
        )
    if installed is None:
        return (
            f"tls-client library not found at {missing}: the source checkout {checkout} is "
            f"imported and its library is not built.\n"
            f"Build it in place with pip install -e . in {checkout} (needs Go >= 1.24.1)."
        )
    return (
        f"Python imported the source checkout {package}, which has no built library "
        f"({missing} is missing), instead of the installed package {installed}.\n"
        f"Run from a directory other than {checkout}, or build the library into the "
        f"checkout (pip install -e . there); docs/troubleshooting.rst."
    )


def _other_copy_with_library(package: Path, library: Path) -> Path | None:
    """Another importable scrapy_tlsclient that has its library: the one
    Python would import were the checkout not first on sys.path."""
    here = package.resolve()
    others = [entry for entry in sys.path if Path(entry or ".").resolve() != here.parent]
    finders = [importlib.machinery.PathFinder, *sys.meta_path]
    for finder in finders:
        find_spec = getattr(finder, "find_spec", None)
        if find_spec is None:
            continue
        spec = None
        # A finder (an editable install's among them) that cannot answer
        # is no copy.
        with contextlib.suppress(Exception):
            spec = (
                find_spec(PACKAGE, others)
                if finder is importlib.machinery.PathFinder
                else find_spec(PACKAGE, None)
            )
        for location in (spec and spec.submodule_search_locations) or []:
            candidate = Path(location).resolve()
            if candidate != here and (candidate / library).is_file():
                return candidate
    return None
