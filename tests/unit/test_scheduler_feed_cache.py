"""Built calendars are kept by ETag within a byte budget, least recently used out first."""

from __future__ import annotations

from services.scheduler.feeds import BuiltFeeds


def test_built_feeds_keep_the_recently_used_within_their_budget() -> None:
    built = BuiltFeeds(max_bytes=10)
    built.put('"a"', b"aaaa")
    built.put('"b"', b"bbbb")
    assert built.get('"a"') == b"aaaa"  # "a" is now the most recently used
    built.put('"c"', b"cccc")
    assert built.get('"b"') is None
    assert built.get('"a"') == b"aaaa" and built.get('"c"') == b"cccc"
    assert built.size == 8
    built.put('"huge"', b"x" * 11)
    assert built.get('"huge"') is None and built.size == 8
