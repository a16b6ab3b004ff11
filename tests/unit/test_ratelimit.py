"""The failure limiter behind /public: a sliding window per key, in bounded memory."""

from __future__ import annotations

from casestore.api.ratelimit import FailureLimiter


def test_a_key_is_limited_until_its_oldest_failure_leaves_the_window() -> None:
    now = [0.0]
    limiter = FailureLimiter(3, 60.0, clock=lambda: now[0])
    for t in (0.0, 10.0, 20.0):
        now[0] = t
        assert limiter.retry_after("a") is None
        limiter.failed("a")
    assert limiter.retry_after("a") == 40  # the failure at 0 leaves at 60
    assert limiter.retry_after("b") is None
    now[0] = 60.0
    assert limiter.retry_after("a") is None  # two failures left in the window
    limiter.failed("a")
    assert limiter.retry_after("a") == 10


def test_memory_stays_bounded() -> None:
    limiter = FailureLimiter(2, 60.0, clock=lambda: 0.0, max_keys=100)
    for n in range(1000):
        limiter.failed(f"k{n}")
    assert len(limiter._failures) <= 100
    limiter.failed("k999")
    assert limiter.retry_after("k999") == 60
