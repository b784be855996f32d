"""A local demo site for the example spiders: HTTPS on 127.0.0.1 with a
self-signed certificate, no internet needed.

    python demo_site.py            # serves until Ctrl-C, prints its URL

Pages: ``/`` (HTML with links), ``/sse`` (Server-Sent Events: ``events``,
``interval_ms``; ``events=0`` is endless), ``/ndjson`` (``lines``,
``interval_ms``). Honours ``Last-Event-ID`` like a real SSE server.
``/shop/`` is a small crawlable catalogue for the distributed example
(run_distributed.py): category and product pages that echo the TLS
fingerprint and User-Agent they were fetched with, a file per product and
an NDJSON stock feed per category; the server counts what it served.
"""

from __future__ import annotations

import contextlib
import datetime
import html
import ipaddress
import json
import socket
import ssl
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fingerprint import ClientHello, ja3, ja4, parse_client_hello

MAX_EVENTS = 1_000_000
#: The binaries under /files/: name -> size in bytes.
BINARIES = {"firmware-1.0.bin": 3 * 1024 * 1024, "dataset.csv.bin": 512 * 1024, "logo.bin": 4096}


def binary_block(name: str) -> bytes:
    """1 MiB of bytes that differ per file, so checksums differ."""
    seed = sum(name.encode()) % 251
    return bytes((seed + i) % 256 for i in range(256)) * 4096


class DemoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        routes = {
            "/": self.index,
            "/sse": self.sse,
            "/ndjson": self.ndjson,
            "/files/": self.files,
            "/fingerprint": self.fingerprint,
        }
        route = routes.get(parts.path) or (self.binary if parts.path.startswith("/files/") else None)
        if route is None and parts.path.startswith("/shop/"):
            route = self.shop_page
        if route is None:
            self.send_error(404)
            return
        # The client going away is how a stopped stream looks here.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, ssl.SSLError):
            route(query)

    def index(self, query: dict[str, str]) -> None:
        self.html(
            "<html><head><title>scrapy-tlsclient demo</title></head><body>"
            '<a href="/files/">Downloads</a> <a href="/sse?events=10">SSE feed</a> '
            '<a href="/ndjson?lines=10">NDJSON feed</a> <a href="/fingerprint">Your fingerprint</a>'
            "</body></html>"
        )

    def files(self, query: dict[str, str]) -> None:
        links = "".join(f'<li><a href="/files/{name}">{name}</a></li>' for name in BINARIES)
        self.html(f"<html><head><title>Downloads</title></head><body><ul>{links}</ul></body></html>")

    def binary(self, query: dict[str, str]) -> None:
        name = urlsplit(self.path).path.removeprefix("/files/")
        size = BINARIES.get(name)
        if size is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        block = binary_block(name)
        sent = 0
        while sent < size:
            piece = block[: size - sent]
            self.wfile.write(piece)
            sent += len(piece)

    def fingerprint(self, query: dict[str, str]) -> None:
        """What this connection's ClientHello and this request looked like."""
        body = json.dumps(self.client_fingerprint()).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def client_fingerprint(self) -> dict[str, object]:
        hello = getattr(self.server, "hellos", {}).get(self.client_address)
        seen: dict[str, object] = {"error": "no ClientHello recorded"}
        if hello is not None:
            ja3_text, ja3_hash = ja3(hello)
            seen = {
                "ja4": ja4(hello),
                "ja3": ja3_text,
                "ja3_hash": ja3_hash,
                "alpn": hello.alpn,
                "sni": hello.server_name,
            }
        seen["user_agent"] = self.headers.get("User-Agent", "")
        seen["header_order"] = [name.lower() for name in self.headers]
        return seen

    def shop_page(self, query: dict[str, str]) -> None:
        shop: Shop = self.server.shop  # type: ignore[attr-defined]
        path = urlsplit(self.path).path
        if (body := shop.file(path)) is not None:
            shop.record(path)
            self.octets(body)
        elif (products := shop.feed(path)) is not None:
            shop.record(path)
            lines = {"lines": str(len(products)), "interval_ms": "5"}
            self.stream("application/x-ndjson", lines, "lines", 0, lambda k: shop.stock_line(products[k]))
        elif (links := shop.links(path)) is not None:
            shop.record(path)
            time.sleep(shop.page_delay_s)  # a slower site, so that the crawler processes overlap
            self.html(shop.render(path, links, self.client_fingerprint()))
        else:
            self.send_error(404)

    def octets(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def html(self, page: str) -> None:
        body = page.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def sse(self, query: dict[str, str]) -> None:
        last = self.headers.get("Last-Event-ID", "")
        first = int(last) + 1 if last.isdigit() else 0
        # Ask clients to reconnect after half a second when the feed ends.
        self.stream("text/event-stream", query, "events", first, self.sse_event, preamble=b"retry: 500\n\n")

    def ndjson(self, query: dict[str, str]) -> None:
        self.stream("application/x-ndjson", query, "lines", 0, self.ndjson_line)

    @staticmethod
    def sse_event(n: int) -> bytes:
        data = json.dumps({"n": n, "price": round(100 + (n * 7919 % 1000) / 100, 2)})
        return f"id: {n}\nevent: quote\ndata: {data}\n\n".encode()

    @staticmethod
    def ndjson_line(n: int) -> bytes:
        return (json.dumps({"n": n, "sku": f"SKU-{n:05d}", "stock": n * 37 % 101}) + "\n").encode()

    def stream(
        self,
        content_type: str,
        query: dict[str, str],
        count_key: str,
        first: int,
        render: object,
        preamble: bytes = b"",
    ) -> None:
        count = min(int(query.get(count_key, "10")), MAX_EVENTS)
        interval = min(int(query.get("interval_ms", "100")), 60_000) / 1000
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if preamble:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(preamble), preamble))
        n = first
        while count == 0 or n < first + count:
            payload = render(n)  # type: ignore[operator]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))
            self.wfile.flush()
            n += 1
            time.sleep(interval)
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class Shop:
    """The /shop/ catalogue: ``categories`` x ``products_per_category``
    products, listed ``per_page`` to a category page. Pages also link to
    pages linked elsewhere (the index, related products), so a crawl that
    fetches each page once needs a duplicate filter. Counts every page, feed
    and file it serves, for checks that each was fetched once."""

    categories: int = 3
    products_per_category: int = 16
    per_page: int = 8
    page_delay_s: float = 0.0
    served: Counter[str] = field(default_factory=Counter)
    first_served: float | None = None
    last_served: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def products(self) -> int:
        return self.categories * self.products_per_category

    @property
    def pages_per_category(self) -> int:
        return -(-self.products_per_category // self.per_page)

    def page_paths(self) -> list[str]:
        """Every HTML page: what a complete crawl fetches."""
        listings = [
            f"/shop/category/{c}/{k}"
            for c in range(self.categories)
            for k in range(1, self.pages_per_category + 1)
        ]
        return ["/shop/", *listings, *(f"/shop/product/{n}" for n in range(self.products))]

    def feed_paths(self) -> list[str]:
        return [f"/shop/stock/{c}.ndjson" for c in range(self.categories)]

    def file_paths(self) -> list[str]:
        return [f"/shop/files/product-{n}.bin" for n in range(self.products)]

    def feed(self, path: str) -> list[int] | None:
        """The products a category's stock feed lists, or None if no such feed."""
        c = _number_in(path, "/shop/stock/", ".ndjson", self.categories)
        if c is None:
            return None
        return list(range(c * self.products_per_category, (c + 1) * self.products_per_category))

    def file(self, path: str) -> bytes | None:
        """A product's file (its size and bytes differ per product), or None."""
        n = _number_in(path, "/shop/files/product-", ".bin", self.products)
        if n is None:
            return None
        size = 4096 + n * 1543 % 20000
        return (bytes((n * 31 + i) % 256 for i in range(256)) * (size // 256 + 1))[:size]

    @staticmethod
    def stock_line(n: int) -> bytes:
        return (json.dumps({"product": n, "stock": n * 37 % 101}) + "\n").encode()

    def links(self, path: str) -> dict[str, list[str]] | None:
        """An HTML page's links by kind (page, feed, file), or None if no such page."""
        if path == "/shop/":
            return {"page": [f"/shop/category/{c}/1" for c in range(self.categories)]}
        if (n := _number_in(path, "/shop/product/", "", self.products)) is not None:
            return self._product_links(n)
        category, _, page = path.removeprefix("/shop/category/").partition("/")
        c = _number_in(category, "", "", self.categories)
        k = _number_in(page, "", "", self.pages_per_category + 1)
        if not path.startswith("/shop/category/") or c is None or not k:
            return None
        return self._listing_links(c, k)

    def _listing_links(self, c: int, k: int) -> dict[str, list[str]]:
        first = c * self.products_per_category + (k - 1) * self.per_page
        last = min(first + self.per_page, (c + 1) * self.products_per_category)
        pages = ["/shop/", *(f"/shop/product/{n}" for n in range(first, last))]
        if k < self.pages_per_category:
            pages.append(f"/shop/category/{c}/{k + 1}")
        return {"page": pages, "feed": [f"/shop/stock/{c}.ndjson"]}

    def _product_links(self, n: int) -> dict[str, list[str]]:
        c = n // self.products_per_category
        related = [(n * 7 + 3) % self.products, (n + 1) % self.products]
        return {
            "page": [f"/shop/category/{c}/1", *(f"/shop/product/{r}" for r in related)],
            "file": [f"/shop/files/product-{n}.bin"],
        }

    def render(self, path: str, links: dict[str, list[str]], seen: dict[str, object]) -> str:
        """The page, with the fingerprint the site saw in ``<meta name="tls-...">``."""
        anchors = " ".join(
            f'<a class="{kind}" href="{href}">{href}</a>' for kind, hrefs in links.items() for href in hrefs
        )
        echo = "".join(
            f'<meta name="tls-{name}" content="{html.escape(str(seen.get(key, "")))}">'
            for name, key in (("ja4", "ja4"), ("user-agent", "user_agent"))
        )
        return f"<html><head><title>{path}</title>{echo}</head><body>{anchors}</body></html>"

    def record(self, path: str) -> None:
        with self._lock:
            self.served[path] += 1
            now = time.monotonic()
            self.first_served = self.first_served or now
            self.last_served = now


def _number_in(text: str, prefix: str, suffix: str, below: int) -> int | None:
    """The number N in ``prefix + N + suffix`` if it is below ``below``, else None."""
    if not text.startswith(prefix) or not text.endswith(suffix):
        return None
    digits = text[len(prefix) : len(text) - len(suffix)]
    return int(digits) if digits.isdigit() and len(digits) < 9 and int(digits) < below else None


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class DemoServer(ThreadingHTTPServer):
    """Reads each connection's ClientHello before the TLS handshake, so the
    /fingerprint page can show the JA3 and JA4 the client presented."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], context: ssl.SSLContext) -> None:
        super().__init__(address, DemoHandler)
        self.context = context
        self.hellos: dict[tuple[str, int], ClientHello] = {}
        self.shop = Shop()

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        raw, address = self.socket.accept()
        raw.settimeout(10)
        with contextlib.suppress(OSError, ValueError):
            if len(self.hellos) > 10_000:
                self.hellos.clear()
            self.hellos[address] = parse_client_hello(peek_record(raw))
        return self.context.wrap_socket(raw, server_side=True), address


def peek_record(sock: socket.socket) -> bytes:
    """The first TLS record, left in the socket for the handshake."""
    data = b""
    for _ in range(100):
        data = sock.recv(16384, socket.MSG_PEEK)
        if len(data) >= 5 and len(data) >= 5 + int.from_bytes(data[3:5], "big"):
            return data
        time.sleep(0.01)
    return data


def start(port: int = 0) -> tuple[DemoServer, str]:
    """Start the site in a background thread; returns the server and its URL."""
    directory = Path(tempfile.mkdtemp(prefix="tlsclient-demo-"))
    cert, key = self_signed(directory)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = DemoServer(("127.0.0.1", port), context)
    threading.Thread(target=server.serve_forever, name="demo-site", daemon=True).start()
    return server, f"https://localhost:{server.server_address[1]}"


if __name__ == "__main__":
    site, url = start(int(sys.argv[1]) if len(sys.argv) > 1 else 8443)
    print(f"demo site at {url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        site.shutdown()
