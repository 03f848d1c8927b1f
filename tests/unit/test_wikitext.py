"""Reading wikitext without the wiki (collab/wikitext.py): edit summaries, sections touched, signature runs."""

from __future__ import annotations

from collab import wikitext


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


def test_sections_are_found_without_parsing_the_page_and_skip_literal_headings():
    old = "Lead\n== [[Geography|Land]] and ''sea'' ==\nx\n<!--\n== Hidden ==\n-->\n<nowiki>\n== Raw ==\n</nowiki>\ny\n"
    new = old.replace("\ny\n", "\ny and more\n")
    assert wikitext.sections_touched(old, new) == ["Land and sea"]  # the commented and nowiki headings are text
    assert wikitext.sections_touched(old, old + "== Added ==\nz\n") == ["Added"]


def test_signature_runs_skip_nowiki_pre_and_comments():
    text = "~~~ ~~~~ ~~~~~ ~~ ~~~~~~ <nowiki>~~~~</nowiki> <pre>~~~~</pre> <!-- ~~~~ -->"
    runs = wikitext.signature_runs(text)
    assert [text[a:b] for a, b in runs] == ["~~~", "~~~~", "~~~~~"]


def test_a_summary_drops_section_markers_from_the_end_before_any_name():
    assert wikitext.summary([], []) == "Collaborative edit by collaborators"
    text = wikitext.summary(["Alice"], ["History", "A" * 60], limit=60)
    assert text == "/* History */ Collaborative edit by [[User:Alice|Alice]]"


def test_user_links_point_anonymous_editors_to_their_contributions():
    assert wikitext.user_link("Alice") == "[[User:Alice|Alice]]"
    assert wikitext.user_link("2001:db8::1", anonymous=True) == "[[Special:Contributions/2001:db8::1|2001:db8::1]]"


def test_the_editors_words_come_first_then_the_credit_without_section_links():
    text = wikitext.summary(["Bob", "Alice"], ["History"], words="Fixed the dates", saver="Alice")
    assert text == "Fixed the dates (collaborative edit by [[User:Alice|Alice]] with [[User:Bob|Bob]])"
    assert wikitext.summary(["Bob"], [], words="Tidied", saver="Alice") == (
        "Tidied (collaborative edit by [[User:Bob|Bob]])"
    )


def test_section_links_are_at_most_three():
    text = wikitext.summary(["Alice"], ["A", "B", "C", "D", "E"])
    assert text == "/* A */ /* B */ /* C */ Collaborative edit by [[User:Alice|Alice]]"


def test_long_words_are_cut_before_the_credit_is_dropped():
    text = wikitext.summary(["Alice", "Bob"], [], words="x" * 500, saver="Alice", limit=500)
    assert len(text) <= 500 and text.startswith("xxx")
    assert text.endswith("… (collaborative edit by [[User:Alice|Alice]] and 1 others)")
