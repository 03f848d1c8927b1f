"""The project's exception hierarchy: one root, typed leaves, a stable ``code`` each.

API error codes from the wiki and protocol violations from clients become these exceptions at one choke
point each (``wiki.py``, ``protocol.py``); everything else matches on types and codes, never on messages.
"""

from __future__ import annotations

from typing import Final


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


class DuplicateClient(ProtocolError):
    """An update lists the same Yjs client twice (no Yjs or Yrs encoder does): refused, and the client is
    asked for its changes again."""


class TooManyClients(ProtocolError):
    """An update writes with more Yjs client ids than one update (``--max-clients-per-update``) or one
    connection (``--max-new-clients-per-connection``) may bring: refused (a strike)."""


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


class MoveRefused(CollabError):
    """A page's log cannot follow a move of the page on the wiki (the store cannot rename it, or another session
    of the new title holds unsaved work): the session of the old title ends instead (``moves.py``)."""

    code = "moverefused"


class StoreUnavailable(CollabError):
    """The durable log refused a write (Redis out of memory or read-only after a failover, unreachable; SQLite
    disk full). What it did not store is shown to no one; the write is kept and retried, and the clients
    concerned are resynchronised once the log accepts writes again."""

    code = "notstored"


# Metrics labels of every refusal (a closed set: metrics may pre-register them).
REJECTIONS: Final = (
    "origin",  # handshake from an Origin not in --allowed-origin
    "token_disabled",  # a token was sent, but --token-secret is not set
    "token_invalid",  # bad signature, malformed, missing claims, wrong algorithm
    "token_expired",  # exp has passed (at connect, or noticed by a re-check)
    "token_title",  # the token does not name this page
    "anonymous",  # no session or token and --no-anonymous
    "session_ended",  # the wiki session behind a connection ended or changed user
    "connections_ip",  # --max-connections-per-ip
    "connections_user",  # --max-connections-per-user
    "connects_rate",  # --connects-per-min
    "joins_rate",  # --joins-per-min
    "pages_per_connection",  # --max-pages-per-connection
    "forbidden",  # the wiki says: may not read, or may not edit and read-only is off
    "readonly_update",  # a change from a read-only editor, dropped
    "rate_connection",  # --updates-per-s
    "rate_user",  # --user-updates-per-s
    "flood",  # kept sending far beyond the rate: disconnected
    "message_too_large",  # --max-message-bytes: disconnected
    "document_too_large",  # --max-document-bytes (text and CRDT metadata): the change was dropped
    "not_stored",  # the log refuses writes: the change was not applied (asked for again later)
    "client_ids",  # --max-clients-per-update, --max-new-clients-per-connection: the change was dropped
    "awareness",  # an awareness message: too many states, another editor's client id, too many ids
    "downgraded",  # a re-check switched an editor to read-only
    "removed",  # a re-check removed an editor from a page
    "bearer_guesses",  # too many wrong bearer tokens (admin, metrics, revisions) from one address
)


class Refused(CollabError):
    """A request refused by policy. ``code``: what the client is told; ``reason``: the metrics label."""

    def __init__(self, message: str, *, code: str, reason: str) -> None:
        super().__init__(message, code=code)
        self.reason = reason
