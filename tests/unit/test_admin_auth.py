"""Who may see the sessions (collab/admin/auth.py): wrong bearer tokens are throttled per address (``Guesses``,
shared with the metrics token and the revisions route in app.py), and requests nobody has authenticated reach
the wiki at most a few times a second, whatever they send. Against a real server: tests/test_auth.py,
tests/test_admin.py."""

from __future__ import annotations

import pytest

from collab.admin.auth import WIKI_CHECKS_BURST, WIKI_CHECKS_PER_S, AdminAuth, Guesses
from collab.errors import NotAuthorized, Refused, WikiUnavailable
from collab.wiki import User
from tests.support.fakewiki import FakeClock, FakeWiki

TOKEN = "admin-token-for-unit-tests-0123456789"


def test_an_address_gets_a_burst_of_wrong_guesses_then_one_per_interval():
    clock = FakeClock()
    guesses = Guesses(burst=3, interval_s=10, clock=clock.now)
    for _ in range(3):
        guesses.check("1.2.3.4")
        guesses.failed("1.2.3.4")
    with pytest.raises(Refused) as refused:
        guesses.check("1.2.3.4")
    assert refused.value.code == "ratelimited" and "10 s" in refused.value.message
    guesses.check("5.6.7.8")  # other addresses are not affected
    clock.advance(10)
    guesses.check("1.2.3.4")  # one more guess after an interval


def test_the_addresses_remembered_are_bounded():
    clock = FakeClock()
    guesses = Guesses(burst=3, interval_s=10, max_keys=100, clock=clock.now)
    for n in range(1000):
        guesses.failed(f"10.0.{n // 256}.{n % 256}")
    assert guesses.guessers() <= 101
    with pytest.raises(Refused):  # the latest guessers are still remembered
        for _ in range(3):
            guesses.failed("10.0.3.231")
            guesses.check("10.0.3.231")


async def test_a_throttled_address_has_no_token_checked_not_even_the_right_one():
    clock = FakeClock()
    auth = AdminAuth(FakeWiki(), group="sysop", token=TOKEN, guesses=Guesses(burst=2, interval_s=60, clock=clock.now))
    for _ in range(2):
        with pytest.raises(NotAuthorized):
            await auth.identify(authorization="Bearer wrong", cookie=None, address="1.2.3.4")
    with pytest.raises(Refused):
        await auth.identify(authorization=f"Bearer {TOKEN}", cookie=None, address="1.2.3.4")
    assert (await auth.identify(authorization=f"Bearer {TOKEN}", cookie=None, address="5.6.7.8")).via == "token"
    clock.advance(60)
    assert (await auth.identify(authorization=None, cookie=None, token=TOKEN, address="1.2.3.4")).via == "token"


class Wiki:
    def __init__(self) -> None:
        self.asked = 0

    async def whoami(self, cookie: str | None) -> User:
        self.asked += 1
        return User("Mallory", False, ("user",))


async def test_cookie_checks_reach_the_wiki_at_most_a_few_times_a_second():
    wiki, now = Wiki(), [0.0]
    auth = AdminAuth(wiki, group="sysop", token="t" * 32, clock=lambda: now[0])
    refused = 0
    for i in range(100):
        try:
            await auth.identify(authorization=None, cookie=f"c={i}")
        except NotAuthorized:
            pass
        except WikiUnavailable:
            refused += 1
    assert wiki.asked == WIKI_CHECKS_BURST and refused == 100 - WIKI_CHECKS_BURST
    now[0] += 1.0
    for i in range(100):
        with pytest.raises((NotAuthorized, WikiUnavailable)):
            await auth.identify(authorization=None, cookie=f"c={i}")
    assert wiki.asked == WIKI_CHECKS_BURST + WIKI_CHECKS_PER_S
    # The admin token never asks the wiki, and is never throttled.
    assert (await auth.identify(authorization="Bearer " + "t" * 32, cookie=None)).via == "token"
