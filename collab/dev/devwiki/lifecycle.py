"""A dev wiki from nothing to running (:func:`up`), and back to nothing (:func:`down`)."""

from __future__ import annotations

import logging
from pathlib import Path

from ...wiki import CHANGE_TAG
from .accounts import ALICE, BOB, BOT, BOT_APPID
from .commands import say
from .install import (
    append_settings,
    create_accounts,
    install_loader,
    loader_script,
    normalise_collab_url,
    run_installer,
)
from .packages import ensure_packages
from .server import port_in_use, require_free_port, start_server, stop_server
from .wikidir import DEFAULT_COLLAB_URL, SERVER_LOG, Config, DevWiki, DevWikiError, wipe, write_config

logger = logging.getLogger(__name__)


def up(
    dir: Path,
    port: int,
    *,
    collab_url: str | None = DEFAULT_COLLAB_URL,
    rcfeed_port: int | None = None,
    quiet: bool = False,
) -> DevWiki:
    """Create a fresh wiki in ``dir`` (deleting any previous one there), start it and wait until it answers.

    Missing Debian packages are installed first. ``collab_url`` (None or "" to skip) is the collab
    server whose ``/static/loader.js`` becomes the site script; ``rcfeed_port`` (optional) receives a
    JSON datagram for every recent change. Raises :class:`DevWikiError` on any failure, including
    ``port`` being used by another process.
    """
    dir = Path(dir).absolute()
    _check_port_number(port)
    if rcfeed_port is not None:
        _check_port_number(rcfeed_port)
    collab_url = normalise_collab_url(collab_url)
    ensure_packages(quiet=quiet)
    stop_server(dir)
    require_free_port(port)
    wipe(dir)
    say(f"creating a fresh wiki in {dir}", quiet)
    (dir / "data").mkdir(parents=True)
    write_config(dir, Config(port=port, rcfeed_port=rcfeed_port))
    wiki = DevWiki(dir, port)
    run_installer(wiki)
    append_settings(wiki, rcfeed_port)
    say(f"accounts {ALICE.name}, {BOB.name}, {BOT.name}@{BOT_APPID}; change tag {CHANGE_TAG}", quiet)
    create_accounts(wiki)
    if collab_url:
        say(f"site script MediaWiki:Common.js loads {loader_script(collab_url)}", quiet)
        install_loader(wiki, collab_url)
    say(f"starting the server on {wiki.url}", quiet)
    start_server(dir, port)
    say(f"up: {wiki.url} (log: {dir / SERVER_LOG})", quiet)
    return wiki


def down(dir: Path, port: int) -> None:
    """Stop the wiki's server and delete ``dir`` (only if it is a dev wiki directory)."""
    dir = Path(dir).absolute()
    stop_server(dir)
    wipe(dir)
    if port_in_use(port):
        logger.warning("port %d is still in use after stopping the dev wiki in %s", port, dir)


def _check_port_number(port: int) -> None:
    """Reject port numbers outside 1..65535."""
    if not 0 < port < 65536:
        raise DevWikiError(f"invalid port number {port}")
