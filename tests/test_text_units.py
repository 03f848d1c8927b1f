"""Pure text logic: minimal diffs applied by position, summaries, sections, signature runs, merges."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Text

from collab import merge, textdiff, wikitext
from collab.room import Base, ClientOrigin, PageRoom, WikiOrigin, seed_update

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


def test_a_three_way_merge_keeps_both_sides():
    base_text = "one two three"
    room = PageRoom("T", Base(1, base_text, seed_update("T", 1, base_text)))
    editor: Doc[Any] = Doc()
    editor_text = editor.get("wikitext", type=Text)
    editor.apply_update(room.full_state())
    sv = editor.get_state()
    editor_text.insert(len("one "), "TWO-AND-A-HALF ")
    room.apply_update(editor.get_update(sv), ClientOrigin("sid", "Alice"))
    fork = merge.fork_with_text(room.base.state, base_text, "one two three four")
    room.merge_fork(fork, WikiOrigin(2, "Admin"))
    assert room.current_text() == "one TWO-AND-A-HALF two three four"
    assert list(room.contributions.authors) == ["Alice"]


def test_the_same_revision_always_seeds_the_same_bytes():
    assert seed_update("T", 5, "text") == seed_update("T", 5, "text")
    assert seed_update("T", 5, "text") != seed_update("T", 6, "text")


def test_the_summary_credits_everyone_and_fits_the_limit():
    assert wikitext.summary(["Alice", "Bob"], ["History"]) == (
        "/* History */ Collaborative edit by [[User:Alice|Alice]], [[User:Bob|Bob]]"
    )
    many = [f"User{i:03d}" for i in range(60)]
    text = wikitext.summary(many, ["A very long section title"] * 3)
    assert len(text) <= 500 and "others" in text and "/*" not in text
    assert "[[Special:Contributions/10.0.0.1|10.0.0.1]]" in wikitext.summary(["10.0.0.1"], [])


def test_sections_touched_are_named_by_their_headings():
    old = "Lead.\n== A ==\nx\n== B ==\ny\n=== B1 ===\nz\n"
    new = "Lead!\n== A ==\nx\n== B ==\ny\n=== B1 ===\nz and more\n"
    assert wikitext.sections_touched(old, new) == ["B1"]


def test_signature_runs_skip_nowiki_pre_and_comments():
    text = "~~~ ~~~~ ~~~~~ ~~ ~~~~~~ <nowiki>~~~~</nowiki> <pre>~~~~</pre> <!-- ~~~~ -->"
    runs = wikitext.signature_runs(text)
    assert [text[a:b] for a, b in runs] == ["~~~", "~~~~", "~~~~~"]
