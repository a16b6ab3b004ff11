"""AES-GCM nonces drawn in blocks (``store/nonces.py``): never handed out twice — not
within a thread, not across threads, not by a forked child and its parent."""

from __future__ import annotations

import os
import threading

import pytest

from casestore.store import nonces


def test_nonces_are_twelve_bytes_and_none_repeats_across_blocks() -> None:
    drawn = [nonces.nonce() for _ in range(3 * nonces.BLOCK // 12 + 5)]  # three refills
    assert {len(n) for n in drawn} == {12}
    assert len(set(drawn)) == len(drawn)


def test_threads_hand_out_different_nonces() -> None:
    seen: list[list[bytes]] = [[], []]

    def draw(into: list[bytes]) -> None:
        into.extend(nonces.nonce() for _ in range(100))

    threads = [threading.Thread(target=draw, args=(s,)) for s in seen]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not set(seen[0]) & set(seen[1])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_hand_out_its_parents_next_nonces() -> None:
    nonces.nonce()  # this process holds a block with unused bytes
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next nonces, to the parent
        os.close(read)
        os.write(write, b"".join(nonces.nonce() for _ in range(4)))
        os._exit(0)
    os.close(write)
    child = b""
    while chunk := os.read(read, 48):
        child += chunk
    os.close(read)
    os.waitpid(pid, 0)
    parent = [nonces.nonce() for _ in range(4)]
    assert len(child) == 48
    assert not {child[i : i + 12] for i in range(0, 48, 12)} & set(parent)
