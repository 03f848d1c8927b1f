"""Three-way merges of a wiki revision into the live document (collab/merge.py)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Text

from collab import diff3, merge
from collab.room import Base, ClientOrigin, PageRoom, WikiOrigin, fork, seed_update
from collab.wiki import Revision
from tests.support.ydoc import apply_typed


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


def test_merging_a_revision_with_the_text_the_room_has_changes_nothing():
    base_text = "one two three"
    room = PageRoom("T", Base(1, base_text, seed_update("T", 1, base_text)))
    heard: list[object] = []
    room.listeners.append(lambda update, origin: heard.append(origin))
    room.merge_fork(merge.fork_with_text(room.base.state, base_text, base_text), WikiOrigin(2, "Admin"))
    assert room.current_text() == base_text and heard == []


def test_a_merged_revision_is_credited_to_its_wiki_author_not_to_an_editor():
    revision = Revision(5, "new text", "2026-12-02T10:00:00Z", "Outsider")
    assert merge.wiki_origin(revision) == WikiOrigin(5, "Outsider")
    room = PageRoom("T", Base(1, "old text", seed_update("T", 1, "old text")))
    room.merge_fork(merge.fork_with_text(room.base.state, "old text", revision.text), merge.wiki_origin(revision))
    assert room.current_text() == "new text" and list(room.contributions.authors) == []


# ---- outside revisions: the textual three-way merge (diff3.three_way, merge.merge_outside) -------------


def test_the_same_insertion_on_both_sides_is_inserted_once():
    base = "alpha\nbeta\n"
    both = "alpha\nBob's line.\nbeta\n"
    assert diff3.three_way(base, both, both) == both
    assert diff3.three_way(base, "alpha\nBob's line.\nbeta\ngamma\n", both) == "alpha\nBob's line.\nbeta\ngamma\n"


def test_the_same_deletion_on_both_sides_deletes_once():
    base = "one two three four five\n"
    assert diff3.three_way(base, "one four five\n", "one four five\n") == "one four five\n"
    assert diff3.three_way(base, "one four five\n", "one four five six\n") == "one four five six\n"
    lines = "a\nb\nc\nd\n"
    assert diff3.three_way(lines, "a\nd\n", "a\nd\ne\n") == "a\nd\ne\n"


def test_a_revision_holding_all_unsaved_text_plus_a_line_merges_to_the_live_text_plus_that_line():
    base = "Intro.\n\nSection text.\n"
    live = "Intro. Bob's words.\n\nSection text. More of Bob's.\n"
    revision = "Intro. Bob's words.\nAlice's line.\n\nSection text. More of Bob's.\n"
    assert diff3.three_way(base, live, revision) == revision
    # Bob kept typing after Alice copied the live text: his later words and her line, each once.
    later = "Intro. Bob's words, and later ones.\n\nSection text. More of Bob's.\n"
    merged = diff3.three_way(base, later, revision)
    # Every word once, in order. The "." Bob replaced after "words" is still in Alice's copy: it may stay as an
    # extra mark ("ones..") — a shared "." is never taken for one typed once, which would move one side's
    # full stop to the other's sentence (see the next test).
    assert merged.replace("..", ".") == (
        "Intro. Bob's words, and later ones.\nAlice's line.\n\nSection text. More of Bob's.\n"
    )


def test_two_sentences_inserted_at_the_same_place_keep_their_own_full_stops():
    base = "Intro.\n\nBob's paragraph. Bob one."
    merged = diff3.three_way(base, base + " Bob two.", base + "\n\nAlice's classic line.")
    assert merged == base + " Bob two.\n\nAlice's classic line."


def test_an_insertion_both_sides_hold_is_not_inserted_twice_when_diffs_would_place_it_apart():
    # A direct base->revision diff puts the revision's "cat " one word away from the live text's: diff3 on
    # those two diffs would insert it twice ("cat cat cat").
    base, live, revision = "and cat mat the", "and cat cat mat the", "an\nX\nd cat cat mat the"
    assert diff3.three_way(base, live, revision) == revision


def test_edits_that_overlap_partly_keep_both_without_duplicating_their_common_part():
    base = "The quick brown fox jumps.\n"
    live = "The quick red fox jumps high.\n"  # brown -> red, + high
    revision = "The quick red fox leaps.\n"  # brown -> red (the same), jumps -> leaps
    merged = diff3.three_way(base, live, revision)
    assert merged.count("red") == 1 and "brown" not in merged
    assert "leaps" in merged and "high" in merged and merged.startswith("The quick red fox ")


def test_edits_of_different_places_both_apply():
    base = "".join(f"line {i}\n" for i in range(20))
    live = base.replace("line 2\n", "line two\n").replace("line 15\n", "line 15 and more\n")
    revision = base.replace("line 8\n", "").replace("line 19\n", "line nineteen\n")
    expected = (
        base.replace("line 2\n", "line two\n")
        .replace("line 15\n", "line 15 and more\n")
        .replace("line 8\n", "")
        .replace("line 19\n", "line nineteen\n")
    )
    assert diff3.three_way(base, live, revision) == expected


def test_changes_next_to_each_other_in_one_word_both_apply():
    # Nothing unchanged between them (diff3 would call it a conflict), but they touch different characters.
    base = "The quick brown fox.\n"
    assert diff3.three_way(base, "The quick very brown fox.\n", "The quick red fox.\n") == "The quick very red fox.\n"
    assert diff3.three_way("abc", "aYc", "abXc") == "aYXc"


def test_a_conflict_in_one_line_keeps_both_sides_changes():
    base = "The cat sat on the mat.\n"
    live = "The black cat sat on the mat.\n"
    revision = "The cat sat on the red mat.\n"
    assert diff3.three_way(base, live, revision) == "The black cat sat on the red mat.\n"
    # Both rewrote the same word: both versions stay (the live one first), nothing is lost.
    assert diff3.three_way("It is red.\n", "It is blue.\n", "It is green.\n") in (
        "It is bluegreen.\n",
        "It is blue green.\n",
    )


def test_astral_characters_are_merged_at_the_right_places():
    base = "𝒜 one 😀 two\n"
    room = PageRoom("T", Base(1, base, seed_update("T", 1, base)))
    apply_typed(room, "sid", "Bob", " 🎉 Bob", at=len("𝒜 one 😀 two"))
    revision = Revision(2, "𝒜 one 😀😀 two 🎉 Bob\nAlice 𝔅\n", "2026-12-02T10:00:00Z", "Alice")
    assert merge.merge_outside(Registry(), room, revision)
    assert room.current_text() == "𝒜 one 😀😀 two 🎉 Bob\nAlice 𝔅\n"


def test_merging_an_outside_revision_makes_it_the_base_and_credits_no_editor():
    base = "one\ntwo\n"
    room = PageRoom("T", Base(1, base, seed_update("T", 1, base)))
    apply_typed(room, "sid", "Bob", "three\n")
    room.contributions = type(room.contributions)()  # (only what the merge does counts below)
    heard: list[object] = []
    room.listeners.append(lambda update, origin: heard.append(origin))
    revision = Revision(7, "one\ntwo\nthree\nfour\n", "2026-12-02T10:00:00Z", "Alice")
    registry = Registry()
    merge.merge_outside(registry, room, revision)
    assert room.current_text() == revision.text
    assert heard == [WikiOrigin(7, "Alice")] and list(room.contributions.authors) == []
    assert (room.base.revid, room.base.text, room.base.timestamp) == (7, revision.text, revision.timestamp)
    # The base's CRDT state is an ancestor of the live document, here with the revision's text.
    doc, text = fork(room.base.state)
    assert str(text) == revision.text
    assert room.doc.get_update(doc.get_state()) == room.doc.get_update(room.state_vector())


def test_the_base_state_stays_an_ancestor_when_the_session_keeps_changes_of_its_own():
    base = "one\ntwo\n"
    room = PageRoom("T", Base(1, base, seed_update("T", 1, base)))
    apply_typed(room, "sid", "Bob", "Bob's\n")
    merge.merge_outside(Registry(), room, Revision(2, "zero\none\ntwo\n", "2026-12-02T10:00:00Z", "Alice"))
    assert room.current_text() == "zero\none\ntwo\nBob's\n"
    assert room.base.text == "zero\none\ntwo\n"
    reloaded = PageRoom("T", room.base, state=room.base.state)  # as the registry reloads a page
    reloaded.doc.apply_update(room.full_state())
    assert reloaded.current_text() == room.current_text()


class Registry:
    """What merge_outside asks of the registry: to record the new base."""

    def set_base(self, room: PageRoom, base: Base) -> None:
        room.base = base


texts = st.text(alphabet=st.sampled_from("ab \n😀é"), max_size=40)


@settings(max_examples=300, deadline=None)
@given(base=texts, live=texts)
def test_a_revision_equal_to_the_live_text_changes_nothing(base: str, live: str):
    assert diff3.three_way_edits(base, live, live) == []


@settings(max_examples=300, deadline=None)
@given(base=texts, revision=texts)
def test_without_unsaved_changes_the_merge_is_the_revision(base: str, revision: str):
    assert diff3.three_way(base, base, revision) == revision


@settings(max_examples=300, deadline=None)
@given(base=texts, live=texts, revision=texts)
def test_a_merge_keeps_every_character_both_sides_added(base: str, live: str, revision: str):
    merged = diff3.three_way(base, live, revision)
    for side in (live, revision):
        # What a side has beyond the base is, as a subsequence, in the merge (nothing typed is dropped).
        assert all(c in merged for c in set(side) - set(base))


def test_a_revision_that_copied_the_unsaved_end_of_a_line_and_added_a_line_keeps_each_once():
    base = "Intro.\n\n== Notes ==\nFirst note."
    live = base + "\nBob's note."
    assert diff3.three_way(base, live, live + "\nAlice's line.") == live + "\nAlice's line."
    assert diff3.three_way(base, live + " More.", live + "\nAlice's line.").count("Bob's note.") == 1
