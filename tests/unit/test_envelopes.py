from __future__ import annotations

import base64

import pytest

from scrapy_tlsclient.binding import envelopes as env
from scrapy_tlsclient.binding import errors


def data_url(payload: bytes, mime: str = "application/octet-stream") -> str:
    return f"data:{mime};base64," + base64.b64encode(payload).decode()


def test_body_from_data_url_ignores_sniffed_mime() -> None:
    payload = bytes(range(256))
    assert env.body_from_envelope(data_url(payload, "text/plain; charset=utf-8")) == payload
    assert env.body_from_envelope(data_url(b"")) == b""


def test_body_text_mode_is_utf8() -> None:
    assert env.body_from_envelope("héllo") == "héllo".encode()


def test_malformed_data_url_is_an_error() -> None:
    with pytest.raises(errors.NativeError, match="malformed data URL"):
        env.body_from_envelope("data:nocomma")


def test_headers_keep_repeats_in_order() -> None:
    envelope = {"headers": {"Set-Cookie": ["a=1", "b=2"], "X-One": ["v"]}}
    assert env.headers_from_envelope(envelope) == [
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
        ("X-One", "v"),
    ]
    assert env.headers_from_envelope({"headers": None}) == []


def test_response_envelope_decodes_extensions() -> None:
    cert = b"\x30\x82der"
    response = env.response_from_envelope(
        {
            "id": "t1",
            "status": 201,
            "headers": {"A": ["1"]},
            "body": data_url(b"\x00\xff"),
            "usedProtocol": "HTTP/2.0",
            "target": "https://localhost/x",
            "sessionId": "s",
            "remoteAddress": "127.0.0.1:443",
            "tls": {
                "version": "TLS 1.3",
                "cipherSuite": "TLS_AES_128_GCM_SHA256",
                "negotiatedProtocol": "h2",
                "serverName": "localhost",
                "peerCertificate": base64.b64encode(cert).decode(),
            },
            "bodyBytes": 2,
            "debugLog": ["DEBUG: x"],
        }
    )
    assert response.status == 201
    assert response.body == b"\x00\xff"
    assert response.protocol == "HTTP/2.0"
    assert response.remote_address == "127.0.0.1:443"
    assert response.tls is not None
    assert response.tls.peer_certificate_der == cert
    assert response.debug_log == ["DEBUG: x"]


def test_error_envelope_raises_typed_error() -> None:
    with pytest.raises(errors.NativeTimeoutError) as info:
        env.response_from_envelope(
            {"id": "t", "status": 0, "body": "Client.Timeout exceeded", "headers": None}
        )
    assert "Client.Timeout" in info.value.message


def test_error_code_from_envelope_beats_text() -> None:
    with pytest.raises(errors.UnknownProfileError):
        env.response_from_envelope({"status": 0, "body": "whatever", "errorCode": "unknown_profile"})


@pytest.mark.parametrize(
    ("envelope", "expected"),
    [
        (
            {"streamId": "s", "chunk": base64.b64encode(b"abc").decode(), "eof": False, "timeout": False},
            env.StreamRead(chunk=b"abc"),
        ),
        ({"streamId": "s", "chunk": "", "eof": True, "timeout": False}, env.StreamRead(eof=True)),
        ({"streamId": "s", "chunk": "", "eof": False, "timeout": True}, env.StreamRead(timeout=True)),
    ],
)
def test_stream_reads(envelope: dict[str, object], expected: env.StreamRead) -> None:
    assert env.stream_read_from_envelope(envelope) == expected


def test_stream_read_error_and_malformed_input_shapes() -> None:
    with pytest.raises(errors.NativeDataLossError):
        env.stream_read_from_envelope(
            {"streamId": "s", "error": "unexpected EOF", "eof": False, "timeout": False}
        )
    with pytest.raises(errors.NativeInputError):
        env.stream_read_from_envelope({"status": 0, "body": "unexpected end of JSON input", "headers": None})


def test_prefetched_stream_envelope() -> None:
    done = env.response_from_envelope({"status": 200, "body": data_url(b"abc"), "eof": True})
    assert done.eof
    assert done.body == b"abc"
    assert done.stream_id is None
    assert done.body_error is None
    failed = env.response_from_envelope(
        {"status": 200, "body": data_url(b"ab"), "bodyError": "unexpected EOF", "bodyErrorCode": "dataloss"}
    )
    assert isinstance(failed.body_error, errors.NativeDataLossError)
    assert not failed.eof
