"""Who may do what (collab/auth.py): signed tokens, token title patterns, identity and per-page grants
asked of the fake wiki. Against the dev wiki: tests/test_auth.py."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from collab import auth
from collab.auth import Authorizer, Identity, TokenVerifier
from collab.errors import Refused
from tests.support.fakewiki import FakeWiki

SECRET = "unit-test-secret-that-is-long-enough-0123"


def mint(secret: str = SECRET, **claims: Any) -> str:
    body = {"sub": "Alice", "titles": ["Page"], "exp": time.time() + 300, **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, secret, algorithm="HS256")


def test_a_valid_token_gives_its_claims():
    claims = TokenVerifier(SECRET).verify(mint(sub="alice_smith", titles=["A", "B*"], ro=True, prefixes=["C/"]))
    assert claims.sub == "Alice smith" and claims.titles == ("A", "B*") and claims.ro is True
    assert claims.prefixes == ("C/",)


def test_ro_is_optional_and_false_by_default():
    assert TokenVerifier(SECRET).verify(mint()).ro is False


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: mint(exp=time.time() - 60), "token_expired"),
        (lambda: mint(secret="another-secret-that-is-long-enough-012345"), "token_invalid"),
        (lambda: mint(exp=None), "token_invalid"),
        (lambda: mint(sub=None), "token_invalid"),
        (lambda: mint(titles=None), "token_invalid"),
        (lambda: mint(titles=[]), "token_invalid"),
        (lambda: mint(titles="Page"), "token_invalid"),
        (lambda: mint(sub="A|B"), "token_invalid"),
        (lambda: mint(ro="yes"), "token_invalid"),
        (lambda: "not.a.jwt", "token_invalid"),
        (lambda: 42, "token_invalid"),
        (lambda: "", "token_invalid"),
    ],
)
def test_bad_tokens_are_refused_with_a_reason(make: Callable[[], object], reason: str):
    # Minted when the test runs (a token minted at collection time may expire before a long suite gets here).
    with pytest.raises(Refused) as refused:
        TokenVerifier(SECRET).verify(make())
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


@pytest.mark.parametrize(
    ("titles", "prefixes", "title", "expected"),
    [
        (["Page"], [], "Page", True),
        (["page"], [], "Page", True),  # first letter is case-insensitive in MediaWiki
        (["Page"], [], "Page B", False),
        (["Project_X/Notes"], [], "Project X/Notes", True),
        (["Case"], [], "CASE", False),
        (["A", "B"], [], "B", True),
        # "*" is a legal title character: in titles it is only itself, never a wildcard
        (["*"], [], "*", True),
        (["*"], [], "Anything at all", False),
        (["Foo*"], [], "Foobar", False),
        (["Foo*"], [], "Foo*", True),
        (["Project X/*"], [], "Project X/Notes", False),
        # prefixes have their own claim, which no title produces
        ([], ["Project_X/"], "Project X/Notes", True),
        ([], ["Project X/"], "Project X", False),
        ([], ["Talk:Foo "], "Talk:Foo bar", True),
        ([], ["Talk:Foo "], "Talk:Foobar", False),  # the trailing space counts
        ([], ["Foo.bar"], "Fooxbar", False),  # nothing is a pattern
        ([], [""], "Anything at all", True),  # the explicit "every page"
        (["Other"], ["Course 101/"], "Course 101/Week 1", True),
    ],
)
def test_token_titles_are_literal_and_prefixes_need_their_own_claim(
    titles: list[str], prefixes: list[str], title: str, expected: bool
):
    assert auth.title_matches(titles, title, prefixes) is expected


def test_a_token_with_prefixes_only_is_valid_and_opens_pages_under_them():
    claims = TokenVerifier(SECRET).verify(mint(titles=None, prefixes=["Course 101/"]))
    assert claims.titles == () and claims.opens("Course 101/Week 1") and not claims.opens("Course 102")


@pytest.mark.parametrize(
    "claims",
    [{"titles": [], "prefixes": []}, {"titles": None, "prefixes": None}, {"prefixes": "A/"}, {"prefixes": [1]}],
)
def test_a_token_must_name_pages_by_titles_or_prefixes(claims: dict[str, Any]):
    with pytest.raises(Refused) as refused:
        TokenVerifier(SECRET).verify(mint(**claims))
    assert refused.value.reason == "token_invalid"


def test_audience_and_issuer_are_checked_only_when_configured():
    verifier = TokenVerifier(SECRET, audience="collab.example.org", issuer="wiki.example.org")
    good = mint(aud="collab.example.org", iss="wiki.example.org")
    assert verifier.verify(good).sub == "Alice"
    for bad in (
        mint(iss="wiki.example.org"),
        mint(aud="collab.example.org"),
        mint(aud="other.example.org", iss="wiki.example.org"),
        mint(aud="collab.example.org", iss="evil.example"),
    ):
        with pytest.raises(Refused) as refused:
            verifier.verify(bad)
        assert refused.value.reason == "token_invalid"
    assert TokenVerifier(SECRET).verify(mint(aud="anything", iss="anyone")).sub == "Alice"


async def test_identity_comes_from_a_token_first_then_the_session_then_the_ip():
    authorizer = Authorizer(FakeWiki(sessions={"good": "Alice"}), token_secret=SECRET)
    by_token = await authorizer.identify("good", {"token": mint(sub="Bob")}, "1.2.3.4")
    assert (by_token.user, by_token.source) == ("Bob", "token")
    by_session = await authorizer.identify("good", None, "1.2.3.4")
    assert (by_session.user, by_session.source, by_session.anonymous) == ("Alice", "session", False)
    by_ip = await authorizer.identify("garbage", {}, "1.2.3.4")
    assert (by_ip.user, by_ip.source, by_ip.anonymous) == ("1.2.3.4", "anonymous", True)


async def test_anonymous_identities_can_be_refused():
    authorizer = Authorizer(FakeWiki(sessions={"good": "Alice"}), anonymous=False)
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
    identity = await authorizer.identify(None, {"token": mint(titles=[], prefixes=["Notes/"], ro=True)}, "1.2.3.4")
    grant = await authorizer.authorize(identity, None, "Notes/Monday")
    assert grant.readonly and grant.reason == "your token is read-only"
    with pytest.raises(Refused) as refused:
        await authorizer.authorize(identity, None, "Elsewhere")
    assert refused.value.reason == "token_title"


async def test_an_expired_token_is_refused_at_a_later_check():
    authorizer = Authorizer(FakeWiki(), token_secret=SECRET)
    claims = auth.TokenClaims("Alice", ("Page",), False, time.time() - 60)
    with pytest.raises(Refused) as refused:
        await authorizer.authorize(Identity("Alice", False, "token", "ip", claims), None, "Page")
    assert refused.value.reason == "token_expired"


async def test_a_session_that_ended_is_refused_and_never_becomes_the_ip_user():
    wiki = FakeWiki(sessions={"good": "Alice"})
    identity = Identity("Alice", False, "session", "1.2.3.4")
    with pytest.raises(Refused) as refused:
        await Authorizer(wiki).authorize(identity, "expired", "Page")
    assert refused.value.reason == "session_ended"


async def test_may_read_but_not_edit_is_read_only_or_refused():
    identity = Identity("Alice", False, "session", "1.2.3.4")
    protected = FakeWiki(sessions={"good": "Alice"}, cannot_edit={"*": "the page is protected"})
    grant = await Authorizer(protected).authorize(identity, "good", "Page")
    assert grant.readonly and grant.reason == "the page is protected"
    with pytest.raises(Refused) as refused:
        await Authorizer(protected, allow_readonly=False).authorize(identity, "good", "Page")
    assert refused.value.reason == "forbidden" and "protected" in refused.value.message
    private = FakeWiki(sessions={"good": "Alice"}, cannot_read={"*": "private"})
    with pytest.raises(Refused) as refused:
        await Authorizer(private).authorize(identity, "good", "Page")
    assert refused.value.reason == "forbidden" and "private" in refused.value.message


async def test_anonymous_access_is_asked_without_a_cookie_and_names_the_client_address():
    wiki = FakeWiki()
    identity = Identity("1.2.3.4", True, "anonymous", "1.2.3.4")
    grant = await Authorizer(wiki).authorize(identity, "garbage", "Page")
    assert grant.user == "1.2.3.4" and grant.anonymous
    assert wiki.asked[-1] == ("access", "Page", "None", "1.2.3.4")


async def test_reading_needs_the_read_right_only_even_with_read_only_joins_off():
    identity = Identity("Alice", False, "session", "1.2.3.4")
    protected = FakeWiki(sessions={"good": "Alice"}, cannot_edit={"*": "the page is protected"})
    assert (await Authorizer(protected, allow_readonly=False).readable(identity, "good", "Page")).title == "Page"
    private = FakeWiki(sessions={"good": "Alice"}, cannot_read={"*": "private"})
    with pytest.raises(Refused) as refused:
        await Authorizer(private).readable(identity, "good", "Page")
    assert refused.value.reason == "forbidden"
