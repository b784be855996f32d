"""Property tests of the pure mapping: request headers -> native header
pairs, for arbitrary valid and invalid headers."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scrapy import Request
from scrapy.http.headers import Headers

from scrapy_tlsclient._request_input import header_pairs

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
    expected = [
        [name.decode("latin-1"), value.decode("utf-8")]
        for name, values in scrapy_headers.items()
        for value in values
    ]
    assert pairs == expected


@settings(max_examples=200, deadline=None)
@given(TOKEN, VALUE, st.sampled_from([*CONTROLS, "\r\n"]), VALUE)
def test_no_value_with_a_control_character_gets_through(name: str, before: str, bad: str, after: str) -> None:
    with pytest.raises(ValueError, match="is not a valid header"):
        header_pairs(Request("https://e.com/", headers={name: before + bad + after}).headers)
