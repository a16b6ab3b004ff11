"""A request queued behind a group-commit batch that does not finish leaves the queue
unwritten after its bound; one inside the batch waits for the batch (issue 12, item 3).

The writer blocks on an event the test holds, so "the batch has not finished" is a fact
of the test, not a matter of timing. The bound is tiny so that the queued requests reach
it at once; nothing is asserted about how long anything took.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from casestore.store.batch import AppendRequest, CommitQueueTimeout, GroupCommitter

BOUND = 0.01  # seconds: reached at once by anything queued behind the blocked batch
JOIN = 60.0  # a safety net for a hung test, never an expectation


class BlockingWriter:
    """A commit function: the first batch blocks until ``release``; a batch sent
    meanwhile waits for the write lock, as at the database; each batch gets the next
    positions under that lock, as the recorders assign them."""

    def __init__(self) -> None:
        self.batches: list[list[AppendRequest]] = []
        self.first_committing = threading.Event()
        self.release = threading.Event()
        self.position = 0
        self._write_lock = threading.Lock()
        self._first = True

    def __call__(self, batch: list[AppendRequest]) -> None:
        self.batches.append(list(batch))
        with self._write_lock:
            if self._first:
                self._first = False
                self.first_committing.set()
                assert self.release.wait(JOIN)
            for request in batch:
                request.positions = [self.position + 1]
                self.position += 1


def _start(
    committer: GroupCommitter, name: str, out: dict[str, Any], request: AppendRequest
) -> threading.Thread:
    def run() -> None:
        try:
            out[name] = committer.submit(request)
        except BaseException as e:  # recorded for the test to look at
            out[name] = e

    thread = threading.Thread(target=run, name=name)
    thread.start()
    return thread


def _join(*threads: threading.Thread) -> None:
    for thread in threads:
        thread.join(JOIN)
        assert not thread.is_alive(), thread.name


def _wait_for(condition: Callable[[], bool]) -> None:
    done = threading.Event()
    while not condition():
        done.wait(0.001)


@pytest.mark.parametrize("in_flight", [1, 2])
def test_requests_queued_behind_a_hung_batch_leave_unwritten(in_flight: int) -> None:
    writer = BlockingWriter()
    committer = GroupCommitter(writer, in_flight=in_flight, queue_wait=BOUND)
    out: dict[str, Any] = {}
    first = AppendRequest([])
    t1 = _start(committer, "first", out, first)
    assert writer.first_committing.wait(JOIN)
    for n in range(3):  # one at a time: each is queued alone behind the hung batch
        _join(_start(committer, f"q{n}", out, AppendRequest([])))
    for n in range(3):
        assert isinstance(out[f"q{n}"], CommitQueueTimeout), out[f"q{n}"]
        assert "nothing was recorded" in str(out[f"q{n}"])
    assert "first" not in out and t1.is_alive()  # inside the batch: still waiting
    assert writer.batches == [[first]]  # no queued request reached the writer
    writer.release.set()
    _join(t1)
    assert out["first"] == [1]
    # The committer is sound afterwards: the next request leads and gets the next position.
    assert committer.submit(AppendRequest([])) == [2]
    assert committer.submit(AppendRequest([])) == [3]
    assert len(writer.batches) == 3 and all(len(b) == 1 for b in writer.batches[1:])


def test_the_request_inside_the_committing_batch_keeps_waiting_past_its_bound() -> None:
    """Its outcome is unknown until the database answers: it is never withdrawn."""
    writer = BlockingWriter()
    committer = GroupCommitter(writer, queue_wait=BOUND)
    out: dict[str, Any] = {}
    t1 = _start(committer, "first", out, AppendRequest([]))
    assert writer.first_committing.wait(JOIN)
    later = _start(committer, "later", out, AppendRequest([]))
    _join(later)  # the queued one has reached its bound and left …
    assert isinstance(out["later"], CommitQueueTimeout)
    assert t1.is_alive() and "first" not in out  # … the committing one has not
    writer.release.set()
    _join(t1)
    assert out["first"] == [1]


def test_without_a_bound_a_queued_request_waits_for_the_batch() -> None:
    writer = BlockingWriter()
    committer = GroupCommitter(writer, queue_wait=None)
    out: dict[str, Any] = {}
    t1 = _start(committer, "first", out, AppendRequest([]))
    assert writer.first_committing.wait(JOIN)
    t2 = _start(committer, "second", out, AppendRequest([]))
    _wait_for(lambda: len(committer._queue) == 1)
    assert not out
    writer.release.set()
    _join(t1, t2)
    assert (out["first"], out["second"]) == ([1], [2])


@pytest.mark.parametrize("in_flight", [1, 2])
def test_many_queued_together_all_leave_and_order_holds_for_the_rest(in_flight: int) -> None:
    """Several requests queued at once (a follower chain, and with two in flight a
    waiting leader handing the lead on as it leaves): each leaves once, none is written,
    and what comes after commits in order, exactly once."""
    writer = BlockingWriter()
    committer = GroupCommitter(writer, in_flight=in_flight, queue_wait=None)
    out: dict[str, Any] = {}
    t1 = _start(committer, "first", out, AppendRequest([]))
    assert writer.first_committing.wait(JOIN)
    committer.queue_wait = BOUND  # from now on: queued requests leave at their bound
    names = [f"q{n}" for n in range(6)]
    requests = {n: AppendRequest([]) for n in names}
    for n in names:
        _start(committer, n, out, requests[n])

    def sent() -> list[AppendRequest]:
        return [r for b in writer.batches[1:] for r in b]

    # With two in flight, queued requests that gathered may have been sent as a second
    # batch (they then wait for it, like the first); every other one leaves unwritten.
    _wait_for(lambda: all(n in out or requests[n] in sent() for n in names))
    left = [n for n in names if isinstance(out.get(n), CommitQueueTimeout)]
    assert len(left) + len(sent()) == len(names), (in_flight, out)
    assert all(n not in out for n in names if requests[n] in sent())
    assert in_flight == 2 or not sent()
    writer.release.set()
    _join(t1)
    assert out["first"] == [1]
    _wait_for(lambda: all(n in out for n in names))
    tail = committer.submit(AppendRequest([]))
    written = [out["first"][0], *(out[n][0] for n in names if requests[n] in sent())]
    assert [*written, tail[0]] == list(range(1, writer.position + 1))  # in order, once
    assert committer._queue == []
