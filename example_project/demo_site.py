"""A local demo site for the example spiders: HTTPS on 127.0.0.1 with a
self-signed certificate, HTTP/2 (TLS ALPN ``h2``) for clients that offer it
and HTTP/1.1 for the others, no internet needed.

    python demo_site.py            # serves on https://localhost:8443 until Ctrl-C
    python demo_site.py 9443       # another port

docs/demo_site.rst lists its pages and the fields of ``/fingerprint``:
``/`` (links), ``/fingerprint`` (the TLS and HTTP/2 fingerprints the site
saw, as JSON), ``/files/`` (files to download, one of 256 MiB with its
SHA-256), ``/sse`` and ``/ndjson`` (live feeds), ``/shop/`` (a crawlable
catalogue for run_distributed.py).
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import functools
import hashlib
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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import demo_h2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fingerprint import ClientHello, ja3, ja4, parse_client_hello

MAX_EVENTS = 1_000_000
MIB = 1 << 20
#: The small binaries under /files/, which TLSFilesPipeline stores: name -> size in bytes.
BINARIES = {"firmware-1.0.bin": 3 * MIB, "dataset.csv.bin": 512 * 1024, "logo.bin": 4096}
#: The large file under /files/, which the binaries spider downloads with
#: body_file: big enough that the handler logs its progress (the demo sets
#: TLS_CLIENT_PROGRESS_INTERVAL low) while it goes to disk without passing
#: through memory. Generated as it is sent; never stored.
LARGE_FILE = "dataset-256MiB.bin"
LARGE_SIZE = 256 * MIB


#: RFC 6455 1.3: hashed with the client's key into Sec-WebSocket-Accept.
WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def binary_block(name: str) -> bytes:
    """1 MiB of bytes that differ per file, so checksums differ."""
    seed = sum(name.encode()) % 251
    return bytes((seed + i) % 256 for i in range(256)) * 4096


def large_pieces() -> Iterator[bytes]:
    """The large file, 1 MiB at a time: each MiB starts with its number, so
    a piece lost, repeated or reordered changes the checksum."""
    block = binary_block(LARGE_FILE)
    for n in range(LARGE_SIZE // MIB):
        yield n.to_bytes(8, "big") + block[8:]


def paced(pieces: Iterable[bytes], every: int, pause: float) -> Iterator[bytes | float]:
    """``pieces`` with a pause after each ``every`` bytes."""
    since = 0
    for piece in pieces:
        yield piece
        since += len(piece)
        if since >= every:
            yield pause
            since = 0


@functools.cache
def large_sha256() -> str:
    """The large file's SHA-256, published on /files/ and /files/SHA256SUMS."""
    digest = hashlib.sha256()
    for piece in large_pieces():
        digest.update(piece)
    return digest.hexdigest()


@dataclass
class Visit:
    """One request, as the pages see it over HTTP/1.1 or HTTP/2."""

    path: str
    query: dict[str, str]
    #: Header names lower-cased, in the order the client sent them (no pseudo headers).
    headers: list[tuple[str, str]]
    #: What the connection's client looked like (see DemoServer.seen).
    seen: dict[str, object]

    def header(self, name: str) -> str:
        return next((value for key, value in self.headers if key == name), "")


#: A reply body: pieces of bytes, and pauses (seconds, a float) between them.
Body = Iterable[bytes | float]


@dataclass
class Reply:
    status: int
    content_type: str = "text/plain; charset=utf-8"
    body: Body = ()
    #: Content-Length, or None for a streamed body (chunked over HTTP/1.1).
    length: int | None = 0
    #: Seconds before the headers are sent (a slow page).
    delay: float = 0.0
    headers: list[tuple[str, str]] = field(default_factory=list)


def fixed(content_type: str, body: bytes) -> Reply:
    return Reply(200, content_type, [body], len(body))


def reply_for(site: DemoServer, visit: Visit) -> Reply:
    """The reply to a GET of any page of the site."""
    path = visit.path
    pages: dict[str, Callable[[Visit], Reply]] = {
        "/": index,
        "/sse": sse,
        "/ndjson": ndjson,
        "/files/": files,
        "/files/SHA256SUMS": sha256sums,
        "/fingerprint": fingerprint,
    }
    if path in pages:
        return pages[path](visit)
    if path.startswith("/files/"):
        return binary(path.removeprefix("/files/"))
    if path.startswith("/shop/"):
        return shop_page(site.shop, visit)
    return Reply(404, body=[b"not found\n"], length=10)


def index(visit: Visit) -> Reply:
    return fixed(
        "text/html; charset=utf-8",
        b"<html><head><title>scrapy-tlsclient demo</title></head><body>"
        b'<a href="/files/">Downloads</a> <a href="/sse?events=10">SSE feed</a> '
        b'<a href="/ndjson?lines=10">NDJSON feed</a> <a href="/fingerprint">Your fingerprint</a> '
        b'<a href="/shop/">Shop</a></body></html>',
    )


def files(visit: Visit) -> Reply:
    links = "".join(f'<li><a class="file" href="/files/{name}">{name}</a></li>' for name in BINARIES)
    large = (
        f'<li><a class="large" href="/files/{LARGE_FILE}" data-size="{LARGE_SIZE}" '
        f'data-sha256="{large_sha256()}">{LARGE_FILE}</a> (<a href="/files/SHA256SUMS">SHA256SUMS</a>)</li>'
    )
    page = f"<html><head><title>Downloads</title></head><body><ul>{links}{large}</ul></body></html>"
    return fixed("text/html; charset=utf-8", page.encode())


def sha256sums(visit: Visit) -> Reply:
    return fixed("text/plain; charset=utf-8", f"{large_sha256()}  {LARGE_FILE}\n".encode())


def binary(name: str) -> Reply:
    if name == LARGE_FILE:
        # At most 160 MiB/s (a pause of 50 ms per 8 MiB): the download lasts
        # over a second however fast the machine, so the handler's progress
        # lines, which come with its reads (one a second), show.
        return Reply(200, "application/octet-stream", paced(large_pieces(), 8 * MIB, 0.05), LARGE_SIZE)
    size = BINARIES.get(name)
    if size is None:
        return Reply(404, body=[b"not found\n"], length=10)
    block = binary_block(name)
    pieces = (block[: min(len(block), size - sent)] for sent in range(0, size, len(block)))
    return Reply(200, "application/octet-stream", pieces, size)


def fingerprint(visit: Visit) -> Reply:
    """What this connection's ClientHello, HTTP/2 preamble and this request looked like."""
    return fixed("application/json", json.dumps(visit.seen).encode())


def shop_page(shop: Shop, visit: Visit) -> Reply:
    path = visit.path
    if (body := shop.file(path)) is not None:
        shop.record(path)
        return fixed("application/octet-stream", body)
    if (products := shop.feed(path)) is not None:
        shop.record(path)
        lines = stream_body(len(products), 0.005, 0, lambda k: shop.stock_line(products[k]))
        return Reply(200, "application/x-ndjson", lines, None, headers=[("cache-control", "no-cache")])
    if (links := shop.links(path)) is not None:
        shop.record(path)
        page = shop.render(path, links, visit.seen).encode()
        # A slower site, so that the crawler processes overlap.
        return Reply(200, "text/html; charset=utf-8", [page], len(page), delay=shop.page_delay_s)
    return Reply(404, body=[b"not found\n"], length=10)


def sse(visit: Visit) -> Reply:
    """Server-Sent Events (``events``, ``interval_ms``; ``events=0`` is
    endless), resumed after ``Last-Event-ID`` like a real SSE server."""
    last = visit.header("last-event-id")
    first = int(last) + 1 if last.isdigit() else 0
    count, interval = feed_size(visit.query, "events")
    # Ask clients to reconnect after half a second when the feed ends.
    events = stream_body(count, interval, first, sse_event, preamble=b"retry: 500\n\n")
    return Reply(200, "text/event-stream", events, None, headers=[("cache-control", "no-cache")])


def ndjson(visit: Visit) -> Reply:
    count, interval = feed_size(visit.query, "lines")
    lines = stream_body(count, interval, 0, ndjson_line)
    return Reply(200, "application/x-ndjson", lines, None, headers=[("cache-control", "no-cache")])


def feed_size(query: dict[str, str], count_key: str) -> tuple[int, float]:
    count = min(int(query.get(count_key, "10")), MAX_EVENTS)
    return count, min(int(query.get("interval_ms", "100")), 60_000) / 1000


def sse_event(n: int) -> bytes:
    data = json.dumps({"n": n, "price": round(100 + (n * 7919 % 1000) / 100, 2)})
    return f"id: {n}\nevent: quote\ndata: {data}\n\n".encode()


def ndjson_line(n: int) -> bytes:
    return (json.dumps({"n": n, "sku": f"SKU-{n:05d}", "stock": n * 37 % 101}) + "\n").encode()


def stream_body(
    count: int, interval: float, first: int, render: Callable[[int], bytes], preamble: bytes = b""
) -> Iterator[bytes | float]:
    """``count`` pieces (0: endless), ``interval`` seconds apart."""
    if preamble:
        yield preamble
    n = first
    while count == 0 or n < first + count:
        yield render(n)
        n += 1
        yield interval


class DemoHandler(BaseHTTPRequestHandler):
    """The HTTP/1.1 side: clients that do not offer h2 in their ALPN."""

    protocol_version = "HTTP/1.1"
    server: DemoServer

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        headers = [(name.lower(), value) for name, value in self.headers.items()]
        seen = self.server.seen(self.client_address, headers, "HTTP/1.1", None)
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        if parts.path == "/ws/ticker" and (self.headers.get("Upgrade") or "").lower() == "websocket":
            with contextlib.suppress(BrokenPipeError, ConnectionResetError, ssl.SSLError, EOFError):
                self.ticker(query)
            self.close_connection = True
            return
        reply = reply_for(self.server, Visit(parts.path, query, headers, seen))
        # The client going away is how a stopped stream looks here.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.send(reply)

    def send(self, reply: Reply) -> None:
        time.sleep(reply.delay)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers:
            self.send_header(name, value)
        chunked = reply.length is None
        self.send_header(
            *(("Transfer-Encoding", "chunked") if chunked else ("Content-Length", str(reply.length)))
        )
        self.end_headers()
        for piece in reply.body:
            if isinstance(piece, float):
                time.sleep(piece)
            elif chunked:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()
            else:
                self.wfile.write(piece)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def ticker(self, query: dict[str, str]) -> None:
        """A WebSocket quote feed (RFC 6455, server side, no extensions):
        waits for the client's subscription, a text message naming a
        symbol, then sends ``messages`` quotes for it every ``interval_ms``
        and closes with 1000."""
        key = self.headers.get("Sec-WebSocket-Key") or ""
        accept = base64.b64encode(hashlib.sha1((key + WEBSOCKET_GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        opcode, subscription = self.read_frame()
        if opcode != 1:
            return
        symbol = json.loads(subscription).get("subscribe", "ACME")
        count, interval = feed_size(query, "messages")
        for n in range(count):
            quote = {"n": n, "symbol": symbol, "price": round(100 + 5 * ((n * 7919) % 13) / 13, 2)}
            self.write_frame(1, json.dumps(quote).encode())
            time.sleep(interval)
        self.write_frame(8, (1000).to_bytes(2, "big") + b"end of demo")
        while self.read_frame()[0] != 8:  # the client's answering close
            pass

    def read_frame(self) -> tuple[int, bytes]:
        """One client frame (masked, unfragmented): its opcode and payload."""
        head = self.rfile.read(2)
        if len(head) < 2:
            raise EOFError
        size = head[1] & 0x7F
        if size >= 126:
            size = int.from_bytes(self.rfile.read(2 if size == 126 else 8), "big")
        mask = self.rfile.read(4)
        data = self.rfile.read(size)
        return head[0] & 0x0F, bytes(byte ^ mask[i % 4] for i, byte in enumerate(data))

    def write_frame(self, opcode: int, payload: bytes) -> None:
        size = len(payload)
        head = (
            bytes([0x80 | opcode, size])
            if size < 126
            else bytes([0x80 | opcode, 126]) + size.to_bytes(2, "big")
        )
        self.wfile.write(head + payload)
        self.wfile.flush()

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
    /fingerprint page can show the JA3 and JA4 the client presented; then
    serves the connection over HTTP/2 if the client offered h2 (demo_h2),
    else over HTTP/1.1 (DemoHandler)."""

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

    def finish_request(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: object
    ) -> None:
        assert isinstance(request, ssl.SSLSocket)
        if request.selected_alpn_protocol() == "h2":
            demo_h2.serve(request, lambda visit: reply_for(self, visit), self.visit_of(client_address))
        else:
            super().finish_request(request, client_address)

    def visit_of(self, client_address: object) -> Callable[[str, list[tuple[str, str]], str], Visit]:
        """How an HTTP/2 request of this connection becomes a Visit."""

        def visit(target: str, headers: list[tuple[str, str]], akamai: str | None) -> Visit:
            parts = urlsplit(target)
            query = {key: values[0] for key, values in parse_qs(parts.query).items()}
            seen = self.seen(client_address, headers, "HTTP/2", akamai)
            return Visit(parts.path, query, headers, seen)

        return visit

    def seen(
        self, address: object, headers: list[tuple[str, str]], http_version: str, akamai: str | None
    ) -> dict[str, object]:
        """The /fingerprint page's fields (docs/demo_site.rst)."""
        hello = self.hellos.get(address)  # type: ignore[call-overload]
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
        seen["http_version"] = http_version
        seen["akamai"] = akamai
        seen["user_agent"] = next((value for name, value in headers if name == "user-agent"), "")
        seen["header_order"] = [name for name, _ in headers]
        return seen


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
    # The server's order wins: HTTP/2 whenever the client offers it, as on most sites.
    context.set_alpn_protocols(["h2", "http/1.1"])
    server = DemoServer(("127.0.0.1", port), context)
    threading.Thread(target=server.serve_forever, name="demo-site", daemon=True).start()
    return server, f"https://localhost:{server.server_address[1]}"


if __name__ == "__main__":
    site, url = start(int(sys.argv[1]) if len(sys.argv) > 1 else 8443)
    print(f"demo site at {url} (HTTP/2 and HTTP/1.1; pages: docs/demo_site.rst)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        site.shutdown()
