"""Page titles: the cheap checks a joined title passes before anything asks the wiki, and the normalisation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collab.errors import InvalidTitle
from collab.titles import ILLEGAL_TITLE_CHARS, MAX_TITLE_CHARS, check_title, normalise_title


@pytest.mark.parametrize("title", ["Sandbox", "Talk:Foo/bar (baz)", "Ünïcode 😀 中文", "a" * MAX_TITLE_CHARS])
def test_a_title_a_wiki_could_hold_passes_unchanged(title: str):
    assert check_title(title) == title


@pytest.mark.parametrize("title", [42, None, b"Sandbox", "", "   ", "\t", "a" * (MAX_TITLE_CHARS + 1)])
def test_a_blank_oversized_or_non_string_title_is_invalid(title: object):
    with pytest.raises(InvalidTitle, match="non-empty string") as refused:
        check_title(title)
    assert refused.value.code == "invalidtitle"


@pytest.mark.parametrize("char", sorted(ILLEGAL_TITLE_CHARS))
def test_every_character_mediawiki_forbids_makes_a_title_invalid_and_is_named(char: str):
    with pytest.raises(InvalidTitle) as refused:
        check_title(f"Foo{char}bar")
    assert repr(char) in refused.value.message


def test_the_illegal_characters_are_the_wikis_and_the_api_list_separator():
    assert {"#", "<", ">", "[", "]", "{", "}", "|", "\n", "\x00", "\x7f"} <= ILLEGAL_TITLE_CHARS
    assert not {" ", "_", ":", "/", "(", ")", "*", "é"} & ILLEGAL_TITLE_CHARS


@pytest.mark.parametrize(
    ("title", "normal"),
    [
        ("sandbox", "Sandbox"),
        ("Main_Page", "Main Page"),
        ("  talk:foo__bar  ", "Talk:foo bar"),
        ("élan vital", "Élan vital"),
        ("", ""),
    ],
)
def test_titles_are_normalised_like_mediawiki_does_it(title: str, normal: str):
    assert normalise_title(title) == normal


@given(st.text(st.sampled_from(list("ab_ :Éé中"))))
def test_normalising_twice_changes_nothing(title: str):
    assert normalise_title(normalise_title(title)) == normalise_title(title)
