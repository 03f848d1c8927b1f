"""The dev wiki launcher (collab/dev/devwiki/) against a real MediaWiki, and the test client on top of it."""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from collab.dev import devwiki as dw
from collab.dev.devwiki import packages
from tests.support.net import free_port
from tests.support.pages import unique_title
from tests.wikiclient import WikiApiError, WikiUser

REQUIRED_KEYS = {
    "DEVWIKI_URL",
    "DEVWIKI_API",
    "DEVWIKI_ADMIN_USER",
    "DEVWIKI_ADMIN_PASSWORD",
    "DEVWIKI_ALICE_USER",
    "DEVWIKI_ALICE_PASSWORD",
    "DEVWIKI_BOB_USER",
    "DEVWIKI_BOB_PASSWORD",
    "DEVWIKI_BOT_USER",
    "DEVWIKI_BOT_PASSWORD",
}


def run_cli(*argv: str) -> int:
    """Run ``collab devwiki ...`` in-process, the way the project CLI wires it."""
    parser = argparse.ArgumentParser(prog="collab")
    dw.add_cli(parser.add_subparsers())
    args = parser.parse_args(["devwiki", *argv])
    result: int = args.func(args)
    return result


def http_get(url: str) -> requests.Response:
    """GET ``url`` directly (no proxy from the environment)."""
    with requests.Session() as session:
        session.trust_env = False
        return session.get(url, timeout=10)


def answers(url: str) -> bool:
    """Whether the wiki at ``url`` serves its API."""
    try:
        response = http_get(f"{url}/api.php?action=query&meta=siteinfo&format=json")
        return response.ok and "generator" in response.json()["query"]["general"]
    except (requests.RequestException, ValueError, KeyError):
        return False


# -- the session wiki --------------------------------------------------------------------------------


def test_env_has_exactly_the_documented_keys(devwiki: dw.DevWiki) -> None:
    env = devwiki.env()
    assert set(env) == REQUIRED_KEYS | {"DEVWIKI_DIR", "DEVWIKI_RCFEED_PORT"}
    assert env["DEVWIKI_URL"] == f"http://127.0.0.1:{devwiki.port}" == devwiki.url
    assert env["DEVWIKI_API"] == devwiki.api == f"{devwiki.url}/api.php"
    assert devwiki.index == f"{devwiki.url}/index.php"
    assert env["DEVWIKI_RCFEED_PORT"] == str(devwiki.rcfeed_port)
    assert env["DEVWIKI_DIR"] == str(devwiki.dir)
    names = ("Admin", "Alice", "Bob")
    assert (env["DEVWIKI_ADMIN_USER"], env["DEVWIKI_ALICE_USER"], env["DEVWIKI_BOB_USER"]) == names
    assert env["DEVWIKI_BOT_USER"] == "SyncBot@collab"
    assert re.fullmatch(r"[0-9a-w]{32,}", env["DEVWIKI_BOT_PASSWORD"])
    for key in ("DEVWIKI_ADMIN_PASSWORD", "DEVWIKI_ALICE_PASSWORD", "DEVWIKI_BOB_PASSWORD"):
        assert len(env[key]) >= 10


def test_admin_is_a_sysop(admin: WikiUser) -> None:
    assert admin.name == "Admin"
    assert "sysop" in admin.userinfo()["groups"]


def test_alice_and_bob_are_normal_users(alice: WikiUser, bob: WikiUser) -> None:
    for user, name in ((alice, "Alice"), (bob, "Bob")):
        groups = user.userinfo()["groups"]
        assert user.name == name
        assert "user" in groups
        assert not {"sysop", "bot", "bureaucrat"} & set(groups)


def test_bot_logs_in_with_its_bot_password_and_tags_edits(
    devwiki: dw.DevWiki, bot_credentials: tuple[str, str]
) -> None:
    name, password = bot_credentials
    bot = WikiUser(devwiki.api)
    result = bot.api(action="login", lgname=name, lgpassword=password, lgtoken=bot.token("login"))
    assert result["login"]["result"] == "Success", result
    info = bot.userinfo()
    assert info["name"] == "SyncBot"
    assert "bot" in info["groups"]
    assert "noratelimit" in info["rights"]

    title = unique_title("Bot edit")
    revid = bot.edit(title, "saved by the bot", summary="sync", tags=dw.CHANGE_TAG, bot=True)
    revision = bot.latest_revision(title)
    assert revision["revid"] == revid
    assert revision["user"] == "SyncBot"
    assert dw.CHANGE_TAG in revision["tags"]


def test_change_tag_is_defined(admin: WikiUser) -> None:
    result = admin.call(action="query", list="tags", tglimit="max", tgprop="defined|active|source")
    tags = {tag["name"]: tag for tag in result["query"]["tags"]}
    assert dw.CHANGE_TAG in tags
    assert tags[dw.CHANGE_TAG]["defined"] and tags[dw.CHANGE_TAG]["active"]


def test_an_edit_by_alice_creates_revisions(alice: WikiUser) -> None:
    title = unique_title("Alice page")
    assert alice.read(title) == ("", None)
    first = alice.edit(title, "Hello", summary="first")
    second = alice.edit(title, "Hello, world", summary="second")
    assert second > first
    assert alice.read(title) == ("Hello, world", second)
    revision = alice.latest_revision(title)
    assert (revision["revid"], revision["user"], revision["comment"]) == (second, "Alice", "second")
    assert revision["content"] == "Hello, world"
    assert alice.edit(title, "Hello, world") == second  # no change, no new revision
    assert alice.cookie_header().count("devwiki") >= 2  # devwiki_session, devwikiUserID, ...


def test_sysop_helpers_protect_block_and_delete(admin: WikiUser, alice: WikiUser) -> None:
    title = unique_title("Protected page")
    alice.edit(title, "open")
    admin.protect(title)
    with pytest.raises(WikiApiError) as error:
        alice.edit(title, "closed?")
    assert error.value.code == "protectedpage"
    admin.unprotect(title)
    alice.edit(title, "open again")

    admin.block("Alice")
    try:
        with pytest.raises(WikiApiError) as error:
            alice.edit(title, "blocked?")
        assert error.value.code == "blocked"
    finally:
        admin.unblock("Alice")
    admin.delete(title)
    assert alice.read(title) == ("", None)


def test_rc_feed_sends_a_json_datagram_per_edit(devwiki: dw.DevWiki, alice: WikiUser) -> None:
    assert devwiki.rcfeed_port is not None
    title = unique_title("Feed page")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", devwiki.rcfeed_port))
        sock.settimeout(0.5)
        revid = alice.edit(title, "ping")
        deadline = time.monotonic() + 10
        change = None
        while change is None and time.monotonic() < deadline:
            try:
                message = json.loads(sock.recv(65536))
            except TimeoutError:
                continue
            if message.get("title") == title:
                change = message
    assert change is not None, "no recent-change datagram for the edit"
    assert change["user"] == "Alice"
    assert change["revision"]["new"] == revid


def test_stop_and_start_keep_the_data(devwiki: dw.DevWiki, alice: WikiUser) -> None:
    title = unique_title("Persistent page")
    revid = alice.edit(title, "still here")
    dw.stop_server(devwiki.dir)
    try:
        assert not answers(devwiki.url)
        assert not (devwiki.dir / dw.PID_FILE).exists()
    finally:
        restarted = dw.start_server(devwiki.dir, devwiki.port)
    assert restarted == devwiki
    assert alice.read(title) == ("still here", revid)
    assert not alice.userinfo().get("anon")  # sessions live in the database: still logged in


def test_start_server_is_idempotent(devwiki: dw.DevWiki) -> None:
    pid = (devwiki.dir / dw.PID_FILE).read_text()
    assert dw.start_server(devwiki.dir, devwiki.port) == devwiki
    assert (devwiki.dir / dw.PID_FILE).read_text() == pid


# -- failures that need no wiki ----------------------------------------------------------------------


def test_up_fails_clearly_when_the_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(dw.DevWikiError, match=f"port {port} .* already in use"):
            dw.up(tmp_path / "wiki", port, collab_url=None, quiet=True)


def test_up_and_down_refuse_to_delete_a_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(dw.DevWikiError, match="refusing to delete"):
        dw.up(tmp_path, free_port(), collab_url=None, quiet=True)
    with pytest.raises(dw.DevWikiError, match="refusing to delete"):
        dw.down(tmp_path, free_port())
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_missing_debian_packages_are_installed_with_apt(monkeypatch: pytest.MonkeyPatch) -> None:
    assert dw.missing_packages() == []  # this machine has them (the session wiki runs on them)
    commands: list[list[str]] = []

    def record(command: list[str], **kwargs: object) -> str:
        commands.append(list(command))
        return ""

    monkeypatch.setattr(packages, "_dpkg_installed", lambda package: package not in {"mediawiki", "php-intl"})
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(packages, "run", record)
    dw.ensure_packages(quiet=True)
    assert commands == [
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", "mediawiki", "php-intl"],
    ]


# -- a second wiki, with the collab loader, driven through the CLI -------------------------------------


@pytest.fixture(scope="module")
def loader_wiki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dw.DevWiki]:
    """A second fresh wiki whose site script loads a collab server on port 1234 (no RC feed)."""
    directory = tmp_path_factory.mktemp("loaderwiki") / "wiki"
    wiki = dw.up(directory, free_port(), collab_url="http://127.0.0.1:1234", quiet=True)
    yield wiki
    dw.down(wiki.dir, wiki.port)


def test_up_installs_the_loader_as_site_script(loader_wiki: dw.DevWiki) -> None:
    reader = WikiUser(loader_wiki.api)  # anonymous
    text, revid = reader.read("MediaWiki:Common.js")
    assert revid is not None
    assert 'mw.loader.load("http://127.0.0.1:1234/static/loader.js");' in text
    assert loader_wiki.collab_url == "http://127.0.0.1:1234"
    site = http_get(f"{loader_wiki.url}/load.php?modules=site&only=scripts").text
    assert "http://127.0.0.1:1234/static/loader.js" in site
    assert loader_wiki.rcfeed_port is None
    assert "DEVWIKI_RCFEED_PORT" not in loader_wiki.env()

    dw.install_loader(loader_wiki, "http://127.0.0.1:4321/")  # works on a running wiki too
    text, _ = reader.read("MediaWiki:Common.js")
    assert 'mw.loader.load("http://127.0.0.1:4321/static/loader.js");' in text
    assert loader_wiki.collab_url == "http://127.0.0.1:4321"


def test_cli_env_prints_export_lines(loader_wiki: dw.DevWiki, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("env", "--dir", str(loader_wiki.dir), "--port", str(loader_wiki.port)) == 0
    lines = capsys.readouterr().out.splitlines()
    exported = {}
    for line in lines:
        words = shlex.split(line)
        assert len(words) == 2 and words[0] == "export", line
        name, _, value = words[1].partition("=")
        exported[name] = value
    assert exported == loader_wiki.env()
    assert set(exported) == REQUIRED_KEYS | {"DEVWIKI_DIR"}

    assert run_cli("env", "--dir", str(loader_wiki.dir), "--port", str(loader_wiki.port + 1)) == 1
    assert "uses port" in capsys.readouterr().err


def test_cli_down_removes_the_dir_and_frees_the_port(loader_wiki: dw.DevWiki) -> None:
    """Runs last in this module: it destroys the module's wiki."""
    assert answers(loader_wiki.url)
    assert run_cli("down", "--dir", str(loader_wiki.dir), "--port", str(loader_wiki.port)) == 0
    assert not loader_wiki.dir.exists()
    assert not answers(loader_wiki.url)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", loader_wiki.port))  # free again
