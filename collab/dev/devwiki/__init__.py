"""A throwaway, real MediaWiki 1.39 on 127.0.0.1 for development, demos and tests.

The wiki uses Debian's ``mediawiki`` package (installed on demand), an SQLite database and PHP's
built-in web server. Nothing under ``/etc`` is touched and Apache is never started: every wiki lives
in its own directory, which holds ``LocalSettings.php`` (found by MediaWiki through the
``MW_CONFIG_FILE`` environment variable), the database, caches, logs and a small JSON file
(:data:`CONFIG_FILE`) that records how the wiki was created.

A fresh wiki has these fixed accounts (it only ever listens on 127.0.0.1):

=================  =====================================  =====================================
account            user name                              password
=================  =====================================  =====================================
sysop              ``Admin``                              ``AdminPass-12345``
normal user        ``Alice``                              ``AlicePass-12345``
normal user        ``Bob``                                ``BobPass-12345``
bot (group bot)    ``SyncBot``                            ``SyncBotPass-12345``
its bot password   ``SyncBot@collab``                     ``0123456789abcdefghijklmnopqrstuv``
=================  =====================================  =====================================

The bot password has the grants :data:`BOT_GRANTS`; the change tag :data:`CHANGE_TAG` is defined;
bots are exempt from rate limits. Optionally every recent change is pushed as a JSON datagram to a UDP
port (``$wgRCFeeds``), and the collaborative editor's loader is installed as the site script
``MediaWiki:Common.js``.

Command line (through the project's CLI, see :func:`add_cli`)::

    eval "$(collab devwiki up)"     # fresh wiki on http://127.0.0.1:8181, prints export lines
    collab devwiki env              # the export lines again
    collab devwiki down             # stop the server and delete the wiki

The modules, one concern each: ``accounts`` (who is on a fresh wiki), ``wikidir`` (:class:`DevWiki`, the
directory and its record), ``commands`` (maintenance scripts, logged), ``packages`` (Debian packages),
``install`` (``install.php``, ``LocalSettings.php``, accounts, the site script), ``server`` (the PHP
process group), ``lifecycle`` (:func:`up`, :func:`down`) and ``cli`` (``collab devwiki``). This module
exports their public names.
"""

from __future__ import annotations

from ...wiki import CHANGE_TAG
from .accounts import ADMIN, ALICE, BOB, BOT, BOT_APPID, BOT_GRANTS, BOT_PASSWORD, Account
from .cli import add_cli
from .commands import maintenance
from .install import install_loader, loader_script
from .lifecycle import down, up
from .packages import APT_PACKAGES, ensure_packages, missing_packages
from .server import start_server, stop_server
from .wikidir import (
    CONFIG_FILE,
    DEFAULT_COLLAB_URL,
    DEFAULT_DIR,
    DEFAULT_PORT,
    PID_FILE,
    DevWiki,
    DevWikiError,
)

__all__ = [
    "ADMIN",
    "ALICE",
    "APT_PACKAGES",
    "BOB",
    "BOT",
    "BOT_APPID",
    "BOT_GRANTS",
    "BOT_PASSWORD",
    "CHANGE_TAG",
    "CONFIG_FILE",
    "DEFAULT_COLLAB_URL",
    "DEFAULT_DIR",
    "DEFAULT_PORT",
    "PID_FILE",
    "Account",
    "DevWiki",
    "DevWikiError",
    "add_cli",
    "down",
    "ensure_packages",
    "install_loader",
    "loader_script",
    "maintenance",
    "missing_packages",
    "start_server",
    "stop_server",
    "up",
]
