"""Start the Go loopback test server (native/cmd/testserver) for a benchmark."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

NATIVE_DIR = Path(__file__).resolve().parent.parent / "native"


@contextmanager
def test_server() -> Iterator[dict[str, str]]:
    """Yield the server's URLs: http, https (HTTP/1.1) and h2."""
    go = shutil.which("go")
    if go is None:
        raise SystemExit("the benchmark needs Go to build native/cmd/testserver")
    with tempfile.TemporaryDirectory() as tmp:
        binary = Path(tmp) / "testserver"
        subprocess.run([go, "build", "-o", str(binary), "./cmd/testserver"], cwd=NATIVE_DIR, check=True)
        process = subprocess.Popen(
            [str(binary), "-cert-dir", tmp], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert process.stdout is not None and process.stdin is not None
        try:
            yield json.loads(process.stdout.readline())
        finally:
            process.stdin.close()
            process.wait(timeout=10)
