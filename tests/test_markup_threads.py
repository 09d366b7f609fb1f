"""Markdown parsed on many threads at once (trackers sync in parallel, backfill workers too):
mdurl's percent-encoding tables, filled lazily and published half-filled, are filled before
any thread gets the parser."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import mdurl
import pytest
from mdurl import _decode, _encode

from syncer.markup import tree

LINK = "See [the runbook](https://wiki.example.com/런북 page?q=a b#x) and <https://b.example/ü>"


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in a new process: no table filled yet, no parser made."""
    monkeypatch.setattr(_encode, "encode_cache", {})
    monkeypatch.setattr(_decode, "decode_cache", {})
    tree._parser.cache_clear()


def test_the_tables_are_full_before_the_parser_is_handed_out(fresh: None) -> None:
    tree._parser()
    assert len(_encode.encode_cache[mdurl.ENCODE_DEFAULT_CHARS]) == 128
    assert len(_decode.decode_cache[mdurl.DECODE_DEFAULT_CHARS + "%"]) == 128


def test_eight_threads_parsing_links_at_once_agree(fresh: None) -> None:
    start = Barrier(8)

    def parse(_: int) -> str:
        start.wait()
        return repr(tree.parse(LINK))

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(parse, range(8)))
    assert results == [repr(tree.parse(LINK))] * 8
