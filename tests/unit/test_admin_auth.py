"""Who may see the sessions (collab/admin/auth.py): requests nobody has authenticated reach the wiki at most
a few times a second, whatever they send. Through a real server: tests/test_admin.py."""

from __future__ import annotations

import pytest

from collab.admin.auth import WIKI_CHECKS_BURST, WIKI_CHECKS_PER_S, AdminAuth
from collab.errors import NotAuthorized, WikiUnavailable
from collab.wiki import User


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
