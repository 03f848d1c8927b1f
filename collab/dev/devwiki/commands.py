"""Running programs for the dev wiki: MediaWiki's maintenance scripts, any command with its output logged,
and progress messages."""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from .wikidir import MAINTENANCE_LOG, DevWiki, DevWikiError

logger = logging.getLogger(__name__)

MEDIAWIKI_ROOT = Path("/usr/share/mediawiki")
"""Where Debian's ``mediawiki`` package installs MediaWiki (the PHP server's document root)."""


def maintenance(wiki: DevWiki, script: str, *args: str, stdin: str | None = None) -> str:
    """Run a MediaWiki maintenance script (e.g. ``"edit.php"``) against ``wiki``; return its output."""
    command = ["php", str(MEDIAWIKI_ROOT / "maintenance" / script), *args]
    env = {"MW_CONFIG_FILE": str(wiki.local_settings)}
    return run(command, what=script, env=env, stdin=stdin, log_dir=wiki.dir)


def run(
    command: Sequence[str],
    *,
    what: str,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    log_dir: Path | None = None,
) -> str:
    """Run ``command`` (extra ``env`` on top of ours); return its output or raise with that output."""
    full_env = {**os.environ, **(env or {})}
    try:
        result = subprocess.run(
            list(command),
            input=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=full_env,
            check=True,
        )
    except FileNotFoundError as error:
        raise DevWikiError(f"{what}: {command[0]} not found") from error
    except subprocess.CalledProcessError as error:
        output = error.output or ""
        _log_output(log_dir, command, output)
        message = f"{what} failed with exit code {error.returncode}: {shlex.join(command)}\n{output}"
        raise DevWikiError(message.rstrip()) from error
    _log_output(log_dir, command, result.stdout)
    return result.stdout


def _log_output(log_dir: Path | None, command: Sequence[str], output: str) -> None:
    """Append a command and its output to ``<log_dir>/maintenance.log`` (if ``log_dir`` exists)."""
    if log_dir is None or not log_dir.is_dir():
        return
    with (log_dir / MAINTENANCE_LOG).open("a", encoding="utf-8") as log:
        log.write(f"$ {shlex.join(command)}\n{output}")


def say(message: str, quiet: bool) -> None:
    """Report progress on stderr (or only to the log when ``quiet``)."""
    logger.debug(message)
    if not quiet:
        print(f"[devwiki {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
