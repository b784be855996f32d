"""Recognising a blocked response: status codes, the big bot-protection
vendors' challenge and denial pages, and ``Retry-After``. Pure functions
over a status, headers and the start of a body.

A signature is only listed when it appears on the vendor's interstitial and
not on an ordinary page that merely embeds the vendor (a contact form with
reCAPTCHA, a site that loads a vendor's script on every page): a false
block costs a retry and a cool-down, so the markers are the ones the
vendors' own documentation and the open-source solvers key on.
"""

from __future__ import annotations

import email.utils
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

__all__ = ["SIGNATURES", "Signature", "block_reason", "retry_after_seconds"]

#: How much of a body is searched: every interstitial below names itself
#: in its first few kilobytes, and a large page is not a challenge.
BODY_PREFIX = 32 * 1024


@dataclass(frozen=True)
class Signature:
    #: The name in retry reasons and docs ("cloudflare", ...).
    name: str
    #: Lower-case header name -> lower-case value it must contain ("":
    #: present at all); any one matching is enough.
    headers: tuple[tuple[str, str], ...] = ()
    #: Lower-case byte strings; any one in the body is enough.
    body: tuple[bytes, ...] = ()


#: The documented defaults (docs/failover.rst lists them with their sources).
SIGNATURES: tuple[Signature, ...] = (
    # Cloudflare marks every challenge answer with cf-mitigated: challenge
    # (developers.cloudflare.com/cloudflare-challenges/challenge-types/
    # challenge-pages/detect-response); its interstitials ("Just a
    # moment...", "Attention Required!") load /cdn-cgi/challenge-platform.
    Signature(
        "cloudflare",
        headers=(("cf-mitigated", "challenge"),),
        body=(
            b"<title>just a moment...</title>",
            b"/cdn-cgi/challenge-platform/",
            b"attention required! | cloudflare",
        ),
    ),
    # DataDome's captcha and device-check pages load from
    # captcha-delivery.com (docs.datadome.co, "Response page").
    Signature("datadome", body=(b"captcha-delivery.com",)),
    # HUMAN (PerimeterX) "Press & Hold" block page.
    Signature("perimeterx", body=(b'id="px-captcha"', b"_pxblock")),
    # Akamai's denial: "Access Denied ... Reference #18.xxxx".
    Signature("akamai", body=(b"<title>access denied</title>",)),
    # Imperva (Incapsula) block and challenge iframes.
    Signature("imperva", body=(b"_incapsula_resource", b"incapsula incident id")),
    # AWS WAF answers its CAPTCHA and challenge actions with this header
    # (docs.aws.amazon.com/waf/latest/developerguide/waf-captcha-and-challenge-how-it-works).
    Signature("aws-waf", headers=(("x-amzn-waf-action", ""),)),
)


def block_reason(
    status: int,
    header: Callable[[str], str | None],
    body: bytes,
    block_codes: Collection[int],
    signatures: tuple[Signature, ...] = SIGNATURES,
) -> str | None:
    """Why a response is a block ("<status> <signature>", or "<status>"
    when only its status says so), or None. ``header`` returns a header's
    value by lower-case name, None when absent."""
    head = body[:BODY_PREFIX].lower()
    for signature in signatures:
        if any(
            (value := header(name)) is not None and expected in value.lower()
            for name, expected in signature.headers
        ) or any(marker in head for marker in signature.body):
            return f"{status} {signature.name}"
    if status in block_codes:
        return str(status)
    return None


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """``Retry-After`` (RFC 9110 10.2.3: seconds or an HTTP date) as
    seconds from ``now`` (epoch seconds), 0 for a date in the past; None
    when absent or malformed."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        return None
    seconds = when.timestamp() - now
    return max(0.0, seconds) if math.isfinite(seconds) else None
