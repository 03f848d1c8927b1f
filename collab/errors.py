"""The project's exception hierarchy: one root, typed leaves, a stable ``code`` each.

API error codes from the wiki and protocol violations from clients become these exceptions at one choke
point each (``wiki.py``, ``protocol.py``); everything else matches on types and codes, never on messages.
"""

from __future__ import annotations


class CollabError(Exception):
    """Root of every error the service raises on purpose."""

    code = "internal"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class ConfigError(CollabError):
    """The configuration is unusable (missing option, unreadable file, wrong credentials)."""

    code = "config"


class ProtocolError(CollabError):
    """A client sent something the protocol does not allow; the message is dropped."""

    code = "badmessage"


class NotAuthorized(CollabError):
    """The wiki does not let this user do this (edit a protected page, join while blocked...)."""

    code = "forbidden"


class WikiError(CollabError):
    """The wiki answered with an error (``code`` is the Action API's error code)."""

    code = "wikierror"


class InvalidTitle(WikiError):
    code = "invalidtitle"


class WikiUnavailable(WikiError):
    """The wiki could not be reached or answered 5xx: retry later, the text is kept."""

    code = "wikiunavailable"


class EditConflict(WikiError):
    code = "editconflict"


class SaveRefused(WikiError):
    """The wiki refused a save for a reason that retrying will not fix (protection, size, filters...)."""

    code = "saveerror"


class LoginFailed(WikiError):
    code = "loginfailed"
