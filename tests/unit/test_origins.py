"""Client addresses behind trusted proxies and the allowed origins of browsers (collab/origins.py)."""

from __future__ import annotations

from collab import origins
from collab.origins import OriginPolicy

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


def test_a_request_is_same_origin_when_its_origin_names_the_host_it_was_sent_to():
    from collab.origins import same_origin

    assert same_origin({"HTTP_HOST": "collab.example.org"})  # no Origin: not a cross-site browser request
    assert same_origin({"HTTP_HOST": "collab.example.org", "HTTP_ORIGIN": "https://collab.example.org"})
    assert same_origin({"HTTP_HOST": "127.0.0.1:8765", "HTTP_ORIGIN": "http://127.0.0.1:8765/"})
    assert not same_origin({"HTTP_HOST": "collab.example.org", "HTTP_ORIGIN": "https://evil.example"})
    assert not same_origin({"HTTP_HOST": "", "HTTP_ORIGIN": "https://collab.example.org"})
