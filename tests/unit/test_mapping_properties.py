"""Property tests of the pure parts: request headers and meta -> native
input, native envelope -> response arguments, native error text or code ->
exception class (SSE/NDJSON parsing under arbitrary chunking: test_event_formats)."""

from __future__ import annotations

import base64
import string
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scrapy import Request
from scrapy.exceptions import DownloadFailedError
from scrapy.http.headers import Headers
from scrapy.settings import Settings

from scrapy_tlsclient._config import HandlerConfig
from scrapy_tlsclient._request_input import ClientOptionsCache, header_pairs, request_input_from
from scrapy_tlsclient._response_args import scrapy_headers
from scrapy_tlsclient._scrapy_errors import SCRAPY_EXCEPTION_FOR, scrapy_error_for
from scrapy_tlsclient.binding.envelopes import response_from_envelope
from scrapy_tlsclient.binding.errors import _CLASS_BY_CODE, _CODE_BY_FRAGMENT, NativeError, native_error_from

TOKEN = st.text(alphabet=string.ascii_letters + string.digits + "-_.!#$%&'*+^`|~", min_size=1, max_size=20)
#: RFC 9110 field values: no control characters but tab.
CONTROLS = "".join(chr(c) for c in (*range(0x09), *range(0x0A, 0x20), 0x7F))
VALUE = st.text(alphabet=st.characters(blacklist_characters=CONTROLS, codec="utf-8"), max_size=40)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(TOKEN, st.lists(VALUE, min_size=1, max_size=3)), max_size=10))
def test_every_valid_header_value_is_sent_once_in_order(headers: list[tuple[str, list[str]]]) -> None:
    scrapy_headers = Headers()
    for name, values in headers:
        if name.lower() != "proxy-authorization":
            scrapy_headers.setlist(name, values)
    pairs = header_pairs(scrapy_headers)
    # Values cross as Latin-1 text: each byte (of Scrapy's UTF-8) one code point.
    expected = [
        [name.decode("latin-1"), value.decode("latin-1")]
        for name, values in scrapy_headers.items()
        for value in values
    ]
    assert pairs == expected


@settings(max_examples=200, deadline=None)
@given(TOKEN, VALUE, st.sampled_from([*CONTROLS, "\r\n"]), VALUE)
def test_no_value_with_a_control_character_gets_through(name: str, before: str, bad: str, after: str) -> None:
    with pytest.raises(ValueError, match="is not a valid header"):
        header_pairs(Request("https://e.com/", headers={name: before + bad + after}).headers)


# -- meta -> native input ------------------------------------------------------

PROFILES = frozenset({"chrome_150", "chrome_131", "firefox_135", "safari_ios_18_5"})
CONFIG = HandlerConfig.from_settings(Settings({"DOWNLOAD_TIMEOUT": 30}))

#: Meta values of every kind the mapping accepts, per key.
GOOD_META = st.fixed_dictionaries(
    {},
    optional={
        "tls_client_profile": st.sampled_from(sorted(PROFILES)),
        "tls_client_force_http1": st.booleans(),
        "tls_client_http3": st.booleans(),
        "tls_client_debug": st.booleans(),
        "tls_client_random_tls_extension_order": st.none() | st.booleans(),
        "tls_client_session": st.text(min_size=1, max_size=10),
        "tls_client_no_deadline": st.booleans(),
        "download_timeout": st.floats(min_value=0.001, max_value=1e6),
        "download_maxsize": st.integers(min_value=0, max_value=2**40),
        "bindaddress": st.tuples(st.just("127.0.0.1"), st.integers(min_value=0, max_value=65535)),
        "proxy": st.sampled_from(["http://127.0.0.1:8080", "socks5://[::1]:1080", "https://p.example:443"]),
    },
)


@settings(max_examples=300, deadline=None)
@given(GOOD_META, st.binary(max_size=64))
def test_accepted_meta_gives_a_consistent_native_input(meta: dict[str, Any], body: bytes) -> None:
    request = Request("https://example.com/x", method="POST", body=body, meta=meta)
    call = request_input_from(request, CONFIG, stream_id="s1", profiles=PROFILES)
    native = call.request_input
    # Scrapy owns redirects, cookies and decompression, whatever the meta.
    assert native["followRedirects"] is False and native["withoutCookieJar"] is True
    assert native["rawBody"] is True and native["isByteResponse"] is True
    assert native.get("tlsClientIdentifier") == meta.get("tls_client_profile", CONFIG.profile)
    assert native.get("forceHttp1", False) is meta.get("tls_client_force_http1", False)
    assert native.get("disableHttp3", False) is not meta.get("tls_client_http3", False)
    if meta.get("tls_client_no_deadline"):
        assert native["timeoutMilliseconds"] == -1
    else:
        seconds = meta.get("download_timeout", CONFIG.download_timeout)
        assert native["timeoutMilliseconds"] == max(1, round(seconds * 1000))
    assert call.body == body and "requestBody" not in native
    # The session key depends on what fixes a client, never on per-call fields.
    again = request_input_from(
        request.replace(url="https://example.com/y"), CONFIG, stream_id="s2", profiles=PROFILES
    )
    if not str(native.get("proxyUrl", "")).startswith(("http://", "https://")):
        assert again.session_key == call.session_key


#: Shapes that share a cache entry: profiles and flags, scalars of the wrong type.
CACHED_META = st.fixed_dictionaries(
    {},
    optional={
        "tls_client_profile": st.sampled_from(sorted(PROFILES)),
        "tls_client_force_http1": st.sampled_from([True, False, 1, 0, 1.0, None, "yes"]),
        "tls_client_http3": st.booleans(),
        "tls_client_random_tls_extension_order": st.sampled_from([None, True, False, 1]),
        "tls_client_session": st.sampled_from(["a", "b", "", 1]),
        "tls_client_stream": st.booleans(),
        "tls_client_server_name": st.sampled_from(["example.net", "", 7]),
        "bindaddress": st.sampled_from([("127.0.0.1", 0), "127.0.0.1", None]),
        "proxy": st.sampled_from(["http://127.0.0.1:8080", None]),
        "download_timeout": st.sampled_from([1, 2.5]),
    },
)


def _outcome(call: Any) -> Any:
    try:
        found = call()
    except ValueError as error:
        return ("refused", str(error))
    return (found.request_input, found.session_key, found.timeout, found.stream)


@settings(max_examples=300, deadline=None)
@given(st.lists(CACHED_META, min_size=1, max_size=6))
def test_remembered_client_options_give_what_mapping_afresh_gives(metas: list[dict[str, Any]]) -> None:
    """The handler's cache of client options per meta shape never changes an
    outcome: the same input, the same session key, the same refusal (a
    cached True never lets 1 through)."""
    clients = ClientOptionsCache(CONFIG, PROFILES)
    for number, meta in enumerate([*metas, *metas]):  # each shape again, from the cache
        request = Request(f"https://example.com/{number}", meta=meta)

        def cached(request: Request = request) -> Any:
            return request_input_from(request, CONFIG, stream_id="s", profiles=PROFILES, clients=clients)

        def afresh(request: Request = request) -> Any:
            return request_input_from(request, CONFIG, stream_id="s", profiles=PROFILES)

        assert _outcome(cached) == _outcome(afresh)


@pytest.mark.parametrize(
    ("key", "good", "bad"),
    [
        ("tls_client_force_http1", True, 1),
        ("tls_client_force_http1", False, 0.0),
        ("tls_client_http3", False, 0),
        ("tls_client_random_tls_extension_order", True, 1.0),
    ],
)
def test_a_remembered_shape_never_lets_an_equal_value_of_another_type_through(
    key: str, good: object, bad: object
) -> None:
    clients = ClientOptionsCache(CONFIG, PROFILES)
    request_input_from(
        Request("https://e.com/", meta={key: good}), CONFIG, stream_id="s", profiles=PROFILES, clients=clients
    )
    with pytest.raises(ValueError, match=key):
        request_input_from(
            Request("https://e.com/", meta={key: bad}),
            CONFIG,
            stream_id="s",
            profiles=PROFILES,
            clients=clients,
        )


def test_a_cache_made_for_other_settings_is_not_used() -> None:
    clients = ClientOptionsCache(CONFIG, PROFILES)
    other = HandlerConfig.from_settings(Settings({"TLS_CLIENT_FORCE_HTTP1": True}))
    call = request_input_from(
        Request("https://e.com/"), other, stream_id="s", profiles=PROFILES, clients=clients
    )
    assert call.request_input.get("forceHttp1") is True


# -- native envelope -> response arguments -------------------------------------

HEADER_NAME = st.text(alphabet=string.ascii_letters + "-", min_size=1, max_size=12)
HEADER_VALUE = st.text(alphabet=st.characters(codec="latin-1", exclude_categories=("Cc",)), max_size=20)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=100, max_value=599),
    # Names distinct ignoring case, as in an envelope: Go's http.Header
    # canonicalises them, and Scrapy's Headers would merge "G" and "g".
    st.dictionaries(HEADER_NAME, st.lists(HEADER_VALUE, min_size=1, max_size=3), max_size=8).filter(
        lambda headers: len({name.lower() for name in headers}) == len(headers)
    ),
    st.binary(max_size=200),
)
def test_envelope_to_response_keeps_status_headers_repeats_and_body(
    status: int, headers: dict[str, list[str]], body: bytes
) -> None:
    envelope = {
        "id": "e1",
        "status": status,
        "headers": headers,
        "body": "data:application/octet-stream;base64," + base64.b64encode(body).decode(),
        "usedProtocol": "HTTP/2.0",
        "target": "https://example.com/",
    }
    native = response_from_envelope(envelope)
    assert native.status == status and native.body == body
    scrapy = scrapy_headers(native)
    for name, values in headers.items():
        # Every repeated value kept, in order (two Set-Cookie stay two); the
        # envelope's Latin-1 text (latin1Headers) back as the bytes sent.
        assert [v.decode("latin-1") for v in scrapy.getlist(name)] == values
    assert sum(len(scrapy.getlist(name)) for name in scrapy) == sum(len(v) for v in headers.values())
    # Built as Scrapy's own constructor builds it from the same pairs, as bytes.
    as_bytes = [(name, value.encode("latin-1")) for name, value in native.headers]
    assert dict(scrapy.items()) == dict(Headers(as_bytes).items())


# -- native error text -> exception class -------------------------------------

FRAGMENTS = [fragment for fragment, _ in _CODE_BY_FRAGMENT]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30), st.sampled_from(sorted(_CLASS_BY_CODE)), st.text(max_size=30))
def test_an_error_code_decides_the_class_whatever_the_text(before: str, code: str, after: str) -> None:
    error = native_error_from(before + after, code)
    assert type(error) is _CLASS_BY_CODE[code]
    assert error.code == code
    scrapy = scrapy_error_for(error, Request("https://example.com/"), 30.0)
    # Every native failure becomes one of Scrapy's exceptions (or ValueError
    # for refused input); none is an OSError RetryMiddleware would retry by accident.
    assert isinstance(scrapy, (ValueError, *(cls for _, cls in SCRAPY_EXCEPTION_FOR)))
    assert not isinstance(error, OSError)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40), st.sampled_from(FRAGMENTS), st.text(max_size=40))
def test_without_a_code_the_first_matching_fragment_decides(before: str, fragment: str, after: str) -> None:
    message = before + fragment + after
    expected = next(code for known, code in _CODE_BY_FRAGMENT if known in message)
    error = native_error_from(message, None)
    assert error.code == expected
    assert type(error) is _CLASS_BY_CODE.get(expected, NativeError)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=string.ascii_letters + " ", max_size=60))
def test_text_matching_no_fragment_is_a_generic_failure(message: str) -> None:
    if any(fragment in message for fragment in FRAGMENTS) or message == "EOF" or message.endswith(": EOF"):
        return
    error = native_error_from(message, None)
    assert type(error) is NativeError and error.code == "other"
    assert isinstance(scrapy_error_for(error, Request("https://e.com/"), 1.0), DownloadFailedError)
