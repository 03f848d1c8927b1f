"""The settings (collab/config.py): read from flags, environment and files; what is refused when they are
built, and what is never shown. The README's copy of the table: tests/test_docs.py."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from collab.config import OPTIONS, ConfigError, Settings, add_arguments, markdown_table, settings_from

OPTION = {opt.name: opt for opt in OPTIONS}


def test_secrets_are_not_in_the_settings_repr():
    settings = Settings(
        token_secret="s" * 40,
        bot_password="bot-secret-1234",
        redis="redis://:redis-password@localhost",
        admin_token="admin-token-1234",
        metrics_token="metrics-token-1234",
    )
    for secret in ("s" * 40, "bot-secret-1234", "redis-password", "admin-token-1234", "metrics-token-1234"):
        assert secret not in repr(settings)


def test_a_short_token_secret_is_a_config_error():
    with pytest.raises(ConfigError):
        Settings(token_secret="short")


def test_tls_needs_both_files():
    with pytest.raises(ConfigError):
        Settings(tls_cert="cert.pem")


def test_bad_trusted_proxy_values_are_a_config_error():
    with pytest.raises(ConfigError):
        Settings(trusted_proxy=("not-an-ip",))


def settings(argv: list[str], environ: dict[str, str]) -> Settings:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return settings_from(parser.parse_args(argv), environ)


def test_a_flag_wins_over_the_environment_which_wins_over_the_default():
    assert settings([], {}).port == OPTION["port"].default
    assert settings([], {"COLLAB_PORT": "9000"}).port == 9000
    assert settings(["--port", "9100"], {"COLLAB_PORT": "9000"}).port == 9100


def test_booleans_and_lists_are_read_from_the_environment_too():
    read = settings([], {"COLLAB_ANONYMOUS": "no", "COLLAB_ALLOWED_ORIGIN": "https://a.example, https://b.example"})
    assert read.anonymous is False and read.allowed_origin == ("https://a.example", "https://b.example")
    assert settings(["--no-anonymous"], {"COLLAB_ANONYMOUS": "yes"}).anonymous is False


def test_a_value_that_does_not_parse_names_its_variable():
    with pytest.raises(ConfigError, match="COLLAB_PORT"):
        settings([], {"COLLAB_PORT": "eighty"})
    with pytest.raises(ConfigError, match="COLLAB_ANONYMOUS"):
        settings([], {"COLLAB_ANONYMOUS": "perhaps"})


def test_secrets_are_read_from_their_files_or_the_environment(tmp_path: Path):
    (tmp_path / "bot").write_text("bot-secret\n")
    (tmp_path / "token").write_text("t" * 40 + "\n")
    argv = ["--bot-password-file", str(tmp_path / "bot"), "--token-secret-file", str(tmp_path / "token")]
    read = settings(argv, {})
    assert read.bot_password == "bot-secret" and read.token_secret == "t" * 40
    assert settings([], {"COLLAB_BOT_PASSWORD": "from-env"}).bot_password == "from-env"
    with pytest.raises(ConfigError, match="cannot read --bot-password-file"):
        settings(["--bot-password-file", str(tmp_path / "missing")], {})


def test_the_readme_table_has_a_row_per_option_naming_its_flag_and_variable():
    rows = markdown_table().splitlines()[2:]
    assert len(rows) == len(OPTIONS)
    for row, opt in zip(rows, OPTIONS, strict=True):
        assert f"`{opt.flag}`" in row and f"`{opt.env}`" in row
