"""Stream framing: byte-at-a-time, random chunks, keep-alives, limits (RFC 3261 §18.3,
RFC 5626 §4.4.1)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipcore.errors import FramingError
from sipcore.framing import FramedMessage, KeepAlivePing, KeepAlivePong, StreamFramer
from sipcore.parser import parse_message
from tests.support import sip_samples as samples

STREAM_MESSAGES = [
    samples.PJSUA_REGISTER,
    samples.OPTIONS_WITH_BODY,
    samples.POLYCOM_REGISTER,  # compact "l: 0"
    samples.RESPONSE_200,
]
STREAM = (
    b"\r\n\r\n"
    + STREAM_MESSAGES[0]
    + b"\r\n\r\n"
    + STREAM_MESSAGES[1]
    + STREAM_MESSAGES[2]
    + b"\r\n"
    + STREAM_MESSAGES[3]
)
EXPECTED = [
    KeepAlivePing(),
    FramedMessage(data=STREAM_MESSAGES[0]),
    KeepAlivePing(),
    FramedMessage(data=STREAM_MESSAGES[1]),
    FramedMessage(data=STREAM_MESSAGES[2]),
    KeepAlivePong(),
    FramedMessage(data=STREAM_MESSAGES[3]),
]


def test_whole_stream_at_once() -> None:
    framer = StreamFramer()
    assert framer.feed(STREAM) == EXPECTED
    assert framer.buffered == 0


def test_one_byte_at_a_time() -> None:
    framer = StreamFramer()
    events = []
    for i in range(len(STREAM)):
        events += framer.feed(STREAM[i : i + 1])
    assert events == EXPECTED
    for event in events:
        if isinstance(event, FramedMessage):
            parse_message(event.data, stream=True)


@settings(max_examples=200, deadline=None)
@given(cuts=st.lists(st.integers(0, len(STREAM)), max_size=30))
def test_random_chunks(cuts: list[int]) -> None:
    framer = StreamFramer()
    events = []
    bounds = [0, *sorted(cuts), len(STREAM)]
    for start, end in itertools.pairwise(bounds):
        events += framer.feed(STREAM[start:end])
    assert events == EXPECTED


def test_ping_split_across_reads_is_one_ping() -> None:
    framer = StreamFramer()
    assert framer.feed(b"\r\n") == []
    assert framer.feed(b"\r") == []
    assert framer.feed(b"\n") == [KeepAlivePing()]


def test_missing_content_length_closes_the_stream() -> None:
    framer = StreamFramer()
    data = samples.UNREGISTER_ALL.replace(b"Content-Length: 0\r\n", b"")
    with pytest.raises(FramingError) as caught:
        framer.feed(data)
    assert caught.value.status_hint == 400
    with pytest.raises(FramingError):  # broken for good
        framer.feed(samples.UNREGISTER_ALL)


@pytest.mark.parametrize(
    "data",
    [
        samples.UNREGISTER_ALL.replace(b"Content-Length: 0", b"Content-Length: x"),
        samples.UNREGISTER_ALL.replace(b"Content-Length: 0", b"Content-Length: 0\r\nl: 4"),
        b"\n\nREGISTER",
    ],
)
def test_unframeable(data: bytes) -> None:
    with pytest.raises(FramingError):
        StreamFramer().feed(data)


def test_size_limit_on_headers_and_declared_body() -> None:
    framer = StreamFramer(max_size=1024)
    with pytest.raises(FramingError) as caught:
        for _ in range(100):
            framer.feed(b"X-Pad: " + b"a" * 50 + b"\r\n")
    assert caught.value.status_hint == 413
    assert framer.buffered == 0
    framer = StreamFramer(max_size=1024)
    big = samples.UNREGISTER_ALL.replace(b"Content-Length: 0", b"Content-Length: 5000")
    with pytest.raises(FramingError) as caught:
        framer.feed(big)  # refused before the body arrives
    assert caught.value.status_hint == 413


def test_message_exactly_at_limit_passes() -> None:
    head = samples.UNREGISTER_ALL.replace(b"Content-Length: 0", b"Content-Length: 100")
    framer = StreamFramer(max_size=len(head) + 100)
    assert framer.feed(head + b"b" * 100) == [FramedMessage(data=head + b"b" * 100)]
