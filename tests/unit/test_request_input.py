"""Scrapy Request + settings -> native input (pure)."""

from __future__ import annotations

import base64

import pytest
from scrapy import Request
from scrapy.settings import Settings

from scrapy_tlsclient._config import DEFAULT_PROFILE, HandlerConfig
from scrapy_tlsclient._request_input import (
    CLIENT_META_KEYS,
    META_KEYS,
    HeaderLines,
    check_serialisable_meta,
    client_options,
    header_pairs,
    request_input_from,
)

CONFIG = HandlerConfig.from_settings(Settings({"DOWNLOAD_TIMEOUT": 30}))


def native_input(request: Request) -> dict[str, object]:
    return dict(request_input_from(request, CONFIG, stream_id="s1").request_input)


def test_headers_keep_repeats_drop_none_and_proxy_authorization() -> None:
    request = Request(
        "https://example.com/",
        headers={
            "X-Repeat": ["1", "2"],
            "X-None": None,
            "Proxy-Authorization": "Basic eA==",
            "Accept": "a/b",
        },
    )
    assert header_pairs(request.headers) == [["X-Repeat", "1"], ["X-Repeat", "2"], ["Accept", "a/b"]]


def test_remembered_header_lines_give_what_fresh_ones_give() -> None:
    known = HeaderLines()
    requests = [
        Request("https://example.com/", headers={"Accept": "a/b", "X-Repeat": ["1", "2"]}),
        Request("https://example.com/", headers={"X-Repeat": ["1", "2"], "Accept": "a/b"}),
        Request("https://example.com/", headers={"Accept": "a/c", "Proxy-Authorization": "Basic eA=="}),
    ]
    for request in requests:
        order = ["x-repeat", "accept"]
        assert header_pairs(request.headers, order, known=known) == header_pairs(request.headers, order)
    # A header seen valid does not make a different value of it valid.
    bad = Request("https://example.com/", headers={"Accept": "a/b\r\nX-Evil: 1"})
    with pytest.raises(ValueError, match="is not a valid header"):
        header_pairs(bad.headers, known=known)


def test_the_body_goes_beside_the_input_and_scrapy_owns_redirects_cookies_decoding() -> None:
    request = Request("https://example.com/", method="POST", body=b"\x00\xff")
    call = request_input_from(request, CONFIG, stream_id="s1")
    assert call.body == b"\x00\xff"
    got = dict(call.request_input)
    assert "requestBody" not in got and "isByteRequest" not in got
    assert got["followRedirects"] is False
    assert got["withoutCookieJar"] is True
    assert got["rawBody"] is True
    assert got["timeoutMilliseconds"] == 30000
    assert got["insecureSkipVerify"] is True


def test_download_timeout_meta_wins() -> None:
    assert (
        native_input(Request("https://e.com/", meta={"download_timeout": 0.25}))["timeoutMilliseconds"] == 250
    )


def test_http_proxy_credentials_go_to_connect_headers() -> None:
    request = Request(
        "https://e.com/", meta={"proxy": "127.0.0.1:8080"}, headers={"Proxy-Authorization": "Basic dTpw"}
    )
    got = native_input(request)
    assert got["proxyUrl"] == "http://127.0.0.1:8080"
    assert got["connectHeaders"] == {"Proxy-Authorization": ["Basic dTpw"]}


def test_socks_credentials_go_into_the_proxy_url() -> None:
    auth = "Basic " + base64.b64encode(b"us er:p@ss").decode()
    request = Request(
        "https://e.com/", meta={"proxy": "socks5://127.0.0.1:1080"}, headers={"Proxy-Authorization": auth}
    )
    assert native_input(request)["proxyUrl"] == "socks5://us%20er:p%40ss@127.0.0.1:1080"


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ({"proxy": "ftp://127.0.0.1:21"}, "Unsupported proxy scheme 'ftp'"),
        ({"proxy": 5}, "must be a URL string"),
        ({"bindaddress": ["127.0.0.1"]}, "'bindaddress' request meta key must be a host string"),
    ],
)
def test_bad_meta_is_refused_by_name(meta: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        native_input(Request("https://e.com/", meta=meta))


def test_session_key_separates_what_a_client_fixes() -> None:
    def key(**meta: object) -> str:
        return request_input_from(Request("https://e.com/a", meta=meta), CONFIG, stream_id="x").session_key

    assert key() == key(download_timeout=5)  # a per-call deadline shares the client
    assert key() != key(proxy="socks5://127.0.0.1:1")
    assert key(proxy="http://127.0.0.1:1", download_timeout=5) != key(proxy="http://127.0.0.1:1")
    assert key() != key(bindaddress="127.0.0.2")


PROFILES = frozenset({"chrome_150", "firefox_147"})
PIN = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
JA3 = "771,4865-4866,0-23-65281,29-23,0"


def fingerprint_input(config: HandlerConfig = CONFIG, **meta: object) -> dict[str, object]:
    call = request_input_from(Request("https://e.com/", meta=meta), config, stream_id="s", profiles=PROFILES)
    return dict(call.request_input)


def test_profile_and_extension_order_follow_the_browser() -> None:
    chrome = fingerprint_input()
    assert chrome["tlsClientIdentifier"] == DEFAULT_PROFILE
    assert chrome["withRandomTLSExtensionOrder"] is True  # Chrome shuffles per connection
    firefox = fingerprint_input(tls_client_profile="firefox_147")
    assert "withRandomTLSExtensionOrder" not in firefox  # Firefox does not
    fixed = fingerprint_input(tls_client_random_tls_extension_order=False)
    assert "withRandomTLSExtensionOrder" not in fixed
    setting = HandlerConfig.from_settings(Settings({"TLS_CLIENT_RANDOM_TLS_EXTENSION_ORDER": True}))
    assert fingerprint_input(setting, tls_client_profile="firefox_147")["withRandomTLSExtensionOrder"] is True


def test_custom_tls_replaces_the_profile() -> None:
    got = fingerprint_input(
        tls_client_custom_tls={
            "ja3String": JA3,
            "pseudoHeaderOrder": [":method", ":path", ":authority", ":scheme"],
        }
    )
    assert "tlsClientIdentifier" not in got
    assert got["customTlsClient"] == {
        "ja3String": JA3,
        "pseudoHeaderOrder": [":method", ":path", ":authority", ":scheme"],
    }
    assert "withRandomTLSExtensionOrder" not in got  # a JA3 string fixes the order
    with pytest.raises(
        ValueError, match="'tls_client_profile' and 'tls_client_custom_tls' request meta keys exclude"
    ):
        fingerprint_input(tls_client_custom_tls={"ja3String": JA3}, tls_client_profile="chrome_150")
    setting = HandlerConfig.from_settings(Settings({"TLS_CLIENT_CUSTOM_TLS": {"ja3String": JA3}}))
    assert fingerprint_input(setting)["customTlsClient"] == {"ja3String": JA3}
    assert (
        fingerprint_input(setting, tls_client_profile="firefox_147")["tlsClientIdentifier"] == "firefox_147"
    )


def test_server_name_pins_and_header_order() -> None:
    verifying = HandlerConfig.from_settings(Settings({"DOWNLOAD_VERIFY_CERTIFICATES": True}))
    got = fingerprint_input(
        verifying, tls_client_server_name="www.example.org", tls_client_certificate_pins={"*.E.com": [PIN]}
    )
    assert got["serverNameOverwrite"] == "www.example.org"
    assert got["certificatePinningHosts"] == {"*.e.com": [PIN]}
    request = Request(
        "https://e.com/", headers={"A": "1", "B": "2", "C": "3"}, meta={"tls_client_header_order": ["c", "a"]}
    )
    pairs = request_input_from(request, CONFIG, stream_id="s").request_input["headersList"]
    assert pairs == [["C", "3"], ["A", "1"], ["B", "2"]]


def test_fingerprint_options_have_their_own_sessions() -> None:
    def key(**meta: object) -> str:
        return request_input_from(
            Request("https://e.com/", meta=meta), CONFIG, stream_id="s", profiles=PROFILES
        ).session_key

    variants = [
        key(),
        key(tls_client_profile="firefox_147"),
        key(tls_client_random_tls_extension_order=False),
        key(tls_client_custom_tls={"ja3String": JA3}),
        key(tls_client_server_name="x.e.com"),
        key(tls_client_session="alice"),
    ]
    assert len(set(variants)) == len(variants)
    assert key(tls_client_header_order=["accept"]) == key()  # per call: the same client


@pytest.mark.parametrize(
    ("name", "value"),
    [("X-A", "a\r\nInjected: 1"), ("X-B", "a\nb"), ("X-C", "a\x00b"), ("Bad Name", "v"), ("X:Y", "v")],
)
def test_header_injection_is_refused_before_sending(name: str, value: str) -> None:
    with pytest.raises(ValueError, match="is not a valid header"):
        native_input(Request("https://e.com/", headers={name: value}))


def test_header_values_cross_as_latin1_text_of_their_bytes() -> None:
    """Each byte one code point (latin1Headers): the library sends the
    bytes, UTF-8 or not, as they are."""
    request = Request("https://e.com/", headers={"X-C": "café", "X-L": b"caf\xe9"})
    native = native_input(request)
    assert native["latin1Headers"] is True
    assert native["headersList"] == [["X-C", "café".encode().decode("latin-1")], ["X-L", "caf\xe9"]]


class Opaque:
    pass


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"a", "b"}, "holds a builtins.set"),
        ([1, [2, Opaque()]], "holds a test_request_input.Opaque"),
        ({"h2Settings": {1: 2}}, "holds a dict with a key that is not a str"),
        (b"chrome_150", "holds a builtins.bytes"),
    ],
)
def test_tls_client_meta_must_survive_serialisation(value: object, problem: str) -> None:
    with pytest.raises(ValueError, match=f"'tls_client_custom_tls' request meta key {problem}"):
        check_serialisable_meta({"tls_client_custom_tls": value})


def test_plain_meta_passes_and_other_keys_are_not_ours() -> None:
    check_serialisable_meta(
        {
            "tls_client_custom_tls": {"a": [1, 2.5, None, True, ("x", {"y": "z"})]},
            "callback_state": Opaque(),  # not ours: Scrapy's serialisation will judge it
        }
    )
    nested: list[object] = []
    nested.append(nested)
    with pytest.raises(ValueError, match="nested more than 16 deep"):
        check_serialisable_meta({"tls_client_header_order": nested})


class _ReadMeta(dict[str, object]):
    """A meta dict that records which keys are read."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> object:
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
        self.read.add(key)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.read.add(key)
        return super().__contains__(key)


def test_client_options_reads_exactly_the_declared_client_meta_keys() -> None:
    """CLIENT_META_KEYS is what ClientOptionsCache keys its shapes on: a key
    client_options reads but the table leaves out would let two requests
    that differ in it share one cached client (and session)."""
    read: set[str] = set()
    for meta in ({}, {"tls_client_custom_tls": {"ja3String": "771,4865,0,29,0"}}):
        request = Request("https://example.com/")
        request._meta = recording = _ReadMeta(meta)  # stands in for Scrapy's dict
        client_options(request, CONFIG, (), stream=False, timeout_ms=1000)
        read |= recording.read
    assert read - {"proxy"} == set(CLIENT_META_KEYS)
    assert set(CLIENT_META_KEYS) - {"bindaddress"} < META_KEYS


def test_the_librarys_read_ahead_is_pinned_for_streams_and_files() -> None:
    """A stream's buffer in the library stays what docs/streaming.rst
    states; a body_file download's is deeper; other bodies leave it to the
    library (deeper for large bodies)."""
    streamed = native_input(Request("https://example.com/", meta={"tls_client_stream": True}))
    to_file = native_input(Request("https://example.com/", meta={"body_file": "/tmp/x.bin"}))
    in_memory = native_input(Request("https://example.com/"))
    assert (streamed["streamBufferChunks"], to_file["streamBufferChunks"]) == (16, 32)
    assert "streamBufferChunks" not in in_memory
