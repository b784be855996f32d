from __future__ import annotations

import pytest

from scrapy_tlsclient.binding import errors

# Exact strings measured from tls-client v1.16.0's shared library against
# loopback servers (Go's net and fhttp errors, as its cffi ABI returns them).
UPSTREAM_MESSAGES = [
    (
        'failed to do request: Get "http://127.0.0.1:1/": dial tcp 127.0.0.1:1: connect: connection refused',
        "connection_refused",
    ),
    (
        'failed to do request: Get "http://nonexistent-host.invalid/": dial tcp: lookup nonexistent-host.invalid '
        "on 10.255.255.53:53: no such host",
        "dns",
    ),
    (
        'failed to do request: Get "http://x/": context deadline exceeded (Client.Timeout exceeded while awaiting '
        "headers)",
        "timeout",
    ),
    (
        'failed to do request: Get "http://x/": net/http: request canceled (Client.Timeout exceeded while '
        "awaiting headers)",
        "timeout",
    ),
    ("net/http: request canceled (Client.Timeout or context cancellation while reading body)", "timeout"),
    ('failed to do request: Get "https://x/": dial tcp 127.0.0.1:18499: i/o timeout', "timeout"),
    ("unexpected EOF", "dataloss"),
    ('failed to do request: Get "http://x/": EOF', "connection_lost"),
    (
        'failed to do request: Get "http://x/": net/http: HTTP/1.x transport connection broken: malformed HTTP '
        'status code "HTTP"',
        "protocol",
    ),
    (
        'failed to do request: Get "https://127.0.0.1:18445/text": tls: failed to verify certificate: x509: '
        "certificate signed by unknown authority",
        "tls",
    ),
    ('failed to do request: Get "https://127.0.0.1:18497/": remote error: tls: certificate required', "tls"),
    ("bad ssl pin detected", "tls"),
    ('failed to do request: Get "ftp://127.0.0.1/x": invalid URL scheme: [ftp]', "unsupported_scheme"),
    (
        'failed to create request object: parse "ht!tp://bad url": first path segment in URL cannot contain colon',
        "invalid_url",
    ),
    ("no request url or request method provided", "invalid_input"),
    ("invalid character 'n' looking for beginning of object key string", "invalid_input"),
    ("unexpected end of JSON input", "invalid_input"),
    ("gzip: invalid header", "decoding"),
    ('failed to build client out of request input: parse "://bad": missing protocol scheme', "invalid_input"),
    ("open /nonexistent_dir/x.bin: no such file or directory", "file"),
    ("something nobody anticipated", "other"),
]


@pytest.mark.parametrize(("message", "code"), UPSTREAM_MESSAGES)
def test_classify_upstream_messages(message: str, code: str) -> None:
    assert errors.classify_native_error(message) == code


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("timeout", errors.NativeTimeoutError),
        ("connection_refused", errors.NativeConnectionRefusedError),
        ("dns", errors.NativeDNSError),
        ("tls", errors.NativeTLSError),
        ("dataloss", errors.NativeDataLossError),
        ("connection_lost", errors.NativeConnectionLostError),
        ("cancelled", errors.NativeCancelledError),
        ("unknown_profile", errors.UnknownProfileError),
        ("unsupported_scheme", errors.NativeInvalidURLError),
        ("file", errors.NativeFileError),
        ("brand_new_code", errors.NativeError),
    ],
)
def test_error_code_picks_the_class(code: str, cls: type[errors.NativeError]) -> None:
    error = errors.native_error_from("text", code)
    assert type(error) is cls
    assert error.message == "text"
    assert error.code == code


def test_explicit_code_wins_over_message() -> None:
    assert isinstance(errors.native_error_from("unexpected EOF", "timeout"), errors.NativeTimeoutError)


def test_no_native_error_is_an_oserror() -> None:
    # Scrapy retries every OSError; permanent failures must not slip in.
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type):
            assert not issubclass(obj, OSError), name
