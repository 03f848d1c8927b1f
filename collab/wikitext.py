"""Pure wikitext helpers: sections touched by a change, edit summaries, signature runs."""

from __future__ import annotations

import bisect
import difflib
import functools
import re
import unicodedata
from collections.abc import Iterable

import mwparserfromhell

from . import textdiff

SUMMARY_LIMIT_CHARS = 500  # MediaWiki's CommentStore::COMMENT_CHARACTER_LIMIT

_TILDES = re.compile(r"(?<!~)~{3,5}(?!~)")
# Regions where the wiki's pre-save transform leaves tildes alone.
_LITERAL = re.compile(r"<nowiki\b[^>]*>.*?</nowiki>|<pre\b[^>]*>.*?</pre>|<!--.*?-->", re.S | re.I)


def sections_touched(old: str, new: str) -> list[str]:
    """Headings (in order, without duplicates) of the sections of ``new`` that differ from ``old``.

    The lead section is left out (it has no heading to link to). Runs on every save, on pages of
    megabytes, on the event loop: no full parse (mwparserfromhell takes over a second on 1 MB).
    """
    if old == new:
        return []
    bounds = _section_bounds(new)
    changed: dict[str, None] = {}
    for start, end in _changed_ranges(old, new):
        for s_start, s_end, title in bounds:
            if title and s_start <= max(start, end - 1) and start < max(s_end, s_start + 1):
                changed.setdefault(title, None)
    return list(changed)


# A line that may be a heading: starts and ends with "=" (trailing blanks allowed); found from each "\n=".
_HEADING_LINE = re.compile(r"=[^\n]*=[ \t]*(?:\n|$)")


def _section_bounds(text: str) -> list[tuple[int, int, str | None]]:
    """(start, end, heading) of each section, flat, lead first; offsets into ``text``.

    Heading lines are found with a regular expression, outside ``<nowiki>``, ``<pre>`` and comments;
    mwparserfromhell reads each one's title (links and formatting stripped).
    """
    literal = _Literal(text)
    out: list[tuple[int, int, str | None]] = []
    pos, title = 0, None
    for start in _line_starts_with_equals(text):
        m = _HEADING_LINE.match(text, start)
        if m is None or start in literal:
            continue
        heading = _heading_title(m.group(0).rstrip("\n"))
        if heading is None:
            continue
        out.append((pos, start, title))
        pos, title = start, heading or None
    out.append((pos, len(text), title))
    return out


def _line_starts_with_equals(text: str) -> Iterable[int]:
    if text.startswith("="):
        yield 0
    i = text.find("\n=")
    while i >= 0:
        yield i + 1
        i = text.find("\n=", i + 1)


@functools.lru_cache(maxsize=4096)
def _heading_title(line: str) -> str | None:
    """The title of a heading line with links and formatting stripped ("" if empty), None if not a heading."""
    headings = mwparserfromhell.parse(line).filter_headings(recursive=False)
    return str(headings[0].title.strip_code()).strip() if headings else None


def _changed_ranges(old: str, new: str) -> Iterable[tuple[int, int]]:
    """Ranges of ``new`` (whole lines) that differ from ``old``; the common head and tail are skipped."""
    head = new.rfind("\n", 0, textdiff.common_prefix(old, new)) + 1  # back to a line start
    tail = textdiff.common_suffix(old[head:], new[head:])
    old_mid, new_mid = old[head : len(old) - tail], new[head : len(new) - tail]
    old_lines = old_mid.splitlines(keepends=True)
    new_lines = new_mid.splitlines(keepends=True)
    offsets = [head]
    for line in new_lines:
        offsets.append(offsets[-1] + len(line))
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    for tag, _i1, _i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            yield offsets[j1], offsets[j2]


def as_saved(text: str) -> str:
    """``text`` as MediaWiki stores it when nothing else interferes: line ends as LF, Unicode NFC, trailing
    whitespace of the whole text trimmed (to recognise a save of ours in the wiki's history)."""
    return unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n")).rstrip()


def user_link(name: str, anonymous: bool = False) -> str:
    if anonymous:
        return f"[[Special:Contributions/{name}|{name}]]"
    return f"[[User:{name}|{name}]]"


MAX_SECTION_LINKS = 3  # more section links say little and push the credit out of the history's view


def summary(
    authors: list[str],
    sections: list[str],
    *,
    limit: int = SUMMARY_LIMIT_CHARS,
    words: str = "",
    saver: str | None = None,
) -> str:
    """The summary of a collaborative revision, within ``limit`` characters.

    Without the editor's ``words``: ``/* History */ Collaborative edit by [[User:Alice|Alice]], [[User:Bob|Bob]]``,
    with at most :data:`MAX_SECTION_LINKS` section links. With them (typed by ``saver`` in the Summary box):
    ``Fixed typos (collaborative edit by [[User:Alice|Alice]] with [[User:Bob|Bob]])``: the editor's words
    first, then the credit, the saver first when they typed too; no section links.

    Every author is credited when it fits; otherwise the names that fit, then "and N others". Section links
    are dropped (from the end) before any author is; the editor's words are cut (with "…") only when even
    the shortest credit does not fit beside them.
    """
    if saver in authors:
        authors = [saver, *(a for a in authors if a != saver)] if words else authors
    links = [user_link(a, _is_ip(a)) for a in authors]
    marks = [f"/* {s} */" for s in sections[:MAX_SECTION_LINKS]] if not words else []

    def people(n_links: int) -> str:
        shown = links[:n_links]
        if words and saver in authors and len(shown) > 1:
            text = f"{shown[0]} with {', '.join(shown[1:])}"
        else:
            text = ", ".join(shown) if shown else "collaborators"
        if n_links < len(links):
            text += f" and {len(links) - n_links} others"
        return text

    def render(n_marks: int, n_links: int) -> str:
        if words:
            return f"{words} (collaborative edit by {people(n_links)})"
        head = " ".join(marks[:n_marks])
        return (head + " " if head else "") + f"Collaborative edit by {people(n_links)}"

    for n_marks in range(len(marks), -1, -1):
        text = render(n_marks, len(links))
        if len(text) <= limit:
            return text
    for n_links in range(len(links) - 1, 0, -1):
        text = render(0, n_links)
        if len(text) <= limit:
            return text
    if words:
        credit = f" (collaborative edit by {people(1 if links else 0)})"
        room = limit - len(credit) - 1
        if room > 0:
            return words[:room].rstrip() + "…" + credit
        return words[: max(0, limit - 1)] + "…" if len(words) >= limit else words
    return render(0, 0)[:limit]


def _is_ip(name: str) -> bool:
    return bool(re.fullmatch(r"[0-9.]+|[0-9A-Fa-f:]+", name)) and any(c in name for c in ".:")


def signature_runs(text: str) -> list[tuple[int, int]]:
    """(start, end) code point ranges of ``~~~``, ``~~~~`` and ``~~~~~`` the wiki would expand."""
    if "~~~" not in text:
        return []  # the common case, in microseconds (the scan below takes tens of ms on 1 MB)
    literal = _Literal(text)
    return [(m.start(), m.end()) for m in _TILDES.finditer(text) if m.start() not in literal]


class _Literal:
    """The regions of a text that the wiki reads literally (``<nowiki>``, ``<pre>``, comments):
    ``pos in literal`` tells whether a position falls in one (a binary search)."""

    def __init__(self, text: str) -> None:
        self.spans = [(m.start(), m.end()) for m in _LITERAL.finditer(text)]
        self.starts = [a for a, _ in self.spans]

    def __contains__(self, pos: int) -> bool:
        i = bisect.bisect_right(self.starts, pos) - 1
        return i >= 0 and pos < self.spans[i][1]
