"""Making a dev wiki: ``install.php``, our additions to ``LocalSettings.php``, the accounts and the change
tag, and the collab loader as the site script ``MediaWiki:Common.js``."""

from __future__ import annotations

import json

from ...wiki import CHANGE_TAG
from .accounts import ADMIN, ALICE, BOB, BOT, BOT_APPID, BOT_GRANTS, BOT_PASSWORD
from .commands import MEDIAWIKI_ROOT, maintenance, run
from .wikidir import HOST, MAINTENANCE_LOG, Config, DevWiki, DevWikiError, read_config, write_config

SITE_NAME = "DevWiki"
DB_NAME = "devwiki"
"""SQLite database name; also the session cookie prefix (``devwiki_session``, ``devwikiUserID``...)."""


def run_installer(wiki: DevWiki) -> None:
    """Run ``install.php``: SQLite database, ``$wgServer`` on 127.0.0.1, the Admin sysop."""
    command = [
        "php",
        str(MEDIAWIKI_ROOT / "maintenance" / "install.php"),
        "--quiet",
        "--dbtype=sqlite",
        f"--dbpath={wiki.dir / 'data'}",
        f"--dbname={DB_NAME}",
        f"--server={wiki.url}",
        "--scriptpath=",
        f"--confpath={wiki.dir}",
        "--lang=en",
        f"--pass={ADMIN.password}",
        SITE_NAME,
        ADMIN.name,
    ]
    run(command, what="install.php", log_dir=wiki.dir)
    if not wiki.local_settings.is_file():
        raise DevWikiError(f"install.php wrote no {wiki.local_settings}; see {wiki.dir / MAINTENANCE_LOG}")


def settings_php(wiki: DevWiki, rcfeed_port: int | None) -> str:
    """PHP lines appended to the generated ``LocalSettings.php``."""
    lines = [
        "",
        "# ---- collab/dev/devwiki additions ----",
        "$wgShowExceptionDetails = true;",
        "$wgEnableEmail = false;",
        f"$wgCacheDirectory = {_php_string(str(wiki.dir / 'cache'))};",
        f"$wgUploadDirectory = {_php_string(str(wiki.dir / 'images'))};",
        "# The collab loader is installed as the site script MediaWiki:Common.js.",
        "$wgUseSiteJs = true;",
        "# Bots lack 'noratelimit' by default (90 edits/min): never throttle the sync bot.",
        "$wgGroupPermissions['bot']['noratelimit'] = true;",
    ]
    if rcfeed_port is not None:
        lines += [
            "# Push every recent change as one JSON datagram (UDP may drop: poll as well).",
            "$wgRCFeeds['collab'] = [ 'formatter' => 'JSONRCFeedFormatter', "
            f"'uri' => 'udp://{HOST}:{rcfeed_port}', 'omit_bots' => false ];",
        ]
    return "\n".join(lines) + "\n"


def append_settings(wiki: DevWiki, rcfeed_port: int | None) -> None:
    """Append the dev wiki's settings to ``LocalSettings.php`` and create its cache directories."""
    for name in ("cache", "images"):
        (wiki.dir / name).mkdir(exist_ok=True)
    with wiki.local_settings.open("a", encoding="utf-8") as settings:
        settings.write(settings_php(wiki, rcfeed_port))


def create_accounts(wiki: DevWiki) -> None:
    """Create Alice, Bob, the bot with its bot password, and the change tag."""
    for account in (ALICE, BOB):
        maintenance(wiki, "createAndPromote.php", account.name, account.password)
    maintenance(wiki, "createAndPromote.php", "--bot", BOT.name, BOT.password)
    options = [f"--appid={BOT_APPID}", f"--grants={','.join(BOT_GRANTS)}"]
    maintenance(wiki, "createBotPassword.php", *options, BOT.name, BOT_PASSWORD)
    reason = "Saved by the real-time collaborative editor"
    maintenance(wiki, "addChangeTag.php", f"--tag={CHANGE_TAG}", f"--reason={reason}")


def loader_script(collab_url: str) -> str:
    """URL of the collab client's loader served by the collab server at ``collab_url``."""
    return f"{collab_url.rstrip('/')}/static/loader.js"


def install_loader(wiki: DevWiki, collab_url: str) -> None:
    """Make ``MediaWiki:Common.js`` load ``<collab_url>/static/loader.js`` on every page (as Admin).

    Works whether or not the server is running; records ``collab_url`` in the wiki's config file.
    """
    collab_url = normalise_collab_url(collab_url) or ""
    if not collab_url:
        raise DevWikiError("install_loader needs a collab server URL")
    source = (
        "/* Real-time collaborative editing: installed by `collab devwiki` (collab/dev/devwiki). */\n"
        f"mw.loader.load({json.dumps(loader_script(collab_url))});\n"
    )
    summary = "--summary=Load the collaborative editor"
    maintenance(wiki, "edit.php", f"--user={ADMIN.name}", summary, "MediaWiki:Common.js", stdin=source)
    config = read_config(wiki.dir) or Config(port=wiki.port)
    write_config(wiki.dir, Config(config.port, collab_url, config.rcfeed_port))


def normalise_collab_url(collab_url: str | None) -> str | None:
    """``collab_url`` without trailing slash, None if empty; must be an http(s) URL."""
    if not collab_url:
        return None
    if not collab_url.startswith(("http://", "https://")):
        raise DevWikiError(f"the collab URL must start with http:// or https://, not {collab_url!r}")
    return collab_url.rstrip("/")


def _php_string(value: str) -> str:
    """A single-quoted PHP string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
