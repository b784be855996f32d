"""Shared fixtures: the real native library and real loopback servers.

The servers are the Go test server (native/cmd/testserver): HTTP/1.1 plain,
HTTP/1.1 over TLS and HTTP/2 over TLS on 127.0.0.1, built once per session.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.request import urlopen

import pytest

from scrapy_tlsclient.binding import NativeLibrary, get_library

ROOT = Path(__file__).resolve().parent.parent
NATIVE_DIR = ROOT / "native"


def pattern(n: int) -> bytes:
    """What the test server's /bytes?n=N sends: byte i is i % 256."""
    return (bytes(range(256)) * (n // 256 + 1))[:n]


def pattern_digest(n: int, algorithm: str) -> str:
    """The hex digest of pattern(n), computed in 1 MiB pieces."""
    block = bytes(range(256)) * 4096  # 1 MiB, aligned with the pattern
    digest = hashlib.new(algorithm)
    full, rest = divmod(n, len(block))
    for _ in range(full):
        digest.update(block)
    digest.update(block[:rest])
    return digest.hexdigest()


@dataclass(frozen=True)
class Servers:
    http: str
    https: str
    h2: str
    cert: str
    proxy: str
    proxy_auth: str
    socks5: str
    proxy_tls: str
    #: Answers absolute-form requests itself, refuses CONNECT.
    proxy_echo: str
    #: Tunnels CONNECT to the TLS servers only (native/testserver/proxy_modes.go).
    proxy_connect_only: str
    fingerprint: str
    #: Blocks by JA4, header order and rate; logs a verdict per request
    #: (native/testserver/wall.go).
    wall: str

    def all(self) -> dict[str, str]:
        return {"http1": self.http, "https1": self.https, "h2": self.h2}

    def faults(self) -> FaultServers:
        """The fault-injecting servers started with these (faults.go), whose
        URLs the servers list at /faults (the ready line does not carry them)."""
        with urlopen(f"{self.http}/faults", timeout=10) as answer:
            urls: dict[str, str] = json.load(answer)
        return FaultServers(urls)


@dataclass(frozen=True)
class FaultServers:
    """Base URLs of the fault servers by name: "http", "https", "h2",
    "tls_alert", ..., "proxy_403", ... (see native/testserver/faults.go)."""

    urls: dict[str, str]

    def __getitem__(self, name: str) -> str:
        return self.urls[name]


def go_binary() -> str:
    go = os.environ.get("GO") or shutil.which("go")
    if not go:
        pytest.fail("the tests need Go to build the loopback test server (native/cmd/testserver)")
    return go


@pytest.fixture(scope="session")
def testserver_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("bin") / "testserver"
    subprocess.run([go_binary(), "build", "-o", str(target), "./cmd/testserver"], cwd=NATIVE_DIR, check=True)
    return target


@contextmanager
def start_servers(binary: Path, cert_dir: Path) -> Iterator[Servers]:
    """Run the Go test server until the block ends."""
    process = subprocess.Popen(
        [str(binary), "-cert-dir", str(cert_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.kill()
        pytest.fail("the test server did not start")
    urls = json.loads(line)
    try:
        yield Servers(**{field: urls[field] for field in Servers.__dataclass_fields__})
    finally:
        assert process.stdin is not None
        process.stdin.close()  # the server exits on stdin EOF
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def servers(testserver_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    with start_servers(testserver_binary, tmp_path_factory.mktemp("certs")) as started:
        yield started


@pytest.fixture(scope="session")
def fault_servers(servers: Servers) -> FaultServers:
    return servers.faults()


@pytest.fixture
def fresh_servers(testserver_binary: Path, tmp_path: Path) -> Iterator[Servers]:
    """A test server of the test's own, for measurements that must not
    depend on what earlier tests did to the shared one."""
    with start_servers(testserver_binary, tmp_path) as started:
        yield started


@pytest.fixture(scope="session")
def library() -> NativeLibrary:
    return get_library()


def run_python(
    script: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a script in a fresh interpreter, outside the source tree, so it
    imports the installed package (with its library), not ./scrapy_tlsclient."""
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=tempfile.gettempdir(),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
