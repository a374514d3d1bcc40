"""Parse caches help repeated REGISTERs but never hold what an attacker sends in bulk."""

from __future__ import annotations

from sipcore.headers import _parse_name_addr_cached, clear_caches, parse_name_addr
from sipcore.uri import _parse_uri_cached, parse_uri


def test_long_texts_are_not_cached() -> None:
    clear_caches()
    long_user = "a" * 2000
    parse_uri(f"sip:{long_user}@example.com")
    parse_name_addr(f"<sip:{long_user}@example.com>;tag=1")
    assert _parse_uri_cached.cache_info().currsize == 0
    assert _parse_name_addr_cached.cache_info().currsize == 0


def test_repeated_texts_share_one_parse() -> None:
    clear_caches()
    first = parse_name_addr("<sip:phone@example.com>")
    assert parse_name_addr("<sip:phone@example.com>") is first
    assert _parse_name_addr_cached.cache_info().hits == 1
    assert _parse_uri_cached.cache_info().currsize == 1
