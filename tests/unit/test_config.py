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
        admin_token="admin-token-0123456789abcdefghijkl",
        metrics_token="metrics-token-0123456789abcdefghijkl",
    )
    for secret in ("s" * 40, "bot-secret-1234", "redis-password", "admin-token-0123456789", "metrics-token-0123456789"):
        assert secret not in repr(settings)


@pytest.mark.parametrize("name", ["token_secret", "admin_token", "metrics_token"])
def test_secrets_shorter_than_32_bytes_are_a_config_error_naming_the_secret(name: str):
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        Settings(**{name: "x" * 31})
    assert getattr(Settings(**{name: "x" * 32}), name) == "x" * 32
    with pytest.raises(ConfigError):  # bytes, not characters: 16 two-byte characters are 32 bytes, 15 are not
        Settings(**{name: "é" * 15})


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


def test_admin_and_metrics_tokens_are_read_from_their_files_unless_given_directly(tmp_path: Path):
    (tmp_path / "admin").write_text("a" * 40 + "\n")
    (tmp_path / "metrics").write_text("m" * 40 + "\n")
    argv = ["--admin-token-file", str(tmp_path / "admin"), "--metrics-token-file", str(tmp_path / "metrics")]
    read = settings(argv, {})
    assert read.admin_token == "a" * 40 and read.metrics_token == "m" * 40
    assert settings(argv, {"COLLAB_ADMIN_TOKEN": "e" * 32}).admin_token == "e" * 32
    for flag in ("--admin-token-file", "--metrics-token-file"):
        with pytest.raises(ConfigError, match=f"cannot read {flag}"):
            settings([flag, str(tmp_path / "missing")], {})
    (tmp_path / "short").write_text("short\n")
    with pytest.raises(ConfigError, match="--admin-token must be at least 32 bytes"):
        settings(["--admin-token-file", str(tmp_path / "short")], {})


def test_the_readme_table_has_a_row_per_option_naming_its_flag_and_variable():
    rows = markdown_table().splitlines()[2:]
    assert len(rows) == len(OPTIONS)
    for row, opt in zip(rows, OPTIONS, strict=True):
        assert f"`{opt.flag}`" in row and f"`{opt.env}`" in row
