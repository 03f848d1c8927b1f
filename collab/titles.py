"""Wiki page titles: MediaWiki's basic normalisation (vocabulary: standard library only)."""

from __future__ import annotations


def normalise_title(title: str) -> str:
    """MediaWiki's basic title normalisation (underscores and runs of spaces, first letter upper case)."""
    title = " ".join(title.replace("_", " ").split())
    return title[:1].upper() + title[1:]
