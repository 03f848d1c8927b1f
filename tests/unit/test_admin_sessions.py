"""The session list's pure helpers: changed characters and the unsaved-text diff."""

from __future__ import annotations

from collab.admin.sessions import changed_chars, unified_diff


def test_changed_chars_counts_characters_not_updates() -> None:
    assert changed_chars("Start.", "Start.") == 0
    assert changed_chars("Start.", "Start. Alice.") == len(" Alice.")
    assert changed_chars("Start. Alice.", "Start.") == len(" Alice.")
    assert changed_chars("a cat sat", "a bat sat") == 1
    assert changed_chars("", "new page") == len("new page")


def test_changed_chars_is_the_span_of_changes_far_apart() -> None:
    assert changed_chars("x" + "-" * 10 + "y", "X" + "-" * 10 + "Y") == 12


def test_the_unified_diff_goes_from_the_revision_to_the_live_text() -> None:
    diff = unified_diff("Page", 7, "one\ntwo", "one\ntwo!")
    assert diff.splitlines() == [
        "--- Page (revision 7)",
        "+++ Page (live, unsaved)",
        "@@ -1,2 +1,2 @@",
        " one",
        "-two",
        "+two!",
    ]
    assert unified_diff("New", None, "", "text").splitlines()[0] == "--- New (not on the wiki yet)"
    assert unified_diff("Page", 7, "same", "same") == ""
