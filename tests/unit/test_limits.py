"""Abuse limits (collab/limits.py): token buckets, connection caps, join and message rates, floods and their
penalties; all on an explicit clock. Through a real server: tests/test_limits.py."""

from __future__ import annotations

import pytest

from collab import limits
from collab.config import MIB
from collab.errors import Refused
from collab.limits import Limiter, Limits, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_token_bucket_allows_its_burst_then_its_rate():
    bucket = TokenBucket(rate=10, capacity=50, now=0)
    assert all(bucket.take(0) for _ in range(50))
    assert not bucket.take(0)
    assert bucket.take(0.1) and not bucket.take(0.1)
    assert bucket.full(10)


def test_connections_per_ip_and_user_are_capped_and_released():
    limiter = Limiter(Limits(max_connections_per_ip=2, max_connections_per_user=1))
    limiter.open("1.2.3.4")
    limiter.open("1.2.3.4")
    with pytest.raises(Refused) as refused:
        limiter.open("1.2.3.4")
    assert refused.value.reason == "connections_ip" and refused.value.code == "ratelimited"
    limiter.identified("Alice")
    with pytest.raises(Refused) as refused:
        limiter.identified("Alice")
    assert refused.value.reason == "connections_user"
    limiter.identified(None)  # anonymous: no per-user count
    limiter.close("1.2.3.4", "Alice")
    limiter.open("1.2.3.4")
    limiter.identified("Alice")
    assert limiter.per_ip["1.2.3.4"] == 2 and limiter.per_user["Alice"] == 1


def test_zero_means_unlimited():
    zero = Limits(max_connections_per_ip=0, updates_per_s=0, user_updates_per_s=0, joins_per_min=0, connects_per_min=0)
    limiter = Limiter(zero)
    budget = limiter.open("1.2.3.4")
    for _ in range(1000):
        limiter.open("1.2.3.4")
        limiter.join("ip:1.2.3.4", 0)
        assert limiter.message(budget, "Alice") is None


def test_joins_are_rate_limited_per_key_and_refill():
    clock = Clock()
    limiter = Limiter(Limits(joins_per_min=60), clock)
    for _ in range(60):
        limiter.join("user:Alice", 0)
    with pytest.raises(Refused) as refused:
        limiter.join("user:Alice", 0)
    assert refused.value.reason == "joins_rate"
    limiter.join("user:Bob", 0)
    clock.now += 1.0
    limiter.join("user:Alice", 0)


def test_connects_are_rate_limited_per_address_before_anything_is_counted_and_refill():
    clock = Clock()
    limiter = Limiter(Limits(connects_per_min=60, max_connections_per_ip=0), clock)
    for _ in range(60):  # a burst of CONNECT_BURST_S seconds of the rate
        limiter.open("1.2.3.4")
        limiter.close("1.2.3.4", None)
    with pytest.raises(Refused) as refused:
        limiter.open("1.2.3.4")
    assert refused.value.reason == "connects_rate" and refused.value.code == "ratelimited"
    assert limiter.per_ip["1.2.3.4"] == 0  # a refused connect holds no count
    limiter.open("5.6.7.8")  # other addresses are not affected
    clock.now += 1.0
    limiter.open("1.2.3.4")


def test_connect_buckets_are_bounded():
    clock = Clock()
    limiter = Limiter(Limits(connects_per_min=60, max_connections_per_ip=0), clock)
    for i in range(limits.MAX_BUCKETS + 5):
        limiter.open(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
    clock.now += 60.0  # every bucket full again: dropped at the next new address
    limiter.open("192.0.2.1")
    assert len(limiter._connect_buckets) == 1


def test_pages_per_connection_are_capped():
    limiter = Limiter(Limits(max_pages_per_connection=3))
    with pytest.raises(Refused) as refused:
        limiter.join("k", 3)
    assert refused.value.reason == "pages_per_connection"


def test_messages_are_limited_per_connection_then_per_user():
    clock = Clock()
    limiter = Limiter(Limits(updates_per_s=10, user_updates_per_s=15), clock)
    one, two = limiter.open("ip"), limiter.open("ip")
    results = [limiter.message(one, "Alice") for _ in range(60)]
    assert results.count(None) == 50 and results[-1] == "rate_connection"  # 5 s of burst
    results = [limiter.message(two, "Alice") for _ in range(60)]
    assert results.count(None) == 25 and results[-1] == "rate_user"  # the user's 75 shared by both
    assert limiter.message(two, None) is None  # anonymous: per connection only


def test_a_run_of_drops_is_reported_once_and_a_flood_is_cut_off_once():
    limiter = Limiter(Limits(updates_per_s=10))
    budget = limiter.open("ip")
    outcomes = [limiter.drop(budget) for _ in range(200)]
    assert outcomes[0] == "first"
    assert outcomes.count("flood") == 1 and outcomes.index("flood") == limits.FLOOD_MIN_DROPS
    limiter.message(budget, None)  # an accepted message ends the run
    assert limiter.drop(budget) == "first"


def test_overshooting_now_and_then_is_throttled_but_a_steady_3x_rate_is_cut_off():
    clock = Clock()
    limiter = Limiter(Limits(updates_per_s=10), clock)

    def send(per_s: float, seconds: float, budget: limits.Budget) -> list[str]:
        outcomes = []
        for _ in range(int(per_s * seconds)):
            clock.now += 1 / per_s
            if limiter.message(budget, None) is not None:
                outcomes.append(limiter.drop(budget))
        return outcomes

    assert "flood" not in send(19, 120, limiter.open("a"))  # under twice the rate: throttled for ever
    assert "flood" in send(30, 30, limiter.open("b"))  # three times the rate: cut off
    fast = Limiter(Limits(updates_per_s=100), clock)
    budget = fast.open("c")
    outcomes = send(10_000, 0.1, budget)  # a blind flood: its burst, then one second's worth of drops
    assert 100 * limits.FLOOD_DROPS_S <= outcomes.index("flood") <= 100 * limits.FLOOD_DROPS_S + 2  # (+ refill)


def test_after_a_flood_new_connections_of_that_key_start_without_a_burst_and_are_held():
    clock = Clock()
    limiter = Limiter(Limits(updates_per_s=100), clock)
    assert limiter.penalise("ip:1.2.3.4") == limits.FLOOD_PENALTY_S
    held = limiter.open("1.2.3.4")
    assert held.hold_s == limits.RESTRAINED_CONNECT_DELAY_S
    assert limiter.message(held, None) == "rate_connection"  # no burst
    assert [limiter.drop(held) for _ in range(21)].count("flood") == 1  # cut off after 0.2 s worth of drops
    other = limiter.open("5.6.7.8")
    assert other.hold_s == 0 and limiter.message(other, None) is None  # other addresses are untouched
    assert limiter.penalise("ip:1.2.3.4") == 2 * limits.FLOOD_PENALTY_S  # again soon: twice as long
    assert limiter.open("1.2.3.4").hold_s == 2 * limits.RESTRAINED_CONNECT_DELAY_S
    clock.now += 2 * limits.FLOOD_PENALTY_S + 1
    assert limiter.open("1.2.3.4").hold_s == 0  # over


def test_a_logged_in_flooder_is_restrained_by_name_not_by_address():
    limiter = Limiter(Limits(updates_per_s=100))
    limiter.penalise("user:Mallory")
    budget = limiter.open("10.0.0.1")
    assert budget.hold_s == 0
    limiter.identified("Mallory", budget)
    assert budget.hold_s > 0


def test_the_transport_limit_is_above_the_message_limit():
    sixteen = Limits(max_message_bytes=16 * MIB)
    assert sixteen.transport_bytes > sixteen.max_message_bytes
    assert sixteen.document_limit(2_097_152) == 2_097_152
    assert Limits(max_document_bytes=10).document_limit(2_097_152) == 10


def test_large_answers_cost_the_budget_in_proportion_and_run_it_into_debt():
    clock = Clock()
    limiter = Limiter(Limits(updates_per_s=100, user_updates_per_s=300), clock)
    budget = limiter.open("10.0.0.1")
    assert budget.bucket is not None and budget.bucket.tokens == 500
    three_mb = 3 * MIB  # a 2 MB page's state
    limiter.answer(budget, "Alice", three_mb)
    assert budget.bucket.tokens == 500 - three_mb / limits.ANSWER_BYTES_PER_MESSAGE  # 192 messages' worth
    for _ in range(5):
        limiter.answer(budget, "Alice", three_mb)
    assert budget.bucket.tokens == -500  # in debt, at most one bucket's worth
    assert limiter.message(budget, "Alice") == "rate_connection"  # what follows is throttled
    clock.now += 10  # ... until the debt is repaid at the rate
    assert limiter.message(budget, "Alice") is None
