"""The fixed accounts of every dev wiki (it only ever listens on 127.0.0.1), and the bot's password."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Account:
    """A wiki account: user name and (main or bot) password."""

    name: str
    password: str


ADMIN = Account("Admin", "AdminPass-12345")
ALICE = Account("Alice", "AlicePass-12345")
BOB = Account("Bob", "BobPass-12345")
BOT = Account("SyncBot", "SyncBotPass-12345")
"""The bot's own account (main password, for the web login form); programs use the bot password."""

BOT_APPID = "collab"
BOT_PASSWORD = "0123456789abcdefghijklmnopqrstuv"
"""MediaWiki only accepts bot passwords matching ``^[0-9a-w]{32,}$`` at login (x, y, z silently fail)."""
BOT_GRANTS = ("basic", "highvolume", "editpage", "createeditmovepage", "editprotected")
