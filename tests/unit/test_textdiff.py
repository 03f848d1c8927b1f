"""Minimal text diffs applied by position (collab/textdiff.py)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Text

from collab import textdiff

WIKI_CHARS = st.sampled_from(list("ab \n=[]{}|'é😀中~"))


@settings(max_examples=400, deadline=None)
@given(st.text(WIKI_CHARS, max_size=60), st.text(WIKI_CHARS, max_size=60))
def test_applying_the_diff_turns_any_text_into_any_other(old: str, new: str):
    doc: Doc[Any] = Doc()
    text = doc.get("wikitext", type=Text)
    text.insert(0, old)
    with doc.transaction():
        textdiff.apply_edits(text, old, textdiff.diff(old, new))
    assert str(text) == new


def test_a_one_letter_change_in_a_long_paragraph_is_a_one_letter_edit():
    old = "word " * 2000
    new = old[:5000] + "X" + old[5001:]
    assert textdiff.diff(old, new) == [textdiff.Edit(5000, 5001, "X")]


def test_equal_texts_need_no_edit_and_a_common_prefix_and_suffix_are_kept():
    assert textdiff.diff("same", "same") == []
    long = "x" * 10_000  # longer than a comparison block
    assert textdiff.common_prefix(long + "a", long + "b") == 10_000
    assert textdiff.common_suffix("a" + long, "b" + long) == 10_000
    assert textdiff.diff(long + "a" + long, long + "b" + long) == [textdiff.Edit(10_000, 10_001, "b")]


def test_edits_next_to_astral_characters_land_on_the_right_bytes():
    old, new = "😀中é", "😀X中é!"
    doc: Doc[Any] = Doc()
    text = doc.get("wikitext", type=Text)
    text.insert(0, old)
    textdiff.apply_edits(text, old, textdiff.diff(old, new))
    assert str(text) == new
