"""The textual three-way merge (diff3-style) of a base, our text and theirs: pure text, no CRDT.

Lines first (a region only one side changed takes that side; a region both sides changed identically is taken
once), then characters inside regions both sides changed differently (up to :data:`CHAR_MERGE_MAX` a side);
what still overlaps keeps both versions with their common part once, compared word by word. Diffs come from
diff-match-patch (C++, with a time limit: :data:`MERGE_BUDGET_S`); docs/architecture.md says why.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence

import fast_diff_match_patch as dmp

from . import textdiff

MERGE_BUDGET_S = 0.25
"""The most one merge may spend diffing (it runs on the event loop). A diff that runs out of time is still
valid, only coarser: more of the text counts as changed by both sides, and such regions keep both sides."""

_MIN_DIFF_S = 0.005  # (diff-match-patch reads a time limit of 0 as "no limit")


CHAR_MERGE_MAX = 4_000
"""Regions of lines both sides changed differently are merged again character by character up to this many
characters a side; larger ones (a section rewritten on both sides) keep both sides' lines."""


class _Budget:
    """What is left of :data:`MERGE_BUDGET_S` for the diffs of one merge."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        return max(_MIN_DIFF_S, self.deadline - time.monotonic())


def three_way(base: str, ours: str, theirs: str, *, budget_s: float = MERGE_BUDGET_S) -> str:
    """The diff3 merge of two texts derived from ``base``: ``ours`` (the live text) and ``theirs`` (a wiki
    revision). See :func:`three_way_edits`."""
    return apply(ours, three_way_edits(base, ours, theirs, budget_s=budget_s))


def apply(text: str, edits: list[textdiff.Edit]) -> str:
    """``text`` with ``edits`` (ascending, not overlapping) applied."""
    out: list[str] = []
    at = 0
    for edit in edits:
        out.append(text[at : edit.start])
        out.append(edit.insert)
        at = edit.end
    out.append(text[at:])
    return "".join(out)


def three_way_edits(base: str, ours: str, theirs: str, *, budget_s: float = MERGE_BUDGET_S) -> list[textdiff.Edit]:
    """The edits (ascending, code points of ``ours``) that turn ``ours`` into the diff3 merge of ``ours``
    and ``theirs``, two texts derived from ``base``.

    Regions that only ``theirs`` changed take its text (as small character edits); regions both changed
    identically (the same insertion, the same deletion) are left as they are: the change is applied once.
    Regions both changed differently are merged again character by character, and what still conflicts
    keeps both sides, their common part once (a two-way diff of the two versions: ``ours`` stays, what only
    ``theirs`` has is inserted next to it): a merge never drops what either side typed.

    Lines first (diff-match-patch on lines encoded as characters, as MediaWiki merges lines), characters
    inside conflicting lines; the diffs together stop refining after ``budget_s`` (a diff out of time is
    still valid, only coarser).
    """
    if ours == theirs or theirs == base:
        return []
    # What all three share at both ends is kept as it is (whole lines, so the line merge sees whole lines):
    # an outside edit usually touches a small part of a large page.
    head = min(textdiff.common_prefix(base, ours), textdiff.common_prefix(base, theirs))
    head = base.rfind("\n", 0, head) + 1
    rest = min(len(base), len(ours), len(theirs)) - head
    tail = min(
        textdiff.common_suffix(base[head:], ours[head:]), textdiff.common_suffix(base[head:], theirs[head:]), rest
    )
    start = len(base) - tail
    if 0 < start and base[start - 1] != "\n":
        cut = base.find("\n", start)
        tail = len(base) - (cut + 1) if cut != -1 else 0
    middle = (base[head : len(base) - tail], ours[head : len(ours) - tail], theirs[head : len(theirs) - tail])
    budget = _Budget(budget_s)
    # Two alignments of ``theirs`` with the base, the shorter merge: a misaligned region only ever makes a
    # merge longer (an insertion applied twice, or both versions of a region kept).
    merges = [_merge_lines(*middle, through_ours, budget) for through_ours in (False, True)]
    best = min(merges, key=lambda edits: sum(len(e.insert) - (e.end - e.start) for e in edits))
    return [textdiff.Edit(head + e.start, head + e.end, e.insert) for e in best]


Block = tuple[int, int, int]  # (start in one text, start in the other, length) of a run they share
Span = tuple[int, int]


def _blocks(a: str, b: str, budget: _Budget) -> list[Block]:
    """The runs of characters that ``a`` and ``b`` have in common, in order (diff-match-patch)."""
    blocks: list[Block] = []
    i = j = 0
    for op, length in _diff(a, b, budget):
        if op == "=":
            blocks.append((i, j, length))
            i += length
            j += length
        elif op == "-":
            i += length
        else:
            j += length
    return blocks


def _diff(a: str, b: str, budget: _Budget) -> list[tuple[str, int]]:
    # "Efficiency" cleanup drops the equalities of under 4 characters between edits (coincidences that
    # would interleave two versions letter by letter); "Semantic" also drops long ones next to longer edits,
    # and a two-way union would then hold them twice.
    ops: list[tuple[str, int]] = dmp.diff(a, b, timelimit=budget.left(), cleanup="Efficiency")
    return ops


_FIRST_LINE_CODE = 0x100  # (any code point will do; this skips the control characters)


def _line_codes(*texts: str) -> tuple[list[list[str]], list[str]] | None:
    """Each text as its lines, and as a string of one code point per distinct line (None: too many lines)."""
    lines_of = [text.splitlines(keepends=True) for text in texts]
    coded = _codes(lines_of)
    return None if coded is None else (lines_of, coded)


def _codes(sequences: list[list[str]]) -> list[str] | None:
    """Each sequence of strings as a string of one code point per distinct string (None: too many)."""
    codes: dict[str, str] = {}
    encoded: list[str] = []
    for items in sequences:
        out = []
        for item in items:
            code = codes.get(item)
            if code is None:
                number = _FIRST_LINE_CODE + len(codes)
                if number > 0x10FFFF:
                    return None
                code = codes[item] = chr(number)
            out.append(code)
        encoded.append("".join(out))
    return encoded


def _merge_lines(base: str, ours: str, theirs: str, through_ours: bool, budget: _Budget) -> list[textdiff.Edit]:
    coded = _line_codes(base, ours, theirs)
    if coded is None:  # pragma: no cover - more than a million distinct lines: characters only
        return _merge_chars(base, ours, theirs, through_ours, budget)
    (base_lines, our_lines, their_lines), (base_code, our_code, their_code) = coded
    edits: list[textdiff.Edit] = []
    at = 0  # where the region starts in ``ours``, in characters
    for z, a, b in _regions(base_code, our_code, their_code, through_ours, budget):
        z_text = "".join(base_lines[z[0] : z[1]])
        a_text = "".join(our_lines[a[0] : a[1]])
        b_text = "".join(their_lines[b[0] : b[1]])
        if a_text == b_text or b_text == z_text:
            pass
        elif a_text == z_text:
            edits.extend(_shift(_replace(a_text, b_text, budget), at))
        elif len(a_text) <= CHAR_MERGE_MAX and len(b_text) <= CHAR_MERGE_MAX:
            edits.extend(_shift(_merge_chars(z_text, a_text, b_text, through_ours, budget), at))
        else:
            edits.extend(_shift(_union_tokens(our_lines[a[0] : a[1]], their_lines[b[0] : b[1]], budget), at))
        at += len(a_text)
    return edits


def _merge_chars(base: str, ours: str, theirs: str, through_ours: bool, budget: _Budget) -> list[textdiff.Edit]:
    edits: list[textdiff.Edit] = []
    for z, a, b in _regions(base, ours, theirs, through_ours, budget):
        z_text, a_text, b_text = base[z[0] : z[1]], ours[a[0] : a[1]], theirs[b[0] : b[1]]
        if a_text == b_text or b_text == z_text:
            continue
        if a_text == z_text:
            edits.append(textdiff.Edit(a[0], a[1], b_text))
        else:
            apart = _apart(z_text, a_text, b_text, budget)
            edits.extend(_shift(apart if apart is not None else _union(a_text, b_text, budget), a[0]))
    return edits


def _apart(base: str, ours: str, theirs: str, budget: _Budget) -> list[textdiff.Edit] | None:
    """Both sides' changes of a region when they touch different characters of it (the live text inserted
    "very " before "brown", the revision replaced "brown" with "red": "very red"), as edits of ``ours``;
    None when they overlap or both insert at the same place. (diff3 calls any two changes with no unchanged
    character between them a conflict.)"""
    mine, others = _replace_chars(base, ours, budget), _replace_chars(base, theirs, budget)
    i = j = 0  # (both lists ascending and each without overlaps: one sweep finds any overlap)
    while i < len(mine) and j < len(others):
        x, y = mine[i], others[j]
        if (x.start < y.end and y.start < x.end) or x.start == x.end == y.start == y.end:
            return None
        if (x.end, x.start) <= (y.end, y.start):
            i += 1
        else:
            j += 1
    out: list[textdiff.Edit] = []
    i = shift = 0
    for y in others:
        # Where y's base range sits in ours: after every change of ours that ends before it (an insertion
        # of ours where y's deletion starts comes first).
        while i < len(mine) and mine[i].end <= y.start:
            shift += len(mine[i].insert) - (mine[i].end - mine[i].start)
            i += 1
        out.append(textdiff.Edit(y.start + shift, y.end + shift, y.insert))
    return out


def _shift(edits: list[textdiff.Edit], by: int) -> list[textdiff.Edit]:
    return [textdiff.Edit(e.start + by, e.end + by, e.insert) for e in edits]


def _replace(old: str, new: str, budget: _Budget) -> list[textdiff.Edit]:
    """Small edits that turn ``old`` into ``new`` (what only the revision changed): by lines, then by
    characters inside each changed run of lines that is not too large."""
    if len(old) <= CHAR_MERGE_MAX and len(new) <= CHAR_MERGE_MAX:
        return _replace_chars(old, new, budget)
    coded = _line_codes(old, new)
    assert coded is not None  # (fewer distinct lines than the three texts had)
    (old_lines, new_lines), (old_code, new_code) = coded
    edits: list[textdiff.Edit] = []
    i = j = at = 0  # lines of old and new; characters of old before line i
    pending: tuple[int, int, int, int] | None = None  # a changed run: (at, end, j start, j end)
    for op, length in [*_diff(old_code, new_code, budget), ("=", 0)]:
        if op == "=":
            if pending is not None:
                start, end, j1, j2 = pending
                inserted = "".join(new_lines[j1:j2])
                edits.extend(
                    _shift(_replace_chars(old[start:end], inserted, budget), start)
                    if end - start <= CHAR_MERGE_MAX and len(inserted) <= CHAR_MERGE_MAX
                    else [textdiff.Edit(start, end, inserted)]
                )
                pending = None
            at += sum(len(line) for line in old_lines[i : i + length])
            i += length
            j += length
            continue
        if pending is None:
            pending = (at, at, j, j)
        if op == "-":
            at += sum(len(line) for line in old_lines[i : i + length])
            i += length
            pending = (pending[0], at, pending[2], pending[3])
        else:
            j += length
            pending = (pending[0], pending[1], pending[2], j)
    return edits


def _replace_chars(old: str, new: str, budget: _Budget) -> list[textdiff.Edit]:
    edits: list[textdiff.Edit] = []
    i = j = 0
    for op, length in _diff(old, new, budget):
        if op == "=":
            i += length
            j += length
        elif op == "-":
            edits.append(textdiff.Edit(i, i + length, ""))
            i += length
        else:
            if edits and edits[-1].end == i and not edits[-1].insert:  # a replacement: "-" then "+"
                edits[-1] = textdiff.Edit(edits[-1].start, i, new[j : j + length])
            else:
                edits.append(textdiff.Edit(i, i, new[j : j + length]))
            j += length
    return edits


_TOKEN = re.compile(r"\w+\n?|[^\w\n]\n?|\n")  # a word or one other character, with the line end after it


def _union(ours: str, theirs: str, budget: _Budget) -> list[textdiff.Edit]:
    """Both versions of a region both sides changed differently: ``ours`` stays, and what only ``theirs``
    has is inserted where the two-way diff puts it (after ours' own part), so their common part is kept once.

    Compared by words (a line end belongs to what precedes it): a character diff would interleave two
    sentences letter by letter where they share one ("ones" and "line"), and two lines inserted at the same
    place would share one line end."""
    if theirs in ours:  # ours already holds all of theirs (one side copied the other's text, then added)
        return []
    if (at := theirs.find(ours)) >= 0:  # theirs holds all of ours: around it, what only theirs has
        around = [textdiff.Edit(0, 0, theirs[:at]), textdiff.Edit(len(ours), len(ours), theirs[at + len(ours) :])]
        return [edit for edit in around if edit.insert]
    our_tokens, their_tokens = _TOKEN.findall(ours), _TOKEN.findall(theirs)
    return _union_tokens(our_tokens, their_tokens, budget)


def _union_tokens(ours: list[str], theirs: list[str], budget: _Budget) -> list[textdiff.Edit]:
    coded = _codes([ours, theirs])
    assert coded is not None  # (no more distinct tokens than characters in the page)
    our_code, their_code = coded
    edits: list[textdiff.Edit] = []
    i = j = 0  # tokens
    at = 0  # characters of ``ours`` before token i
    replaced: tuple[int, str] | None = None  # the tokens of ours just passed that theirs replaces
    for op, length in _join_runs(_diff(our_code, their_code, budget), ours, _few_marks):
        if op == "+":
            inserted = "".join(theirs[j : j + length])
            if replaced is not None and max(len(replaced[1]), len(inserted)) <= CHAR_MERGE_MAX:
                # Words one side changed inside (a typo fixed, text typed into a word): by characters
                # again, dropping coincidental matches between different words ("Semantic" cleanup).
                start, removed = replaced
                edits.extend(_shift(_union_chars(removed, inserted, budget), start))
            else:
                edits.append(textdiff.Edit(at, at, inserted))
            j += length
            replaced = None
            continue
        piece = "".join(ours[i : i + length])
        replaced = (at, piece) if op == "-" else None
        at += len(piece)
        i += length
        j += length if op == "=" else 0
    return edits


def _join_runs(
    ops: list[tuple[str, int]], ours: Sequence[str], coincidence: Callable[[Sequence[str]], bool]
) -> list[tuple[str, int]]:
    """``ops`` where what both versions share counts as changed too when it is a ``coincidence`` (a shared
    " " or "ne" would otherwise cut two different sentences into pieces and interleave them), each run of
    changes as its deletion then its insertion."""
    out: list[tuple[str, int]] = []
    deleted = inserted = i = 0
    # Anywhere, also at either end: a shared "." that ends two different sentences is not one "." typed once
    # (kept once, it would be taken from one of them).
    changes = any(op != "=" for op, _ in ops)
    for op, length in ops:
        piece = ours[i : i + length] if op != "+" else ours[i:i]
        i += length if op != "+" else 0
        if op == "=" and not (changes and coincidence(piece)):
            if deleted:
                out.append(("-", deleted))
            if inserted:
                out.append(("+", inserted))
            deleted = inserted = 0
            out.append((op, length))
            continue
        deleted += length if op != "+" else 0
        inserted += length if op != "-" else 0
    if deleted:
        out.append(("-", deleted))
    if inserted:
        out.append(("+", inserted))
    return out


def _few_marks(tokens: Sequence[str]) -> bool:
    return len(tokens) <= 2 and not any(_WORD.search(token) for token in tokens)


def _few_letters(chars: Sequence[str]) -> bool:
    return len(chars) < 4


_WORD = re.compile(r"\w")


def _union_chars(ours: str, theirs: str, budget: _Budget) -> list[textdiff.Edit]:
    edits: list[textdiff.Edit] = []
    i = j = 0
    for op, length in _join_runs(_diff(ours, theirs, budget), ours, _few_letters):
        if op == "+":
            edits.append(textdiff.Edit(i, i, theirs[j : j + length]))
            j += length
        else:
            i += length
            j += length if op == "=" else 0
    return edits


def _compose(first: list[Block], second: list[Block]) -> list[Block]:
    """The matches x<->z made of x<->y matches (``first``) and y<->z matches (``second``)."""
    out: list[Block] = []
    i = j = 0
    while i < len(first) and j < len(second):
        x, y1, n1 = first[i]
        y2, z, n2 = second[j]
        start, end = max(y1, y2), min(y1 + n1, y2 + n2)
        if start < end:
            out.append((x + start - y1, z + start - y2, end - start))
        if y1 + n1 < y2 + n2:
            i += 1
        else:
            j += 1
    return out


def _regions(
    base: str, ours: str, theirs: str, through_ours: bool, budget: _Budget
) -> Iterator[tuple[Span, Span, Span]]:
    """diff3's regions: alternately stretches that neither side changed (the same span of the base matched
    by both) and the stretches between, as (base, ours, theirs) spans covering all three texts in order.

    ``through_ours``: align ``theirs`` with the base through ``ours`` (base<->ours, then ours<->theirs)
    rather than directly, so that text ``theirs`` took over from ``ours`` sits at the same place of the base
    on both sides (direct diffs may place an inserted " the " one word apart on each side: diff3 would then
    insert it twice)."""
    ours_blocks = _blocks(base, ours, budget)
    if through_ours:
        their_blocks = _compose(ours_blocks, _blocks(ours, theirs, budget))
    else:
        their_blocks = _blocks(base, theirs, budget)
    z = a = b = 0  # where the next region starts in base, ours, theirs
    i = j = 0
    while i < len(ours_blocks) and j < len(their_blocks):
        oz, oa, on = ours_blocks[i]
        tz, tb, tn = their_blocks[j]
        start, end = max(oz, tz), min(oz + on, tz + tn)
        if start < end:  # both sides kept base[start:end]: a stable stretch
            sa, sb = oa + start - oz, tb + start - tz
            if (start, sa, sb) != (z, a, b):
                yield (z, start), (a, sa), (b, sb)
            yield (start, end), (sa, sa + end - start), (sb, sb + end - start)
            z, a, b = end, sa + end - start, sb + end - start
        if oz + on < tz + tn:
            i += 1
        else:
            j += 1
    if (z, a, b) != (len(base), len(ours), len(theirs)):
        yield (z, len(base)), (a, len(ours)), (b, len(theirs))
