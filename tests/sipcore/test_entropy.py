"""The buffered CSPRNG bytes behind tags, branches and nonces (`sipcore.syntax`)."""

from __future__ import annotations

from sipcore.message import new_branch, new_tag
from sipcore.syntax import _EntropyPool


def test_every_byte_is_handed_out_once_across_refills() -> None:
    pool = _EntropyPool()
    taken = [pool.take(10) for _ in range(2000)]  # several 4 KiB refills
    assert all(len(item) == 10 for item in taken)
    assert len(set(taken)) == len(taken)


def test_a_request_larger_than_the_buffer_is_served_whole() -> None:
    pool = _EntropyPool()
    assert len(pool.take(_EntropyPool.SIZE + 1)) == _EntropyPool.SIZE + 1


def test_tags_and_branches_stay_unique_and_hex() -> None:
    tags = {new_tag() for _ in range(5000)}
    branches = {new_branch() for _ in range(5000)}
    assert len(tags) == 5000 and len(branches) == 5000
    assert all(len(tag) == 12 and int(tag, 16) >= 0 for tag in tags)
    assert all(branch.startswith("z9hG4bK") for branch in branches)
