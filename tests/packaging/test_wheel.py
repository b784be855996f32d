"""`python -m build --wheel` makes a platform wheel that works in a fresh
venv on a machine without Go."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT, Servers

CHECK = """
import sys
import scrapy_tlsclient
from scrapy_tlsclient.binding import get_library
lib = get_library()
assert "site-packages" in lib.info.path, lib.info.path
r = lib.request({"requestUrl": sys.argv[1] + "/bytes?n=300", "requestMethod": "GET", "isByteResponse": True,
                 "insecureSkipVerify": True, "sessionId": "wheel"})
assert r.body == (bytes(range(256)) * 2)[:300], r
print("wheel ok", lib.info.version, lib.info.tls_client_version)
"""


@pytest.mark.slow
def test_wheel_installs_and_runs_without_go(tmp_path: Path, servers: Servers) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)], check=True, timeout=900
    )
    (wheel,) = dist.glob("*.whl")
    assert wheel.name.endswith("-py3-none-linux_x86_64.whl"), wheel.name
    with zipfile.ZipFile(wheel) as archive:
        assert "scrapy_tlsclient/_lib/libtlsclient.so" in archive.namelist()

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)], check=True, timeout=900)
    # No Go anywhere on PATH, and not run from the source tree.
    clean_env = {
        key: value for key, value in os.environ.items() if not key.startswith(("GO", "SCRAPY_TLSCLIENT"))
    }
    clean_env["PATH"] = f"{env_dir / 'bin'}:/usr/bin:/bin"
    assert subprocess.run(["sh", "-c", "command -v go"], env=clean_env, capture_output=True).returncode != 0
    result = subprocess.run(
        [str(python), "-c", CHECK, servers.https],
        env=clean_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("wheel ok")
