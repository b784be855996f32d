"""The failover's pure parts with a clock the test controls: sticky
identity per site, cool-down with backoff, Retry-After, the order a
blocked request tries the pool in, saving and resuming; and recognising a
block."""

from __future__ import annotations

import email.utils

import pytest

from scrapy_tlsclient._blocks import block_reason, retry_after_seconds
from scrapy_tlsclient._failover_state import Choice, FailoverState

POOL = ("a", "b", "c")
CODES = frozenset({403, 429, 503})


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def state_with(clock: Clock, pool: tuple[str, ...] = POOL) -> FailoverState:
    return FailoverState(pool, cooldown=60, max_cooldown=600, clock=clock)


def test_a_new_site_starts_with_the_first_identity_and_sticks_to_the_last_that_passed(clock: Clock) -> None:
    state = state_with(clock)
    assert state.choose("x.com") == Choice("a", 0.0)
    state.passed("x.com", "b")
    assert state.choose("x.com") == Choice("b", 0.0)
    assert state.choose("y.com") == Choice("a", 0.0)  # per site
    outcome = state.passed("x.com", "c")
    assert (outcome.sticky_before, outcome.sticky_after) == ("b", "c")


def test_a_blocked_identity_cools_down_and_the_next_one_is_used(clock: Clock) -> None:
    state = state_with(clock)
    state.passed("x.com", "a")
    outcome = state.blocked("x.com", "a")
    assert outcome.cooldown == 60 and outcome.sticky_after is None
    assert state.choose("x.com") == Choice("b", 0.0)
    state.passed("x.com", "b")
    clock.now += 61
    # a's cool-down is over, but b passed last: b stays.
    assert state.available("x.com", "a")
    assert state.choose("x.com") == Choice("b", 0.0)
    assert state.choose("y.com") == Choice("a", 0.0)  # the block was x.com's only


def test_blocks_in_a_row_double_the_cool_down_up_to_the_ceiling_and_a_pass_resets_it(clock: Clock) -> None:
    state = state_with(clock)
    cooldowns = []
    for _ in range(6):
        cooldowns.append(state.blocked("x.com", "a").cooldown)
        clock.now = state.cooling_until("x.com", "a") + 1
    assert cooldowns == [60, 120, 240, 480, 600, 600]
    state.passed("x.com", "a")
    assert state.blocked("x.com", "a").cooldown == 60


def test_blocks_of_requests_sent_before_the_first_came_back_do_not_add_up(clock: Clock) -> None:
    state = state_with(clock)
    state.blocked("x.com", "a")
    clock.now += 1
    assert state.blocked("x.com", "a").cooldown == 59
    clock.now = state.cooling_until("x.com", "a") + 1
    assert state.blocked("x.com", "a").cooldown == 120  # the second block in a row


def test_retry_after_is_honoured_and_capped(clock: Clock) -> None:
    state = state_with(clock)
    assert state.blocked("x.com", "a", retry_after=300).cooldown == 300
    assert state.blocked("x.com", "b", retry_after=5).cooldown == 60  # never shorter than the backoff
    assert state.blocked("x.com", "c", retry_after=86400).cooldown == 600
    # An identity already cooling down is kept away for Retry-After more.
    clock.now += 200
    assert state.blocked("x.com", "a", retry_after=250).cooldown == 250


def test_when_every_identity_cools_down_the_one_that_ends_first_is_chosen_with_the_wait(clock: Clock) -> None:
    state = state_with(clock)
    state.blocked("x.com", "a", retry_after=100)
    state.blocked("x.com", "b", retry_after=90)
    state.blocked("x.com", "c", retry_after=200)
    assert state.choose("x.com") == Choice("b", 90.0)
    clock.now += 90
    assert state.choose("x.com") == Choice("b", 0.0)


def test_a_blocked_request_tries_the_pool_from_the_identity_after_the_one_that_blocked(clock: Clock) -> None:
    state = state_with(clock)
    state.passed("x.com", "b")
    # A page block (not the identity's) leaves b sticky and available, but
    # the retry of that request goes to another identity.
    state.blocked("x.com", "b", strike=False)
    assert state.sticky("x.com") == "b" and state.available("x.com", "b")
    assert state.choose("x.com", instead_of="b") == Choice("c", 0.0)
    assert state.choose("x.com", instead_of="c") == Choice("b", 0.0)  # the sticky one first
    state.blocked("x.com", "c")
    assert state.choose("x.com", instead_of="c").identity == "b"
    # With a pool of one, the identity that blocked is the only choice.
    alone = state_with(clock, ("a",))
    assert alone.choose("x.com", instead_of="a") == Choice("a", 0.0)


def test_a_pass_of_an_identity_cooling_down_changes_nothing(clock: Clock) -> None:
    state = state_with(clock)
    state.passed("x.com", "a")
    state.blocked("x.com", "a")
    state.passed("x.com", "b")
    outcome = state.passed("x.com", "a")  # sent before the block came back
    assert (outcome.sticky_before, outcome.sticky_after) == ("b", "b")
    assert not state.available("x.com", "a")


def test_the_state_survives_a_save_and_a_new_pool(clock: Clock) -> None:
    state = state_with(clock)
    state.passed("x.com", "b")
    state.blocked("x.com", "a", retry_after=300)
    state.passed("y.com", "c")
    saved = state.to_json()
    assert saved["sites"]["x.com"] == {
        "sticky": "b",
        "identities": {"a": {"strikes": 1, "until": clock.now + 300}},
    }
    resumed = state_with(clock, ("a", "b"))
    assert resumed.load_json(saved) == 2
    assert resumed.choose("x.com") == Choice("b", 0.0)
    assert resumed.sticky("y.com") is None  # c is not in the new pool
    clock.now += 301
    assert resumed.available("x.com", "a")
    assert resumed.to_json()["sites"]["x.com"]["identities"] == {"a": {"strikes": 1, "until": clock.now - 1}}
    assert state_with(clock).load_json({"format": 99, "sites": {}}) == 0
    assert state_with(clock).load_json({"format": 1, "sites": {"x.com": {"sticky": 5}}}) == 0
    assert state_with(clock).load_json([1, 2]) == 0


def test_retry_after_reads_seconds_and_dates(clock: Clock) -> None:
    assert retry_after_seconds("120", clock.now) == 120
    assert retry_after_seconds(" 7 ", clock.now) == 7
    date = email.utils.formatdate(clock.now + 90, usegmt=True)
    assert retry_after_seconds(date, clock.now) == 90
    past = email.utils.formatdate(clock.now - 90, usegmt=True)
    assert retry_after_seconds(past, clock.now) == 0
    for bad in (None, "", "soon", "-5", "1.5"):
        assert retry_after_seconds(bad, clock.now) is None


def _headers(**headers: str) -> dict[str, str]:
    return {name.replace("_", "-"): value for name, value in headers.items()}


@pytest.mark.parametrize(
    ("status", "headers", "body", "reason"),
    [
        (200, {}, b"<html><title>Shop</title>", None),
        (404, {}, b"not here", None),
        (403, {}, b"forbidden", "403"),
        (429, {"retry-after": "5"}, b"", "429"),
        (503, {}, b"<!DOCTYPE html><title>Just a moment...</title>", "503 cloudflare"),
        (200, {"cf-mitigated": "challenge"}, b"", "200 cloudflare"),
        (
            403,
            {},
            b"<script src='/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1'>",
            "403 cloudflare",
        ),
        (403, {}, b"<title>Attention Required! | Cloudflare</title>", "403 cloudflare"),
        (403, {}, b"<script src='https://ct.captcha-delivery.com/c.js'>", "403 datadome"),
        (403, {}, b'<div id="px-captcha"></div>', "403 perimeterx"),
        (403, {}, b"<HTML><HEAD><TITLE>Access Denied</TITLE></HEAD>", "403 akamai"),
        (200, {}, b"<iframe src='/_Incapsula_Resource?x=1'>", "200 imperva"),
        (202, {"x-amzn-waf-action": "challenge"}, b"", "202 aws-waf"),
        # A contact form with reCAPTCHA is not a wall.
        (200, {}, b"<div class='g-recaptcha' data-sitekey='x'></div>", None),
        # Only the start of a body is searched.
        (200, {}, b"x" * 40_000 + b"<title>Just a moment...</title>", None),
    ],
)
def test_block_reason(status: int, headers: dict[str, str], body: bytes, reason: str | None) -> None:
    assert block_reason(status, headers.get, body, CODES) == reason


def test_block_codes_are_configurable() -> None:
    assert block_reason(403, {}.get, b"", frozenset({429})) is None
    assert block_reason(418, {}.get, b"", frozenset({418})) == "418"
