"""Pure text logic: minimal diffs applied by position, summaries, sections, signature runs, merges."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Text

from collab import merge, signatures, textdiff, wikitext
from collab import protocol as p
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


def _edit(room: PageRoom, doc: Doc[Any], change: Any, user: str) -> None:
    sv = doc.get_state()
    change(doc.get("wikitext", type=Text))
    update = doc.get_update(sv)
    room.apply_client_update(update, p.check_update(update), ClientOrigin("sid-" + user, user))


def test_each_tilde_run_belongs_to_whoever_typed_it_read_from_the_crdt():
    base_text = "Talk. ~~~~ from the wiki\n"
    room = PageRoom("T", Base(1, base_text, seed_update("T", 1, base_text)))
    alice: Doc[Any] = Doc(client_id=11)
    bob: Doc[Any] = Doc(client_id=22)
    for doc in (alice, bob):
        doc.apply_update(room.full_state())
    _edit(room, alice, lambda t: t.insert(len(str(t).encode()), "Yes 😀 ~~~~\n"), "Alice")
    bob.apply_update(room.full_state())
    _edit(room, bob, lambda t: t.insert(len(str(t).encode()), "Agreed. ~~~\n"), "Bob")
    text = room.current_text()
    runs = wikitext.signature_runs(text)
    owners = {text[a:b] + "@" + str(a): user for (a, b), user in signatures.signature_owners(room, text, runs).items()}
    alice_at, bob_at = text.index("~~~~\nAgreed"), text.index("~~~\n", text.index("Agreed"))
    assert owners == {f"~~~~@{alice_at}": "Alice", f"~~~@{bob_at}": "Bob"}  # the wiki's own run has no owner
    assert list(room.contributions.authors) == ["Alice", "Bob"]


def test_an_update_after_a_gap_or_next_to_an_unknown_item_is_lacking():
    room = PageRoom("T", Base(1, "abc", seed_update("T", 1, "abc")))
    editor: Doc[Any] = Doc(client_id=5)
    editor.apply_update(room.full_state())
    text = editor.get("wikitext", type=Text)
    text.insert(3, "d")
    first = editor.get_update(room.state_vector())
    sv = editor.get_state()
    text.insert(4, "e")
    second = editor.get_update(sv)
    assert room.lacks(p.check_update(second))  # "e" comes after "d", which the room does not have
    room.apply_client_update(first, p.check_update(first), ClientOrigin("s", "Alice"))
    assert not room.lacks(p.check_update(second))
    assert room.known_clock(5) == 1  # moved forward without a reparse
    room.apply_client_update(second, p.check_update(second), ClientOrigin("s", "Alice"))
    assert room.current_text() == "abcde" and room.known_clock(5) == 2


def test_sections_are_found_without_parsing_the_page_and_skip_literal_headings():
    old = "Lead\n== [[Geography|Land]] and ''sea'' ==\nx\n<!--\n== Hidden ==\n-->\n<nowiki>\n== Raw ==\n</nowiki>\ny\n"
    new = old.replace("\ny\n", "\ny and more\n")
    assert wikitext.sections_touched(old, new) == ["Land and sea"]  # the commented and nowiki headings are text
    assert wikitext.sections_touched(old, old + "== Added ==\nz\n") == ["Added"]
