"""Minimal text edits between two strings, applied to a Y.Text by position.

pycrdt indexes Y.Text by UTF-8 byte offsets while Python strings count code points: ``apply_edits`` is
the one place that converts, so no caller ever mixes the two.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from pycrdt import Text


@dataclass(frozen=True)
class Edit:
    """Replace ``old[start:end]`` (code point offsets into the old text) with ``insert``."""

    start: int
    end: int
    insert: str


def diff(old: str, new: str) -> list[Edit]:
    """Edits that turn ``old`` into ``new``, in ascending order, touching as little as possible.

    Lines first (fast on large pages), then characters inside each changed block of lines, so a one-letter
    change inside a long paragraph stays a one-letter edit and concurrent typing next to it survives.
    """
    if old == new:
        return []
    prefix = common_prefix(old, new)
    suffix = common_suffix(old[prefix:], new[prefix:])
    old_mid = old[prefix : len(old) - suffix]
    new_mid = new[prefix : len(new) - suffix]
    return [Edit(prefix + e.start, prefix + e.end, e.insert) for e in _diff_lines(old_mid, new_mid)]


_BLOCK = 4096  # compare this many characters at a time (one C-level comparison) before char by char


def common_prefix(a: str, b: str) -> int:
    """Length of the longest common prefix (block-wise first: a 1 MB page takes microseconds, not 0.1 s)."""
    n = min(len(a), len(b))
    i = 0
    while i + _BLOCK <= n and a[i : i + _BLOCK] == b[i : i + _BLOCK]:
        i += _BLOCK
    while i < n and a[i] == b[i]:
        i += 1
    return i


def common_suffix(a: str, b: str) -> int:
    """Length of the longest common suffix."""
    n = min(len(a), len(b))
    la, lb = len(a), len(b)
    i = 0
    while i + _BLOCK <= n and a[la - i - _BLOCK : la - i] == b[lb - i - _BLOCK : lb - i]:
        i += _BLOCK
    while i < n and a[-1 - i] == b[-1 - i]:
        i += 1
    return i


def _diff_lines(old: str, new: str) -> Iterable[Edit]:
    old_lines = old.splitlines(keepends=True)
    new_lines = new.splitlines(keepends=True)
    old_offsets = _offsets(old_lines)
    new_offsets = _offsets(new_lines)
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        o_start, o_end = old_offsets[i1], old_offsets[i2]
        n_start, n_end = new_offsets[j1], new_offsets[j2]
        yield from _diff_chars(old[o_start:o_end], new[n_start:n_end], o_start)


def _diff_chars(old: str, new: str, base: int) -> Iterable[Edit]:
    if not old or not new or len(old) * len(new) > 4_000_000:
        yield Edit(base, base + len(old), new)
        return
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            yield Edit(base + i1, base + i2, new[j1:j2])


def _offsets(lines: list[str]) -> list[int]:
    out = [0]
    for line in lines:
        out.append(out[-1] + len(line))
    return out


def apply_edits(text: Text, old: str, edits: list[Edit]) -> None:
    """Apply ``edits`` (computed against ``old``, the current content of ``text``) to the Y.Text.

    Must run inside the caller's transaction. Edits are applied from the end so earlier offsets hold.
    """
    ordered = sorted(edits, key=lambda e: e.start)
    spans: list[tuple[int, int]] = []  # UTF-8 offsets, counted in one pass (not from 0 for each edit)
    at = offset = 0
    for edit in ordered:
        offset += len(old[at : edit.start].encode("utf-8"))
        end = offset + len(old[edit.start : edit.end].encode("utf-8"))
        spans.append((offset, end))
        at, offset = edit.end, end
    for edit, (start, end) in zip(reversed(ordered), reversed(spans), strict=True):
        if end > start:
            del text[start:end]
        if edit.insert:
            text.insert(start, edit.insert)
