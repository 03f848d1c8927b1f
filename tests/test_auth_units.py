"""The pure policy of collab/auth.py: tokens, title patterns, client addresses, origins, token buckets, limits."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from pycrdt import Doc, Text

from collab import auth, limits, origins, room
from collab.auth import Authorizer, Identity, TokenVerifier
from collab.config import MIB, ConfigError, Settings
from collab.errors import Refused
from collab.limits import Limiter, Limits, TokenBucket
from collab.mediawiki import named_access
from collab.origins import OriginPolicy
from collab.room import seed_update
from collab.session import Connection
from collab.wiki import Access, User

SECRET = "unit-test-secret-that-is-long-enough-0123"


def mint(secret: str = SECRET, **claims: Any) -> str:
    body = {"sub": "Alice", "titles": ["Page"], "exp": time.time() + 300, **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, secret, algorithm="HS256")


# ---- tokens ------------------------------------------------------------------------------------------
def test_a_valid_token_gives_its_claims():
    claims = TokenVerifier(SECRET).verify(mint(sub="alice_smith", titles=["A", "B*"], ro=True))
    assert claims.sub == "Alice smith" and claims.titles == ("A", "B*") and claims.ro is True


def test_ro_is_optional_and_false_by_default():
    assert TokenVerifier(SECRET).verify(mint()).ro is False


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (mint(exp=time.time() - 60), "token_expired"),
        (mint(secret="another-secret-that-is-long-enough-012345"), "token_invalid"),
        (mint(exp=None), "token_invalid"),
        (mint(sub=None), "token_invalid"),
        (mint(titles=None), "token_invalid"),
        (mint(titles=[]), "token_invalid"),
        (mint(titles="Page"), "token_invalid"),
        (mint(sub="A|B"), "token_invalid"),
        (mint(ro="yes"), "token_invalid"),
        ("not.a.jwt", "token_invalid"),
        (42, "token_invalid"),
        ("", "token_invalid"),
    ],
)
def test_bad_tokens_are_refused_with_a_reason(token: object, reason: str):
    with pytest.raises(Refused) as refused:
        TokenVerifier(SECRET).verify(token)
    assert refused.value.reason == reason and refused.value.code == "forbidden"


def test_a_tampered_token_is_refused():
    header, _payload, signature = mint(titles=["Page"]).split(".")
    forged_payload = jwt.utils.base64url_encode(b'{"sub":"Admin","titles":["*"],"exp":9999999999}').decode()
    with pytest.raises(Refused) as refused:
        TokenVerifier(SECRET).verify(f"{header}.{forged_payload}.{signature}")
    assert refused.value.reason == "token_invalid"


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_the_none_algorithm_and_other_algorithms_are_refused():
    unsigned = jwt.encode({"sub": "Admin", "titles": ["*"], "exp": time.time() + 60}, None, algorithm="none")
    hs512 = jwt.encode({"sub": "Admin", "titles": ["*"], "exp": time.time() + 60}, SECRET, algorithm="HS512")
    for token in (unsigned, hs512):
        with pytest.raises(Refused):
            TokenVerifier(SECRET).verify(token)


def test_an_explicit_clock_decides_expiry():
    token = mint(exp=1000)
    assert TokenVerifier(SECRET).verify(token, now=900).exp == 1000
    with pytest.raises(Refused):
        TokenVerifier(SECRET).verify(token, now=2000)


def test_the_verifier_never_shows_its_secret():
    assert SECRET not in repr(TokenVerifier(SECRET))


# ---- title patterns ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("patterns", "title", "expected"),
    [
        (["Page"], "Page", True),
        (["page"], "Page", True),  # first letter is case-insensitive in MediaWiki
        (["Page"], "Page B", False),
        (["Project_X/*"], "Project X/Notes", True),
        (["Project X/*"], "Project X", False),
        (["Project X*"], "Project X", True),
        (["*"], "Anything at all", True),
        (["Talk:Foo *"], "Talk:Foo bar", True),
        (["A", "B"], "B", True),
        (["Foo.bar"], "Fooxbar", False),  # regex characters are literal
        (["Foo (*)"], "Foo (draft)", True),
        (["Case"], "CASE", False),
    ],
)
def test_token_titles_match_normalised_titles_with_star_wildcards(patterns: list[str], title: str, expected: bool):
    assert auth.title_matches(patterns, title) is expected


# ---- client addresses --------------------------------------------------------------------------------
PROXY = origins.parse_networks(["127.0.0.1", "10.0.0.0/8"])


def test_x_forwarded_for_is_ignored_without_trusted_proxies():
    assert origins.client_ip("203.0.113.9", "198.51.100.1", ()) == "203.0.113.9"


def test_x_forwarded_for_is_ignored_from_an_untrusted_peer():
    assert origins.client_ip("203.0.113.9", "198.51.100.1", PROXY) == "203.0.113.9"


def test_a_trusted_proxy_gives_the_client_it_saw():
    assert origins.client_ip("127.0.0.1", "198.51.100.1", PROXY) == "198.51.100.1"


def test_a_chain_of_trusted_proxies_is_walked_from_the_right_and_forged_entries_are_ignored():
    assert origins.client_ip("127.0.0.1", "6.6.6.6, 198.51.100.1, 10.1.2.3", PROXY) == "198.51.100.1"


def test_a_malformed_entry_stops_at_the_last_trusted_hop():
    assert origins.client_ip("127.0.0.1", "garbage", PROXY) == "127.0.0.1"
    assert origins.client_ip("127.0.0.1", "198.51.100.1, garbage", PROXY) == "127.0.0.1"


def test_ipv4_mapped_ipv6_addresses_are_normalised():
    assert origins.client_ip("::ffff:127.0.0.1", "198.51.100.1", PROXY) == "198.51.100.1"


def test_bad_trusted_proxy_values_are_a_config_error():
    with pytest.raises(ConfigError):
        Settings(trusted_proxy=("not-an-ip",))


# ---- origins -----------------------------------------------------------------------------------------
def test_the_configured_origins_and_the_servers_own_are_allowed():
    policy = OriginPolicy(["https://wiki.example.org/"])
    policy.add("http://127.0.0.1:8181")
    assert policy.allows("https://wiki.example.org")
    assert policy.allows("http://127.0.0.1:8181")
    assert policy.allows("https://collab.example.org", {"HTTP_HOST": "collab.example.org"})
    assert policy.allows(None) and policy.allows("")  # not a browser: no cookies to hijack


def test_foreign_origins_are_refused_and_reported():
    refused: list[str] = []
    policy = OriginPolicy(["https://wiki.example.org"], on_refused=refused.append)
    for origin in ("https://evil.example", "http://wiki.example.org", "https://wiki.example.org.evil.example", "null"):
        assert not policy.allows(origin, {"HTTP_HOST": "collab.example.org"})
    assert len(refused) == 4


def test_a_protocol_relative_wiki_server_allows_both_schemes_and_default_ports_are_dropped():
    policy = OriginPolicy(["//wiki.example.org", "https://other.example:443"])
    assert policy.allows("http://wiki.example.org") and policy.allows("https://wiki.example.org")
    assert policy.allows("https://other.example")


def test_a_star_allows_every_origin():
    assert OriginPolicy(["*"]).allows("https://anything.example")


# ---- token buckets and limits ------------------------------------------------------------------------
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
    limiter = Limiter(Limits(max_connections_per_ip=0, updates_per_s=0, user_updates_per_s=0, joins_per_min=0))
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


def test_the_transport_limit_is_above_the_message_limit():
    sixteen = Limits(max_message_bytes=16 * MIB)
    assert sixteen.transport_bytes > sixteen.max_message_bytes
    assert sixteen.document_limit(2_097_152) == 2_097_152
    assert Limits(max_document_bytes=10).document_limit(2_097_152) == 10


def test_the_document_size_is_measured_after_an_update_without_changing_the_room():
    base = seed_update("T", 1, "hello")
    doc: Doc[Any] = Doc()
    text = doc.get("wikitext", type=Text)
    doc.apply_update(base)
    sv = doc.get_state()
    text.insert(5, " wörld")
    update = doc.get_update(sv)
    assert room.text_bytes_after(base, update) == len("hello wörld".encode())


# ---- secrets -----------------------------------------------------------------------------------------
def test_secrets_are_not_in_the_settings_or_connection_repr():
    settings = Settings(token_secret="s" * 40, bot_password="bot-secret-1234")
    assert "s" * 40 not in repr(settings) and "bot-secret-1234" not in repr(settings)
    conn = Connection(sid="x", cookie="devwiki_session=abcdef123", ip="127.0.0.1")
    assert "abcdef123" not in repr(conn)


def test_a_short_token_secret_is_a_config_error():
    with pytest.raises(ConfigError):
        Settings(token_secret="short")


def test_tls_needs_both_files():
    with pytest.raises(ConfigError):
        Settings(tls_cert="cert.pem")


# ---- the authorizer, with a fake wiki ----------------------------------------------------------------
class FakeWiki:
    def __init__(self, *, user: str = "Alice", can_edit: bool = True, can_read: bool = True) -> None:
        self.user = user
        self.can_edit = can_edit
        self.can_read = can_read
        self.calls: list[tuple[str, ...]] = []

    async def whoami(self, cookie: str | None) -> User:
        self.calls.append(("whoami",))
        valid = cookie == "good"
        return User(self.user if valid else "127.0.0.1", not valid, ())

    async def access(self, title: str, cookie: str | None, *, forwarded_for: str | None = None) -> Access:
        self.calls.append(("access", title, str(cookie), str(forwarded_for)))
        valid = cookie == "good"
        return self._access(title, self.user if valid else "127.0.0.1", not valid)

    async def access_of(self, title: str, user: str) -> Access:
        self.calls.append(("access_of", title, user))
        return self._access(title, user, False)

    def _access(self, title: str, user: str, anonymous: bool) -> Access:
        reason = None if self.can_edit else "the page is protected"
        return Access(title, True, 1, user, anonymous, (), self.can_edit, reason, self.can_read, None)


async def test_identity_comes_from_a_token_first_then_the_session_then_the_ip():
    wiki = FakeWiki()
    authorizer = Authorizer(wiki, token_secret=SECRET)
    by_token = await authorizer.identify("good", {"token": mint(sub="Bob")}, "1.2.3.4")
    assert (by_token.user, by_token.source) == ("Bob", "token")
    by_session = await authorizer.identify("good", None, "1.2.3.4")
    assert (by_session.user, by_session.source, by_session.anonymous) == ("Alice", "session", False)
    by_ip = await authorizer.identify("garbage", {}, "1.2.3.4")
    assert (by_ip.user, by_ip.source, by_ip.anonymous) == ("1.2.3.4", "anonymous", True)


async def test_anonymous_identities_can_be_refused():
    authorizer = Authorizer(FakeWiki(), anonymous=False)
    with pytest.raises(Refused) as refused:
        await authorizer.identify("garbage", None, "1.2.3.4")
    assert refused.value.reason == "anonymous"
    assert (await authorizer.identify("good", None, "1.2.3.4")).user == "Alice"


async def test_a_token_is_refused_when_tokens_are_off():
    with pytest.raises(Refused) as refused:
        await Authorizer(FakeWiki()).identify(None, {"token": mint()}, "1.2.3.4")
    assert refused.value.reason == "token_disabled"


async def test_a_token_opens_only_its_titles_and_ro_makes_it_read_only():
    authorizer = Authorizer(FakeWiki(), token_secret=SECRET)
    identity = await authorizer.identify(None, {"token": mint(titles=["Notes/*"], ro=True)}, "1.2.3.4")
    grant = await authorizer.authorize(identity, None, "Notes/Monday")
    assert grant.readonly and grant.reason == "your token is read-only"
    with pytest.raises(Refused) as refused:
        await authorizer.authorize(identity, None, "Elsewhere")
    assert refused.value.reason == "token_title"


async def test_an_expired_token_is_refused_at_a_later_check():
    authorizer = Authorizer(FakeWiki(), token_secret=SECRET)
    claims = auth.TokenClaims("Alice", ("*",), False, time.time() - 60)
    with pytest.raises(Refused) as refused:
        await authorizer.authorize(Identity("Alice", False, "token", "ip", claims), None, "Page")
    assert refused.value.reason == "token_expired"


async def test_a_session_that_ended_is_refused_and_never_becomes_the_ip_user():
    wiki = FakeWiki()
    identity = Identity("Alice", False, "session", "1.2.3.4")
    with pytest.raises(Refused) as refused:
        await Authorizer(wiki).authorize(identity, "expired", "Page")
    assert refused.value.reason == "session_ended"


async def test_may_read_but_not_edit_is_read_only_or_refused():
    identity = Identity("Alice", False, "session", "1.2.3.4")
    grant = await Authorizer(FakeWiki(can_edit=False)).authorize(identity, "good", "Page")
    assert grant.readonly and grant.reason == "the page is protected"
    with pytest.raises(Refused) as refused:
        await Authorizer(FakeWiki(can_edit=False), allow_readonly=False).authorize(identity, "good", "Page")
    assert refused.value.reason == "forbidden" and "protected" in refused.value.message
    with pytest.raises(Refused):
        await Authorizer(FakeWiki(can_read=False)).authorize(identity, "good", "Page")


async def test_anonymous_access_is_asked_without_a_cookie_and_names_the_client_address():
    wiki = FakeWiki()
    identity = Identity("1.2.3.4", True, "anonymous", "1.2.3.4")
    grant = await Authorizer(wiki).authorize(identity, "garbage", "Page")
    assert grant.user == "1.2.3.4" and grant.anonymous
    assert wiki.calls[-1] == ("access", "Page", "None", "1.2.3.4")


# ---- named access (a token's user, asked as the bot) -------------------------------------------------
def _query(user: dict[str, Any], page: dict[str, Any]) -> dict[str, Any]:
    return {"users": [user], "pages": [{"ns": 0, "title": "P", "lastrevid": 3, **page}]}


RIGHTS = ["read", "edit", "createpage", "createtalk", "editsemiprotected", "autoconfirmed"]


def test_a_normal_user_may_edit_an_unprotected_page():
    access = named_access(_query({"userid": 2, "name": "Alice", "rights": RIGHTS}, {}), "P")
    assert access.can_edit and access.can_read and access.reason is None


def test_a_blocked_user_may_not_edit():
    user = {"userid": 2, "name": "Bob", "rights": RIGHTS, "blockid": 1, "blockedby": "Admin", "blockreason": "spam"}
    access = named_access(_query(user, {}), "P")
    assert not access.can_edit and access.can_read and "blocked" in (access.reason or "")


def test_protection_needs_the_levels_right():
    page = {"protection": [{"type": "edit", "level": "sysop"}, {"type": "move", "level": "sysop"}]}
    access = named_access(_query({"userid": 2, "name": "Alice", "rights": RIGHTS}, page), "P")
    assert not access.can_edit and "protected" in (access.reason or "")
    admin = named_access(_query({"userid": 1, "name": "Admin", "rights": [*RIGHTS, "editprotected"]}, page), "P")
    assert admin.can_edit
    semi = {"protection": [{"type": "edit", "level": "autoconfirmed"}]}
    assert named_access(_query({"userid": 2, "name": "Alice", "rights": RIGHTS}, semi), "P").can_edit


def test_a_missing_page_needs_create_rights_and_create_protection_counts():
    page = {"missing": True, "protection": [{"type": "create", "level": "sysop"}]}
    access = named_access(_query({"userid": 2, "name": "Alice", "rights": RIGHTS}, page), "P")
    assert not access.exists and not access.can_edit
    no_create = named_access(_query({"userid": 2, "name": "A", "rights": ["read", "edit"]}, {"missing": True}), "P")
    assert not no_create.can_edit


def test_an_unknown_user_may_do_nothing():
    access = named_access(_query({"name": "Ghost", "missing": True}, {}), "P")
    assert not access.can_edit and not access.can_read and "no user" in (access.read_reason or "")


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
