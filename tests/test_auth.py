"""Only those the wiki lets edit may edit: sessions, protections, blocks, tokens, origins, TLS, secrets.

Every test runs a real ``collab serve`` against the real dev wiki and meets each refusal as a real client
does. The wiki is shared by the whole test session: every test uses its own page titles, and a test that
blocks a user unblocks them however it ends.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import ssl
import stat
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
import socketio

from collab.dev.devwiki import DevWiki
from collab.dev.devwiki.commands import MEDIAWIKI_ROOT
from tests.clients import HeaderClient, JoinRefused, PyClient, refusal
from tests.plugins.server import CollabProcess, ServerFactory
from tests.support.net import free_port
from tests.support.pages import revisions, unique_title
from tests.wikiclient import WikiUser

SECRET = "test-token-secret-0123456789abcdefghijklmnop"


def mint(secret: str = SECRET, **claims: Any) -> str:
    """A token for Alice; without ``titles`` or ``prefixes``, for every page (the empty prefix)."""
    pages = {} if "titles" in claims or "prefixes" in claims else {"prefixes": [""]}
    body = {"sub": "Alice", "exp": time.time() + 600, **pages, **claims}
    return jwt.encode(body, secret, algorithm="HS256")


def http_status(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return int(resp.status)


def forged_cookie(real: WikiUser) -> str:
    """The real user's cookie names with made-up values: a session the wiki never issued, naming the user."""
    parts = []
    for item in real.cookie_header().split("; "):
        name, _, value = item.partition("=")
        if name.endswith(("UserName", "UserID")):
            parts.append(f"{name}={value}")  # still names the real user
        else:
            parts.append(f"{name}=garbage{uuid.uuid4().hex}")
    return "; ".join(parts)


# ---- page protection ---------------------------------------------------------------------------------
async def test_alice_joins_a_sysop_protected_page_read_only_and_her_changes_never_land(
    collab_server: ServerFactory, admin: WikiUser, alice: WikiUser
):
    title = unique_title("Auth protected")
    admin.edit(title, "Protected text")
    admin.protect(title)
    server = collab_server(commit_idle_s=60, commit_max_s=120)
    a = await PyClient(server.url, cookie=alice.cookie_header()).connect()
    boss = await PyClient(server.url, cookie=admin.cookie_header()).connect()
    try:
        page = await a.join(title)
        assert page.ack["readonly"] is True
        told = await a.wait_status(title, "readonly")
        assert "protected" in told["message"]
        await a.wait_until(lambda: page.synced and str(page) == "Protected text", what="read-only sync")

        seen = len(page.statuses)
        a.edit(title, 0, delete=len("Protected text"), insert="vandalised")  # a forged update: legal CRDT ops
        dropped = await a.wait_status(title, "readonly", since=seen)
        assert "not applied" in dropped["message"]
        assert (await a.save(title))["error"]["code"] == "readonly"

        mine = await boss.join(title)
        assert mine.ack["readonly"] is False
        await boss.wait_until(lambda: mine.synced)
        boss.append(title, " (edited by Admin)")
        await a.wait_until(lambda: "(edited by Admin)" in str(page), what="Admin's edit reaches Alice")

        fresh = await PyClient(server.url).connect()
        view = await fresh.join(title)
        await fresh.wait_until(lambda: view.synced)
        assert str(view) == "Protected text (edited by Admin)"
        await fresh.close()
        assert admin.read(title)[0] == "Protected text"  # nothing of Alice's reached the wiki
    finally:
        await a.close()
        await boss.close()


async def test_with_read_only_off_alice_is_refused_a_protected_page_with_the_reason(
    collab_server: ServerFactory, admin: WikiUser, alice: WikiUser
):
    title = unique_title("Auth no readonly")
    admin.edit(title, "Protected")
    admin.protect(title)
    server = collab_server(allow_readonly=False)
    a = await PyClient(server.url, cookie=alice.cookie_header()).connect()
    try:
        with pytest.raises(JoinRefused) as refused:
            await a.join(title)
        assert refused.value.code == "forbidden" and "protected" in refused.value.message
        assert (await a.join(unique_title("Auth open page"))).ack["readonly"] is False  # other pages stay open to her
    finally:
        await a.close()


# ---- blocks during a session -------------------------------------------------------------------------
async def test_a_user_blocked_mid_session_becomes_read_only_and_his_later_changes_never_land(
    collab_server: ServerFactory, admin: WikiUser, bob: WikiUser
):
    title = unique_title("Auth block")
    admin.edit(title, "Start")
    server = collab_server(recheck_s=2, commit_idle_s=60, commit_max_s=120)
    b = await PyClient(server.url, cookie=bob.cookie_header()).connect()
    watcher = await PyClient(server.url).connect()
    try:
        page = await b.join(title)
        assert page.ack["readonly"] is False
        seen = await watcher.join(title)
        await b.wait_until(lambda: page.synced)
        b.append(title, " before")
        await watcher.wait_until(lambda: str(seen) == "Start before", what="Bob's edit before the block")

        admin.block(bob.name)
        told = await b.wait_status(title, "readonly", timeout=30)  # within --recheck-s (plus one wiki request)
        assert "blocked" in told["message"]

        since = len(page.statuses)
        b.append(title, " after")
        dropped = await b.wait_status(title, "readonly", since=since)
        assert "not applied" in dropped["message"]
        fresh = await PyClient(server.url).connect()
        view = await fresh.join(title)
        await fresh.wait_until(lambda: view.synced)
        assert str(view) == "Start before" and str(seen) == "Start before"
        await fresh.close()
    finally:
        admin.unblock(bob.name)
        await b.close()
        await watcher.close()


async def test_with_read_only_off_a_user_blocked_mid_session_is_removed(
    collab_server: ServerFactory, admin: WikiUser, bob: WikiUser
):
    title = unique_title("Auth block remove")
    server = collab_server(recheck_s=2, allow_readonly=False, commit_idle_s=60, commit_max_s=120)
    b = await PyClient(server.url, cookie=bob.cookie_header()).connect()
    try:
        page = await b.join(title)
        await b.wait_until(lambda: page.synced)
        admin.block(bob.name)
        told = await b.wait_status(title, "removed", timeout=30)
        assert "blocked" in told["message"] and told["code"] == "forbidden"
        b.append(title, "after removal")
        await b.wait_until(lambda: any(e[1].get("code") == "notjoined" for e in b.errors), what="notjoined")
        fresh = await PyClient(server.url).connect()
        view = await fresh.join(title)
        await fresh.wait_until(lambda: view.synced)
        assert str(view) == ""
        await fresh.close()
    finally:
        admin.unblock(bob.name)
        await b.close()


# ---- who is it: sessions, garbage and expired cookies, anonymous -------------------------------------
async def test_a_garbage_cookie_naming_alice_is_anonymous_never_alice(collab_server: ServerFactory, alice: WikiUser):
    title = unique_title("Auth garbage cookie")
    server = collab_server(commit_idle_s=60, commit_max_s=120)
    client = await PyClient(server.url, cookie=forged_cookie(alice)).connect()
    try:
        page = await client.join(title)
        await client.wait_until(lambda: page.synced)
        client.append(title, "typed with a forged cookie")
        await client.wait_until(lambda: not client._sends, what="the edit went out")
        saved = await client.save(title)
        assert saved["ok"] and saved["revid"], saved
        assert revisions(server, title)[-1]["coauthors"] == ["127.0.0.1"]
    finally:
        await client.close()


async def test_a_logged_out_session_is_anonymous_and_refused_with_no_anonymous(
    collab_server: ServerFactory, devwiki: DevWiki
):
    env = devwiki.env()
    session = WikiUser.login(devwiki.api, env["DEVWIKI_ALICE_USER"], env["DEVWIKI_ALICE_PASSWORD"])
    # A browser session without "keep me logged in" (no <prefix>Token cookie): logging out ends it for good.
    cookie = "; ".join(item for item in session.cookie_header().split("; ") if "Token=" not in item)
    session.call(action="logout", token=session.token())

    open_server = collab_server(commit_idle_s=60, commit_max_s=120)
    title = unique_title("Auth expired cookie")
    client = await PyClient(open_server.url, cookie=cookie).connect()
    try:
        page = await client.join(title)
        await client.wait_until(lambda: page.synced)
        client.append(title, "typed after logging out")
        await client.wait_until(lambda: not client._sends, what="the edit went out")
        assert (await client.save(title))["ok"]
        assert revisions(open_server, title)[-1]["coauthors"] == ["127.0.0.1"]
    finally:
        await client.close()

    closed_server = collab_server(anonymous=False)
    refused = await refusal(closed_server.url, headers={"Cookie": cookie})
    assert refused["data"]["code"] == "forbidden" and "login" in refused["message"]


async def test_with_no_anonymous_only_a_valid_session_or_token_connects(collab_server: ServerFactory, alice: WikiUser):
    server = collab_server(anonymous=False, token_secret=SECRET)
    for headers in ({}, {"Cookie": forged_cookie(alice)}):
        refused = await refusal(server.url, headers=headers)
        assert refused["data"]["code"] == "forbidden"
    for client in (PyClient(server.url, cookie=alice.cookie_header()), PyClient(server.url, auth={"token": mint()})):
        await client.connect()
        try:
            assert (await client.join(unique_title("Auth logged in"))).ack["ok"]
        finally:
            await client.close()


async def test_a_valid_session_edits_as_its_user(collab_server: ServerFactory, alice: WikiUser):
    title = unique_title("Auth session")
    server = collab_server(commit_idle_s=60, commit_max_s=120)
    client = await PyClient(server.url, cookie=alice.cookie_header()).connect()
    try:
        page = await client.join(title)
        await client.wait_until(lambda: page.synced)
        client.append(title, "typed by Alice")
        await client.wait_until(lambda: not client._sends, what="the edit went out")
        assert (await client.save(title))["ok"]
        assert revisions(server, title)[-1]["coauthors"] == ["Alice"]
    finally:
        await client.close()


# ---- signed tokens -----------------------------------------------------------------------------------
async def test_a_token_for_page_a_does_not_open_page_b(collab_server: ServerFactory):
    prefix = unique_title("Auth token A")
    server = collab_server(token_secret=SECRET, commit_idle_s=60, commit_max_s=120)
    client = await PyClient(server.url, auth={"token": mint(prefixes=[f"{prefix}/"])}).connect()
    try:
        page = await client.join(f"{prefix}/notes")
        assert page.ack["readonly"] is False
        with pytest.raises(JoinRefused) as refused:
            await client.join(unique_title("Auth token B"))
        assert refused.value.code == "forbidden" and "token" in refused.value.message
        with pytest.raises(JoinRefused):
            await client.join(prefix)  # the prefix needs the "/"
    finally:
        await client.close()


async def test_edits_with_a_token_are_its_users(collab_server: ServerFactory):
    title = unique_title("Auth token author")
    server = collab_server(token_secret=SECRET, commit_idle_s=60, commit_max_s=120)
    client = await PyClient(server.url, auth={"token": mint(sub="Bob", titles=[title])}).connect()
    try:
        page = await client.join(title)
        await client.wait_until(lambda: page.synced)
        client.append(title, "typed with Bob's token")
        await client.wait_until(lambda: not client._sends, what="the edit went out")
        assert (await client.save(title))["ok"]
        assert revisions(server, title)[-1]["coauthors"] == ["Bob"]
    finally:
        await client.close()


async def test_expired_tampered_and_unsigned_tokens_are_refused(collab_server: ServerFactory):
    server = collab_server(token_secret=SECRET)
    header, _, signature = mint(sub="Alice", titles=["Only this"]).split(".")
    forged_body = jwt.utils.base64url_encode(json.dumps({"sub": "Admin", "titles": ["*"], "exp": 2e9}).encode())
    cases = {
        "expired": mint(exp=time.time() - 120),
        "tampered": f"{header}.{forged_body.decode()}.{signature}",
        "other secret": mint(secret="some-other-secret-0123456789abcdefghijkl"),
        "no exp": jwt.encode({"sub": "Alice", "titles": ["*"]}, SECRET, algorithm="HS256"),
        "not a token": "hello",
    }
    for name, token in cases.items():
        refused = await refusal(server.url, auth={"token": token})
        assert refused["data"]["code"] == "forbidden", name
        assert ("expired" if name == "expired" else "not valid") in refused["message"], (name, refused)


async def test_a_token_is_refused_when_the_server_has_no_token_secret(collab_server: ServerFactory):
    server = collab_server()
    refused = await refusal(server.url, auth={"token": mint()})
    assert refused["data"]["code"] == "forbidden" and "token" in refused["message"]


async def test_a_read_only_token_and_a_blocked_token_user_join_read_only(
    collab_server: ServerFactory, admin: WikiUser, bob: WikiUser
):
    title = unique_title("Auth token ro")
    server = collab_server(token_secret=SECRET)
    reader = await PyClient(server.url, auth={"token": mint(titles=[title], ro=True)}).connect()
    try:
        page = await reader.join(title)
        assert page.ack["readonly"] is True
        assert "read-only" in (await reader.wait_status(title, "readonly"))["message"]
    finally:
        await reader.close()
    admin.block(bob.name)
    try:
        blocked = await PyClient(server.url, auth={"token": mint(sub=bob.name, titles=[title])}).connect()
        try:
            page = await blocked.join(title)
            assert page.ack["readonly"] is True
            assert "blocked" in (await blocked.wait_status(title, "readonly"))["message"]
        finally:
            await blocked.close()
    finally:
        admin.unblock(bob.name)


async def test_a_token_never_gives_more_than_the_wiki_would_namespace_and_user_scripts_included(
    collab_server: ServerFactory,
):
    """A token naming MediaWiki: pages or another user's script, minted without "ro" (by a careless or old
    minter), still gives only what the wiki gives its user: the bot reads the namespace protection
    (editinterface) and the page's content model from the wiki."""
    server = collab_server(token_secret=SECRET)
    ordinary = unique_title("Auth token ordinary")
    cases = {
        f"MediaWiki:{unique_title('Auth interface')}": "editinterface",
        "MediaWiki:Collab-test.css": "editsitecss",
        "User:Bob/collab-test.js": "edituserjs",
    }
    client = await PyClient(server.url, auth={"token": mint(titles=[*cases, ordinary])}).connect()
    try:
        for title, right in cases.items():
            page = await client.join(title)
            assert page.ack["readonly"] is True, title
            assert right in (await client.wait_status(title, "readonly"))["message"], title
        assert (await client.join(ordinary)).ack["readonly"] is False  # the same token, an ordinary page
    finally:
        await client.close()


def run_php_hook(devwiki: DevWiki, tmp_path: Path, title: str, user: str, **env: str) -> str:
    """The token the documented ``BeforePageDisplay`` hook (docs/security.md, unchanged) gives ``user`` on the
    edit page of ``title``, run inside the dev wiki as a maintenance script ("" when it gives none)."""
    php = re.search(r"```php\n(.*?)```", DOCS.read_text(), re.DOTALL)
    assert php is not None
    script = tmp_path / "collab_hook.php"
    script.write_text(
        f"""<?php
require_once '{MEDIAWIKI_ROOT}/maintenance/Maintenance.php';
class CollabHookTest extends Maintenance {{
    public function execute() {{
{php.group(1)}
        $context = new RequestContext();
        $context->setTitle( Title::newFromText( getenv( 'HOOK_TITLE' ) ) );
        $context->setUser( User::newFromName( getenv( 'HOOK_USER' ) ) );
        $context->setRequest( new FauxRequest( [ 'action' => 'edit' ] ) );
        $out = $context->getOutput();
        $hook = end( $wgHooks['BeforePageDisplay'] );
        $hook( $out );
        $this->output( $out->getJsConfigVars()['wgCollabToken'] ?? '' );
    }}
}}
$maintClass = CollabHookTest::class;
require_once RUN_MAINTENANCE_IF_MAIN;
""",
        encoding="utf-8",
    )
    full_env = {"PATH": "/usr/bin:/bin", "MW_CONFIG_FILE": str(devwiki.local_settings), "HOOK_TITLE": title}
    full_env.update(HOOK_USER=user, COLLAB_TOKEN_SECRET=SECRET, **env)
    done = subprocess.run(["php", str(script)], env=full_env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout.strip()


async def test_a_token_minted_by_the_documented_php_for_a_page_named_star_opens_only_that_page(
    collab_server: ServerFactory, devwiki: DevWiki, admin: WikiUser, tmp_path: Path
):
    admin.edit("*", "A page named after the character that used to be a wildcard.")
    starred = unique_title("Auth star") + "*"
    for title in ("*", starred):
        token = run_php_hook(devwiki, tmp_path, title, "Alice")
        assert jwt.decode(token, SECRET, algorithms=["HS256"])["titles"] == [title]
        server = collab_server(token_secret=SECRET)
        client = await PyClient(server.url, auth={"token": token}).connect()
        try:
            page = await client.join(title)
            assert page.ack["readonly"] is False and page.ack["title"] == title
            for other in (unique_title("Auth not star"), starred.removesuffix("*"), "Main Page"):
                with pytest.raises(JoinRefused) as refused:
                    await client.join(other)
                assert refused.value.code == "forbidden" and "token does not open" in refused.value.message
        finally:
            await client.close()
            server.stop()


async def test_the_documented_php_mints_read_only_tokens_where_the_wiki_says_may_not_edit(
    collab_server: ServerFactory, devwiki: DevWiki, admin: WikiUser, tmp_path: Path
):
    protected = unique_title("Auth php protected")
    admin.edit(protected, "Protected")
    admin.protect(protected)
    for title in (protected, f"MediaWiki:{unique_title('Auth php interface')}"):
        claims = jwt.decode(run_php_hook(devwiki, tmp_path, title, "Alice"), SECRET, algorithms=["HS256"])
        assert claims["ro"] is True and claims["sub"] == "Alice", title
    mine = jwt.decode(run_php_hook(devwiki, tmp_path, unique_title("Auth php open"), "Alice"), SECRET, ["HS256"])
    assert "ro" not in mine


async def test_with_an_audience_and_issuer_only_tokens_minted_for_them_are_accepted(
    collab_server: ServerFactory, devwiki: DevWiki, tmp_path: Path
):
    audience, issuer = "https://collab.example.org", devwiki.url
    server = collab_server(token_secret=SECRET, token_audience=audience, token_issuer=issuer)
    title = unique_title("Auth audience")
    token = run_php_hook(devwiki, tmp_path, title, "Alice", COLLAB_TOKEN_AUDIENCE=audience, COLLAB_TOKEN_ISSUER=issuer)
    client = await PyClient(server.url, auth={"token": token}).connect()
    try:
        assert (await client.join(title)).ack["readonly"] is False
    finally:
        await client.close()
    for claims in ({}, {"aud": "https://other.example.org", "iss": issuer}, {"aud": audience, "iss": "evil"}):
        refused = await refusal(server.url, auth={"token": mint(titles=[title], **claims)})
        assert refused["data"]["code"] == "forbidden" and "not valid" in refused["message"], claims


# ---- the revisions route -----------------------------------------------------------------------------
def get_json(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return int(resp.status), json.load(resp)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


async def test_the_revisions_route_answers_only_who_may_read_the_page_as_a_join_would(
    collab_server: ServerFactory, alice: WikiUser
):
    admin_token = "revisions-admin-token-0123456789abcdef"
    server = collab_server(token_secret=SECRET, anonymous=False, admin_token=admin_token)
    title = unique_title("Auth revisions")
    writer = await PyClient(server.url, cookie=alice.cookie_header()).connect()
    try:
        page = await writer.join(title)
        await writer.wait_until(lambda: page.synced)
        writer.append(title, "text with co-authors")
        await writer.wait_until(lambda: not writer._sends)
        assert (await writer.save(title))["ok"]
    finally:
        await writer.close()
    url = f"{server.url}/api/pages/{urllib.parse.quote(title, safe='')}/revisions"
    allowed = {
        "session": {"Cookie": alice.cookie_header()},
        "token": {"Authorization": f"Bearer {mint(titles=[title])}"},
        "admin token": {"Authorization": f"Bearer {admin_token}"},
    }
    for name, headers in allowed.items():
        status, body = get_json(url, headers)
        assert status == 200 and body["revisions"][0]["coauthors"] == ["Alice"], (name, body)
    refused = {
        "nothing (anonymous refused)": {},
        "a forged cookie": {"Cookie": forged_cookie(alice)},
        "a token for another page": {"Authorization": f"Bearer {mint(titles=[unique_title('Auth other')])}"},
        "a token of a user the wiki does not know": {
            "Authorization": f"Bearer {mint(sub='Nobody ' + uuid.uuid4().hex)}"
        },
        "a wrong bearer token": {"Authorization": "Bearer not-the-admin-token"},
    }
    for name, headers in refused.items():
        status, body = get_json(url, headers)
        assert status == 403 and body["ok"] is False and body["error"]["code"] == "forbidden", (name, body)
        assert body["error"]["message"], name


async def test_wrong_bearer_tokens_are_throttled_per_address(collab_server: ServerFactory):
    admin_token = "throttle-admin-token-0123456789abcdef"
    server = collab_server(admin_token=admin_token, metrics_token=admin_token + "-metrics")
    statuses = [get_json(f"{server.url}/api/sessions", {"Authorization": f"Bearer guess-{n}"})[0] for n in range(12)]
    assert statuses[:10] == [403] * 10 and statuses[10:] == [429, 429]
    # the right token waits too, and so do the other bearer checks of this address
    assert get_json(f"{server.url}/api/sessions", {"Authorization": f"Bearer {admin_token}"})[0] == 429
    assert get_json(f"{server.url}/metrics", {"Authorization": f"Bearer {admin_token}-metrics"})[0] == 429
    status, body = get_json(f"{server.url}/api/sessions", {"Authorization": f"Bearer {admin_token}"})
    assert status == 429 and body["error"]["code"] == "ratelimited"


# ---- the data directory ------------------------------------------------------------------------------
def test_a_real_servers_data_directory_and_database_files_are_private(collab_server: ServerFactory):
    server = collab_server()  # started with the test run's umask (022 here: 0755 directories, 0644 files)
    server.stop()
    files = {p.name: stat.S_IMODE(p.stat().st_mode) for p in server.data_dir.iterdir()}
    assert stat.S_IMODE(server.data_dir.stat().st_mode) == 0o700
    assert "collab.sqlite3" in files and set(files.values()) == {0o600}, files


# ---- origins -----------------------------------------------------------------------------------------
async def test_a_foreign_origin_is_refused_and_the_wikis_own_is_accepted(
    collab_server: ServerFactory, devwiki: DevWiki
):
    server = collab_server(allowed_origin=["https://docs.example.org"])
    for origin in ("http://evil.example", "https://wiki.example.org.evil.example", "null"):
        await refusal(server.url, headers={"Origin": origin})
    for origin in (devwiki.url, server.url, "https://docs.example.org"):
        client = await HeaderClient(server.url, {"Origin": origin}).connect()
        try:
            assert (await client.join(unique_title("Auth origin"))).ack["ok"]
        finally:
            await client.close()
    assert "foreign origin 'http://evil.example'" in server.log()


# ---- direct TLS --------------------------------------------------------------------------------------
def self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_tls_serves_https_and_wss(devwiki: DevWiki, tmp_path: Path):
    cert, key = self_signed(tmp_path)
    server = CollabProcess(
        wiki=devwiki,
        data_dir=tmp_path / "data",
        port=free_port(),
        options={"tls_cert": cert, "tls_key": key},
        log_path=tmp_path / "collab.log",
    )
    server.start(wait=False)
    trusted = ssl.create_default_context(cafile=str(cert))
    url = f"https://127.0.0.1:{server.port}"
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trusted)) as http:
            deadline = time.monotonic() + 30
            while True:
                assert server.proc is not None and server.proc.poll() is None, server.log()
                try:
                    async with http.get(url + "/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    assert time.monotonic() < deadline, server.log()
                    await asyncio.sleep(0.1)  # a starting server: nothing to wait on but its port
            client = PyClient(url)
            client.sio = socketio.AsyncClient(reconnection=False, http_session=http)
            client.sio.on("y", client._on_y)
            client.sio.on("status", client._on_status)
            client.sio.on("disconnect", client._poke)
            await client.connect()
            page = await client.join(unique_title("Auth tls"))
            client.append(page.title, "over wss")
            await client.wait_until(lambda: page.synced)
            await client.close()
        assert "listening on https://" in server.log()
        with pytest.raises(OSError):
            http_status(f"http://127.0.0.1:{server.port}/healthz")  # plain http is not served
    finally:
        server.stop()


# ---- secrets -----------------------------------------------------------------------------------------
async def test_secrets_never_appear_in_the_server_log(collab_server: ServerFactory, devwiki: DevWiki, alice: WikiUser):
    server = collab_server(token_secret=SECRET, commit_idle_s=60, commit_max_s=120)
    title = unique_title("Auth secrets")
    token = mint(titles=[title])
    cookie = alice.cookie_header()
    by_cookie = await PyClient(server.url, cookie=cookie).connect()
    by_token = await PyClient(server.url, auth={"token": token}).connect()
    try:
        page = await by_cookie.join(title)
        await by_token.join(title)
        await by_cookie.wait_until(lambda: page.synced)
        by_cookie.append(title, "signed ~~~~")
        await by_cookie.wait_until(lambda: not by_cookie._sends)
        assert (await by_cookie.save(title))["ok"]
        await refusal(server.url, auth={"token": token[:-4] + "AAAA"})
        await refusal(server.url, headers={"Origin": "http://evil.example", "Cookie": cookie})
    finally:
        await by_cookie.close()
        await by_token.close()
    server.stop()
    log = server.log()
    secrets = [SECRET, token, devwiki.env()["DEVWIKI_BOT_PASSWORD"]]
    secrets += [item.partition("=")[2] for item in cookie.split("; ") if "Token" in item or "session" in item]
    assert "join page=" in log  # the log is there, and verbose (debug)
    for secret in secrets:
        assert secret not in log


# ---- the documented deployment -----------------------------------------------------------------------
DOCS = Path(__file__).parents[1] / "docs" / "security.md"


def test_the_php_snippet_in_the_security_docs_mints_tokens_the_server_accepts(tmp_path: Path):
    from collab.auth import TokenVerifier

    php = re.search(r"```php\n(.*?)```", DOCS.read_text(), re.DOTALL)
    assert php is not None
    script = tmp_path / "mint.php"
    call = "echo wfCollabToken(getenv('COLLAB_TOKEN_SECRET'), 'Ünïcode user', ['Talk:Foo/bar', 'Course *'], true, 600);"
    script.write_text(f"<?php\n{php.group(1)}\n{call}\n", encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "COLLAB_TOKEN_SECRET": SECRET}
    token = subprocess.run(["php", str(script)], env=env, capture_output=True, text=True, check=True).stdout.strip()
    claims = TokenVerifier(SECRET).verify(token)
    assert claims.sub == "Ünïcode user" and claims.titles == ("Talk:Foo/bar", "Course *") and claims.ro
    assert 500 < claims.exp - time.time() <= 600


class ProxiedClient(PyClient):
    """A PyClient reaching the server through a path prefix, with extra headers."""

    def __init__(self, url: str, path: str, headers: dict[str, str], **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.path, self.headers = path, headers

    async def connect(self) -> ProxiedClient:
        headers = {**self.headers, **({"Cookie": self.cookie} if self.cookie else {})}
        await self.sio.connect(self.url, transports=["websocket"], headers=headers, socketio_path=self.path)
        return self


def start_nginx(prefix: Path, conf: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["nginx", "-p", str(prefix), "-c", str(conf)])


def nginx_config(directory: Path, port: int, upstream: int) -> Path:
    """A whole nginx.conf around the ``map`` and ``location /collab/`` of docs/security.md, unchanged but
    for the upstream port."""
    block = re.search(r"```nginx\n(.*?)```", DOCS.read_text(), re.DOTALL)
    assert block is not None
    text = block.group(1)
    mapping = next(line for line in text.splitlines() if line.startswith("map "))
    location = text[text.index("location /collab/") :].replace("127.0.0.1:8765", f"127.0.0.1:{upstream}")
    conf = directory / "nginx.conf"
    conf.write_text(
        f"""
daemon off;
user root;
pid {directory}/nginx.pid;
error_log {directory}/error.log;
events {{}}
http {{
    access_log off;
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    {mapping}
    server {{
        listen 127.0.0.1:{port};
        {location}
    }}
}}
"""
    )
    return conf


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")
async def test_the_documented_nginx_location_serves_the_collab_server_under_the_wikis_path(
    collab_server: ServerFactory, alice: WikiUser, tmp_path: Path
):
    server = collab_server(trusted_proxy=["127.0.0.1"], commit_idle_s=60, commit_max_s=120)
    port = free_port()
    nginx = start_nginx(tmp_path, nginx_config(tmp_path, port, server.port))
    front = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):  # a starting nginx: nothing to wait on but its port
            try:
                if http_status(front + "/collab/healthz") == 200:
                    break
            except OSError:
                await asyncio.sleep(0.05)
        title = unique_title("Auth behind nginx")
        same_origin = {"Origin": front}  # a page of the wiki's own origin, as the browser reports it
        client = await ProxiedClient(front, "/collab/socket.io", same_origin, cookie=alice.cookie_header()).connect()
        try:
            page = await client.join(title)
            await client.wait_until(lambda: page.synced)
            client.append(title, "typed through the proxy")
            await client.wait_until(lambda: not client._sends)
            assert (await client.save(title))["ok"]
            assert revisions(server, title)[-1]["coauthors"] == ["Alice"]  # the cookie went through
        finally:
            await client.close()
        with pytest.raises(socketio.exceptions.ConnectionError):
            await ProxiedClient(front, "/collab/socket.io", {"Origin": "https://evil.example"}).connect()
        assert "ignoring X-Forwarded-For" not in server.log()  # nginx's header was believed
    finally:
        nginx.terminate()
        nginx.wait(10)
