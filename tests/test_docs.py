"""The documentation matches the code it describes."""

from __future__ import annotations

import re
from pathlib import Path

from collab import config
from collab import protocol as p

ROOT = Path(__file__).parents[1]


def test_the_readme_configuration_table_lists_every_option_as_the_code_defines_it():
    readme = (ROOT / "README.md").read_text()
    assert config.markdown_table() in readme, "run: .venv/bin/python -m collab.config"


def test_the_readme_shows_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme


def test_every_flag_is_accepted_by_collab_serve():
    import argparse

    parser = argparse.ArgumentParser()
    config.add_arguments(parser)
    flags = {a for action in parser._actions for a in action.option_strings}
    assert {opt.flag for opt in config.OPTIONS} <= flags


def test_the_protocol_document_names_every_event_state_and_error_code():
    doc = (ROOT / "docs" / "protocol.md").read_text()
    for name in (p.EVENT_JOIN, p.EVENT_LEAVE, p.EVENT_Y, p.EVENT_STATUS, p.EVENT_SAVE, *p.STATES, *p.ERROR_CODES):
        assert re.search(rf"`{re.escape(name)}`", doc), name


def test_every_option_reads_its_environment_variable():
    import argparse

    parser = argparse.ArgumentParser()
    config.add_arguments(parser)
    settings = config.settings_from(parser.parse_args([]), {"COLLAB_PORT": "9999", "COLLAB_COMMIT_IDLE_S": "2"})
    assert settings.port == 9999 and settings.commit_idle_s == 2.0
    flagged = config.settings_from(parser.parse_args(["--port", "1234"]), {"COLLAB_PORT": "9999"})
    assert flagged.port == 1234
