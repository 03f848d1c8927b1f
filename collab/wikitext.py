"""Pure wikitext helpers: sections touched by a change, edit summaries, signature runs."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

import mwparserfromhell

SUMMARY_LIMIT_CHARS = 500  # MediaWiki's CommentStore::COMMENT_CHARACTER_LIMIT

_TILDES = re.compile(r"(?<!~)~{3,5}(?!~)")
# Regions where the wiki's pre-save transform leaves tildes alone.
_LITERAL = re.compile(r"<nowiki\b[^>]*>.*?</nowiki>|<pre\b[^>]*>.*?</pre>|<!--.*?-->", re.S | re.I)


def sections_touched(old: str, new: str) -> list[str]:
    """Headings (in order, without duplicates) of the sections of ``new`` that differ from ``old``.

    The lead section is left out (it has no heading to link to).
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


def _section_bounds(text: str) -> list[tuple[int, int, str | None]]:
    """(start, end, heading) of each section, flat, lead first; offsets into ``text``."""
    code = mwparserfromhell.parse(text)
    out = []
    pos = 0
    for section in code.get_sections(flat=True, include_lead=True):
        raw = str(section)
        headings = section.filter_headings(recursive=False)
        title = str(headings[0].title.strip_code()).strip() if headings and raw.startswith("=") else None
        out.append((pos, pos + len(raw), title or None))
        pos += len(raw)
    return out


def _changed_ranges(old: str, new: str) -> Iterable[tuple[int, int]]:
    old_lines = old.splitlines(keepends=True)
    new_lines = new.splitlines(keepends=True)
    offsets = [0]
    for line in new_lines:
        offsets.append(offsets[-1] + len(line))
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    for tag, _i1, _i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            yield offsets[j1], offsets[j2]


def user_link(name: str, anonymous: bool = False) -> str:
    if anonymous:
        return f"[[Special:Contributions/{name}|{name}]]"
    return f"[[User:{name}|{name}]]"


def summary(authors: list[str], sections: list[str], *, limit: int = SUMMARY_LIMIT_CHARS) -> str:
    """``/* History */ Collaborative edit by [[User:Alice|Alice]], [[User:Bob|Bob]]``, within ``limit``.

    Every author is credited when it fits; otherwise the names that fit, then "and N others". Section
    markers are dropped (from the end) before any author is.
    """
    links = [user_link(a, _is_ip(a)) for a in authors]
    marks = [f"/* {s} */" for s in sections]

    def render(n_marks: int, n_links: int) -> str:
        people = ", ".join(links[:n_links]) if links else "collaborators"
        if n_links < len(links):
            people += f" and {len(links) - n_links} others"
        head = " ".join(marks[:n_marks])
        return (head + " " if head else "") + f"Collaborative edit by {people}"

    for n_marks in range(len(marks), -1, -1):
        text = render(n_marks, len(links))
        if len(text) <= limit:
            return text
    for n_links in range(len(links) - 1, 0, -1):
        text = render(0, n_links)
        if len(text) <= limit:
            return text
    return render(0, 0)[:limit]


def _is_ip(name: str) -> bool:
    return bool(re.fullmatch(r"[0-9.]+|[0-9A-Fa-f:]+", name)) and any(c in name for c in ".:")


def signature_runs(text: str) -> list[tuple[int, int]]:
    """(start, end) code point ranges of ``~~~``, ``~~~~`` and ``~~~~~`` the wiki would expand."""
    literal = [(m.start(), m.end()) for m in _LITERAL.finditer(text)]
    runs = []
    for m in _TILDES.finditer(text):
        if not any(a <= m.start() < b for a, b in literal):
            runs.append((m.start(), m.end()))
    return runs
