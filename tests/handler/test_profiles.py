"""Per-request browser profiles, seen on the wire by the test server."""

from __future__ import annotations

import json

import pytest
from scrapy import Request
from scrapy.exceptions import DownloadTimeoutError, NotConfigured
from scrapy.utils.defer import deferred_f_from_coro_f
from test_concurrency import gather

from conftest import Servers
from handler_utils import open_handler


@deferred_f_from_coro_f
async def test_profile_setting_and_meta_reach_the_client_hello(servers: Servers) -> None:
    async def hello(handler: object, **meta: object) -> dict[str, list[int]]:
        response = await handler.download_request(Request(f"{servers.h2}/tls", meta=meta))  # type: ignore[attr-defined]
        result: dict[str, list[int]] = json.loads(response.body)
        return result

    async with open_handler(TLS_CLIENT_PROFILE="firefox_147") as handler:
        firefox = await hello(handler)
        chrome = await hello(handler, tls_client_profile="chrome_150")
        again = await hello(handler, tls_client_profile="firefox_147")
    # Measured on this project's fingerprint server: JA4 t13d1717 for
    # firefox_147, t13d1516 for chrome_150 (the count includes GREASE here).
    assert firefox["cipher_suites"] == again["cipher_suites"]
    assert firefox["cipher_suites"] != chrome["cipher_suites"]
    assert firefox["extensions"] != chrome["extensions"]


@deferred_f_from_coro_f
async def test_unknown_profiles_are_refused(servers: Servers) -> None:
    async with open_handler() as handler:
        with pytest.raises(ValueError, match=r"close matches: [a-z0-9_, ]*chrome_150"):
            await handler.download_request(
                Request(f"{servers.h2}/tls", meta={"tls_client_profile": "chrome_15O"})
            )
    with pytest.raises(
        NotConfigured, match="TLS_CLIENT_PROFILE setting: unknown tls-client profile 'firefox_999'"
    ):
        async with open_handler(TLS_CLIENT_PROFILE="firefox_999"):
            pass


@deferred_f_from_coro_f
async def test_alpn_options_on_the_wire(servers: Servers) -> None:
    async def alpn(handler: object, **meta: object) -> list[str]:
        request = Request(f"{servers.https}/tls", meta={"tls_client_profile": "chrome_133", **meta})
        response = await handler.download_request(request)  # type: ignore[attr-defined]
        offered: list[str] = json.loads(response.body)["alpn"]
        return offered

    async with open_handler() as handler:
        # Measured: chrome_133 offers h3 on TCP unless HTTP/3 is disabled, which
        # no real Chrome does; so HTTP/3 is off unless asked for.
        assert "h3" not in await alpn(handler)
        assert "h3" in await alpn(handler, tls_client_http3=True)
        assert await alpn(handler, tls_client_force_http1=True) == ["http/1.1"]
    async with open_handler(TLS_CLIENT_FORCE_HTTP1=True) as handler:
        assert await alpn(handler) == ["http/1.1"]


@deferred_f_from_coro_f
async def test_no_deadline_for_long_responses(servers: Servers) -> None:
    slow = f"{servers.h2}/slowbody?delay_ms=1500"
    async with open_handler() as handler:
        with pytest.raises(DownloadTimeoutError):
            await handler.download_request(Request(slow, meta={"download_timeout": 0.5}))
        response = await handler.download_request(
            Request(slow, meta={"download_timeout": 0.5, "tls_client_no_deadline": True})
        )
        assert response.status == 200


@pytest.mark.parametrize("key", ["tls_client_http3", "tls_client_force_http1", "tls_client_no_deadline"])
@deferred_f_from_coro_f
async def test_boolean_meta_keys_refuse_other_values(servers: Servers, key: str) -> None:
    async with open_handler() as handler:
        with pytest.raises(ValueError, match=f"'{key}' request meta key must be True or False"):
            await handler.download_request(Request(f"{servers.h2}/tls", meta={key: "yes"}))


@deferred_f_from_coro_f
async def test_identities_never_share_a_connection(servers: Servers) -> None:
    async def connections(handler: object, identity: str) -> int:
        request = Request(f"{servers.h2}/conns?who={identity}", meta={"tls_client_session": identity})
        response = await handler.download_request(request)  # type: ignore[attr-defined]
        accepted: int = json.loads(response.body)["accepted"]
        return accepted

    async with open_handler() as handler:
        first = await connections(handler, "alice")
        assert await connections(handler, "alice") == first  # reused
        assert await connections(handler, "bob") == first + 1  # a connection of its own
        assert len(handler._sessions) == 2
        with pytest.raises(
            ValueError, match="'tls_client_session' request meta key must be a non-empty name string"
        ):
            await handler.download_request(Request(f"{servers.h2}/conns", meta={"tls_client_session": 7}))


PROFILES = ("chrome_150", "chrome_146", "firefox_147", "safari_ios_18_5")


def _hello_key(hello: dict[str, list[int]]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Cipher suites and extensions without GREASE values (random per hello)."""

    def real(values: list[int]) -> tuple[int, ...]:
        return tuple(sorted(v for v in values if (v & 0x0F0F) != 0x0A0A))

    return real(hello["cipher_suites"]), real(hello["extensions"])


@deferred_f_from_coro_f
async def test_200_concurrent_requests_keep_their_own_profiles(servers: Servers) -> None:
    async def hello_of(handler: object, profile: str, i: int) -> tuple[str, object]:
        request = Request(f"{servers.h2}/tls?i={i}", meta={"tls_client_profile": profile})
        response = await handler.download_request(request)  # type: ignore[attr-defined]
        return profile, _hello_key(json.loads(response.body))

    async with open_handler(CONCURRENT_REQUESTS=64) as handler:
        reference = {p: (await hello_of(handler, p, -1))[1] for p in PROFILES}
        assert len(set(reference.values())) == len(PROFILES)  # four different ClientHellos
        results = await gather(*(hello_of(handler, PROFILES[i % 4], i) for i in range(200)))
    assert all(not isinstance(r, Exception) for r in results), results[:3]
    assert all(hello == reference[profile] for profile, hello in results)  # type: ignore[misc]
