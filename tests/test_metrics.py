"""/metrics in the Prometheus text format: it parses, and its counters move as editors edit and save."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import prometheus_client
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from collab.admin.metrics import Metrics
from tests.clients import PyClient
from tests.plugins.server import CollabProcess, ServerFactory
from tests.wikiclient import WikiUser

pytestmark = pytest.mark.asyncio

QUIET = {"commit_idle_s": 60, "commit_max_s": 120}  # saves only when a test asks for one
Samples = dict[str, float]


def get_metrics(server: CollabProcess, **headers: str) -> requests.Response:
    session = requests.Session()
    session.trust_env = False
    return session.get(server.url + "/metrics", headers=headers, timeout=30)


def scrape(server: CollabProcess, **headers: str) -> Samples:
    """Every sample of /metrics by name and labels, e.g. ``collab_saves_total{result="ok"}``."""
    response = get_metrics(server, **headers)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            samples[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return samples


async def scrape_until(server: CollabProcess, cond: Callable[[Samples], bool], what: str) -> Samples:
    """Scrape until ``cond`` holds: a scrape is the only way to look, so this re-asks (deadline = failure)."""
    deadline = time.monotonic() + 20
    while True:
        samples = await asyncio.to_thread(scrape, server)
        if cond(samples):
            return samples
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last scrape: {samples}")
        await asyncio.sleep(0.05)


async def test_metrics_parse_and_counters_move_as_editors_edit_and_save(
    collab_server: ServerFactory, alice: WikiUser, bob: WikiUser
):
    title = "Metered page"
    server = collab_server(**QUIET)
    before = scrape(server)
    assert before['collab_saves_total{result="ok"}'] == 0
    assert before["collab_connections"] == 0 and before["collab_pages_open"] == 0
    a = await PyClient(server.url, cookie=alice.cookie_header()).connect()
    b = await PyClient(server.url, cookie=bob.cookie_header()).connect()
    try:
        await a.join(title)
        page_b = await b.join(title)
        a.append(title, "Counted text.")
        await b.wait_until(lambda: str(page_b) == "Counted text.", what="Bob sees Alice's text")
        ack = await a.save(title)
        assert ack["ok"] and ack["revid"]
        after = await scrape_until(
            server,
            lambda m: m["collab_relay_latency_seconds_count"] > before["collab_relay_latency_seconds_count"],
            "a relay",
        )
        assert after["collab_updates_in_total"] > before["collab_updates_in_total"]
        assert after["collab_updates_out_total"] > before["collab_updates_out_total"]
        assert after["collab_joins_total"] == before["collab_joins_total"] + 2
        assert after['collab_saves_total{result="ok"}'] == 1
        assert after['collab_saves_total{result="failed"}'] == 0
        assert after["collab_save_latency_seconds_count"] == 1 and after["collab_save_latency_seconds_sum"] > 0
        assert after["collab_connections"] == 2 and after["collab_editors"] == 2 and after["collab_pages_open"] == 1
        assert after["collab_log_bytes"] > 0
    finally:
        await a.close()
        await b.close()


async def test_outside_edits_merged_are_counted(collab_server: ServerFactory, admin: WikiUser, alice: WikiUser):
    title = "Metered outside edit"
    admin.edit(title, "One.\n")
    server = collab_server(**QUIET)
    client = await PyClient(server.url, cookie=alice.cookie_header()).connect()
    try:
        await client.join(title)
        admin.edit(title, "One.\nTwo, from the wiki.\n")
        await client.wait_status(title, "merged")
        assert scrape(server)["collab_outside_edits_merged_total"] == 1
    finally:
        await client.close()


async def test_failed_saves_are_counted_with_their_code(collab_server: ServerFactory, admin: WikiUser):
    title = "Metered protected page"
    admin.edit(title, "Protected.")
    admin.protect(title)  # the sysop may edit; the bot that saves may not
    server = collab_server(**QUIET)
    client = await PyClient(server.url, cookie=admin.cookie_header()).connect()
    try:
        await client.join(title)
        client.append(title, " More.")
        ack = await client.save(title)
        assert ack["ok"] is False
        samples = scrape(server)
        assert samples['collab_saves_total{result="failed"}'] == 1
        assert samples['collab_save_failures_total{code="protectedpage"}'] == 1
    finally:
        await client.close()
        admin.unprotect(title)


async def test_rejected_messages_are_counted_by_reason(collab_server: ServerFactory):
    server = collab_server()
    client = await PyClient(server.url).connect()
    try:
        await client.join("Metered rejections")
        await client.emit_y("Not joined page", b"\x00\x02\x02\x00\x00")
        await client.emit_y("Metered rejections", b"\x09\x09")
        await client.wait_until(lambda: len(client.errors) == 2, what="two refusals")
        samples = scrape(server)
        assert samples['collab_messages_rejected_total{reason="notjoined"}'] == 1
        assert samples['collab_messages_rejected_total{reason="badmessage"}'] == 1
    finally:
        await client.close()


async def test_a_metrics_token_is_required_when_configured(collab_server: ServerFactory):
    server = collab_server(metrics_token="metrics-secret-0123456789abcdefghijkl")
    missing = get_metrics(server)
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert get_metrics(server, Authorization="Bearer wrong").status_code == 403
    assert "collab_connections" in scrape(server, Authorization="Bearer metrics-secret-0123456789abcdefghijkl")


async def test_readyz_and_healthz_stay(collab_server: ServerFactory):
    server = collab_server()
    session = requests.Session()
    session.trust_env = False
    assert session.get(server.url + "/healthz", timeout=30).json() == {"ok": True}
    assert session.get(server.url + "/readyz", timeout=30).json() == {"ok": True, "store": True, "wiki": True}


async def test_each_service_has_its_own_registry():
    def zero() -> float:
        return 0.0

    one = Metrics(connections=zero, pages_open=zero, editors=zero, log_bytes=zero)
    two = Metrics(connections=zero, pages_open=zero, editors=zero, log_bytes=zero)  # no duplicate-series error
    one.update_in("Page", "Alice")
    assert one.registry.get_sample_value("collab_updates_in_total") == 1
    assert two.registry.get_sample_value("collab_updates_in_total") == 0
    assert prometheus_client.REGISTRY.get_sample_value("collab_updates_in_total") is None
