"""Page titles as clients send them: the checks every title passes first, and MediaWiki's basic normalisation.

Vocabulary (stdlib only): the Socket.IO adapter checks a joined title with :func:`check_title` before anything
else sees it; the token claims, the page URL route and the wiki port compare titles through
:func:`normalise_title`. The wiki stays the authority on what a title means (namespaces, case rules): these are
the cheap checks that need no round trip.
"""

from __future__ import annotations

from typing import Final

from .errors import InvalidTitle

__all__ = ["ILLEGAL_TITLE_CHARS", "MAX_TITLE_CHARS", "check_title", "normalise_title"]

MAX_TITLE_CHARS: Final = 512
# Characters MediaWiki never allows in a title; "|" would also split an API titles= list in two.
ILLEGAL_TITLE_CHARS: Final = frozenset("#<>[]|{}") | frozenset(chr(c) for c in range(32)) | {"\x7f"}


def check_title(title: object) -> str:
    """``title`` itself if it can name a page: a non-blank string of at most :data:`MAX_TITLE_CHARS`
    characters, none of them in :data:`ILLEGAL_TITLE_CHARS`. The title is returned unchanged (the wiki
    normalises it).

    Raises:
        InvalidTitle: not a string, blank, too long, or holding a character no wiki title may hold.
    """
    if not isinstance(title, str) or not title.strip() or len(title) > MAX_TITLE_CHARS:
        raise InvalidTitle("join takes a page title (a non-empty string)")
    if bad := sorted(ILLEGAL_TITLE_CHARS.intersection(title)):
        raise InvalidTitle(f"a page title cannot contain {' '.join(map(repr, bad))}")
    return title


def normalise_title(title: str) -> str:
    """MediaWiki's basic title normalisation: underscores become spaces, runs of spaces one, outer spaces
    go, and the first letter is upper case (``"talk:foo__bar "`` -> ``"Talk:foo bar"``)."""
    title = " ".join(title.replace("_", " ").split())
    return title[:1].upper() + title[1:]
