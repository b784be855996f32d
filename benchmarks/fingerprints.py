"""Measure every profile's fingerprint on loopback and write the profiles
table of the docs (docs/_generated/profiles_table.rst).

Each profile's request is built by the same mapping and middleware the
crawler uses (browser headers, default options), sent through the native
library to the test server's fingerprint-inspecting endpoint, and compared
with the published values of the real browser.

    python benchmarks/fingerprints.py [--output docs/_generated/profiles_table.rst]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from scrapy import Request
from scrapy.downloadermiddlewares.defaultheaders import DefaultHeadersMiddleware
from scrapy.downloadermiddlewares.httpcompression import ACCEPTED_ENCODINGS
from scrapy.downloadermiddlewares.useragent import UserAgentMiddleware
from scrapy.settings import Settings, default_settings

from scrapy_tlsclient._config import HandlerConfig
from scrapy_tlsclient._profiles import KNOWN_BAD_PROFILES
from scrapy_tlsclient._request_input import request_input_from
from scrapy_tlsclient.binding import get_library
from scrapy_tlsclient.middleware import TLSClientMiddleware

from _testserver import test_server

CHROME_AKAMAI = "1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p"
FIREFOX_AKAMAI = "1:65536;2:0;4:131072;5:16384|12517377|0|m,p,a,s"
SAFARI_AKAMAI = "2:0;3:100;4:2097152;9:1|10420225|0|m,s,a,p"

#: profile -> (the real browser's published JA4 or None, Akamai or None, sources);
#: source keys refer to docs/profiles.rst.
PUBLISHED: dict[str, tuple[str | None, str | None, str]] = {
    "chrome_131": ("t13d1516h2_8daaf6152771_02713d6af862", CHROME_AKAMAI, "S2, S4"),
    "chrome_133": ("t13d1516h2_8daaf6152771_d8a2da3f94cd", CHROME_AKAMAI, "S3, S4"),
    "chrome_144": ("t13d1516h2_8daaf6152771_d8a2da3f94cd", CHROME_AKAMAI, "S3, S4"),
    "chrome_146": ("t13d1517h2_8daaf6152771_b6f405a00624", CHROME_AKAMAI, "S10, S5"),
    "chrome_150": ("t13d1516h2_8daaf6152771_806a8c22fdea", CHROME_AKAMAI, "S10, S5"),
    "chrome_152": ("t13d1517h2_8daaf6152771_cb7bf5808d99", CHROME_AKAMAI, "S10, S5"),
    "firefox_135": (None, FIREFOX_AKAMAI, "S5"),
    "firefox_147": ("t13d1717h2_5b57614c22b0_3cbfd9057e0d", FIREFOX_AKAMAI, "S7, S5"),
    "firefox_148": ("t13d1717h2_5b57614c22b0_3cbfd9057e0d", FIREFOX_AKAMAI, "S7, S5"),
    "safari_ios_18_5": ("t13d2014h2_a09f3c656075_e42f34c56612", SAFARI_AKAMAI, "S9"),
    "safari_ios_26_0": ("t13d2013h2_a09f3c656075_7f0f34a4126d", SAFARI_AKAMAI, "S6, S4"),
}


def measure(
    url: str, profile: str, middleware: TLSClientMiddleware, config: HandlerConfig
) -> dict[str, object]:
    request = Request(f"{url}/?{profile}", meta={"tls_client_profile": profile})
    DefaultHeadersMiddleware(default_settings.DEFAULT_REQUEST_HEADERS.items()).process_request(request)
    UserAgentMiddleware(default_settings.USER_AGENT).process_request(request)
    request.headers.setdefault(b"Accept-Encoding", b", ".join(ACCEPTED_ENCODINGS))
    middleware.process_request(request)
    library = get_library()
    call = request_input_from(request, config, stream_id=f"fp-{profile}", profiles=library.info.profiles)
    response = library.request({**call.request_input, "streamId": ""})
    library.destroy_all()  # a fresh client (and connection) per profile
    seen: dict[str, object] = json.loads(response.body)
    return seen


def verdict(measured: str, published: str | None) -> str:
    if published is None:
        return "n/a"
    return "yes" if measured == published else "**NO**"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--output", type=Path, default=Path("docs/_generated/profiles_table.rst"))
    args = parser.parse_args()
    library = get_library()
    config = HandlerConfig.from_settings(Settings())
    middleware = TLSClientMiddleware(config, library.info.profiles)
    rows = []
    with test_server() as urls:
        for profile in sorted(library.info.profiles):
            seen = measure(urls["fingerprint"], profile, middleware, config)
            ja4, akamai = str(seen["ja4"]), str(seen["akamai"])
            published_ja4, published_akamai, sources = PUBLISHED.get(profile, (None, None, ""))
            # Fingerprints in the note as literals (a trailing "_" is RST syntax).
            note = re.sub(
                r"(\.\.\._\w+|t1\w+(?:\.\.\.)?)",
                r"``\1``",
                KNOWN_BAD_PROFILES.get(profile.removesuffix("_PSK"), ""),
            )
            rows.append(
                [
                    f"``{profile}``",
                    f"``{ja4}``",
                    f"``{seen['ja3_hash']}``",
                    f"``{akamai}``",
                    f"{verdict(ja4, published_ja4)} / {verdict(akamai, published_akamai)}",
                    sources,
                    note,
                ]
            )
            print(profile, ja4, akamai, rows[-1][4], file=sys.stderr)
    lines = [
        ".. Generated by benchmarks/fingerprints.py; do not edit by hand.",
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 14 26 18 24 8 5 20",
        "",
        "   * - Profile",
        "     - JA4 (measured)",
        "     - JA3 MD5 (one connection)",
        "     - Akamai HTTP/2 (measured)",
        "     - Published match JA4 / Akamai",
        "     - Sources",
        "     - Known problem",
    ]
    for row in rows:
        lines.append(f"   * - {row[0]}")
        lines.extend(f"     - {cell}" if cell else "     -" for cell in row[1:])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.output} ({len(rows)} profiles)", file=sys.stderr)


if __name__ == "__main__":
    main()
