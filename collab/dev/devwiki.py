"""A throwaway, real MediaWiki 1.39 on 127.0.0.1 for development, demos and tests.

The wiki uses Debian's ``mediawiki`` package (installed on demand), an SQLite database and PHP's
built-in web server. Nothing under ``/etc`` is touched and Apache is never started: every wiki lives
in its own directory, which holds ``LocalSettings.php`` (found by MediaWiki through the
``MW_CONFIG_FILE`` environment variable), the database, caches, logs and a small JSON file
(:data:`CONFIG_FILE`) that records how the wiki was created.

A fresh wiki has these fixed accounts (it only ever listens on 127.0.0.1):

=================  =====================================  =====================================
account            user name                              password
=================  =====================================  =====================================
sysop              ``Admin``                              ``AdminPass-12345``
normal user        ``Alice``                              ``AlicePass-12345``
normal user        ``Bob``                                ``BobPass-12345``
bot (group bot)    ``SyncBot``                            ``SyncBotPass-12345``
its bot password   ``SyncBot@collab``                     ``0123456789abcdefghijklmnopqrstuv``
=================  =====================================  =====================================

The bot password has the grants :data:`BOT_GRANTS`; the change tag :data:`CHANGE_TAG` is defined;
bots are exempt from rate limits. Optionally every recent change is pushed as a JSON datagram to a UDP
port (``$wgRCFeeds``), and the collaborative editor's loader is installed as the site script
``MediaWiki:Common.js``.

Command line (through the project's CLI, see :func:`add_cli`)::

    eval "$(collab devwiki up)"     # fresh wiki on http://127.0.0.1:8181, prints export lines
    collab devwiki env              # the export lines again
    collab devwiki down             # stop the server and delete the wiki
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ..wiki import CHANGE_TAG

__all__ = [
    "ADMIN",
    "ALICE",
    "APT_PACKAGES",
    "BOB",
    "BOT",
    "BOT_APPID",
    "BOT_GRANTS",
    "BOT_PASSWORD",
    "CHANGE_TAG",
    "DEFAULT_COLLAB_URL",
    "DEFAULT_DIR",
    "DEFAULT_PORT",
    "Account",
    "DevWiki",
    "DevWikiError",
    "add_cli",
    "down",
    "ensure_packages",
    "install_loader",
    "loader_script",
    "maintenance",
    "missing_packages",
    "start_server",
    "stop_server",
    "up",
]

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8181
DEFAULT_DIR = Path(tempfile.gettempdir()) / "collab-devwiki"
DEFAULT_COLLAB_URL = "http://127.0.0.1:8765"

HOST = "127.0.0.1"
"""The wiki listens on, and its ``$wgServer`` names, the IPv4 loopback address (never ``localhost``)."""

MEDIAWIKI_ROOT = Path("/usr/share/mediawiki")
APT_PACKAGES = ("mediawiki", "php-sqlite3", "php-cli", "php-intl", "php-mbstring", "php-xml")

SITE_NAME = "DevWiki"
DB_NAME = "devwiki"
"""SQLite database name; also the session cookie prefix (``devwiki_session``, ``devwikiUserID``...)."""

PHP_WORKERS = 4
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0

CONFIG_FILE = "devwiki.json"
"""Written first into every wiki directory: it marks the directory as ours (safe to delete)."""
PID_FILE = "server.pid"
SERVER_LOG = "server.log"
MAINTENANCE_LOG = "maintenance.log"


@dataclass(frozen=True)
class Account:
    """A wiki account: user name and (main or bot) password."""

    name: str
    password: str


ADMIN = Account("Admin", "AdminPass-12345")
ALICE = Account("Alice", "AlicePass-12345")
BOB = Account("Bob", "BobPass-12345")
BOT = Account("SyncBot", "SyncBotPass-12345")
"""The bot's own account (main password, for the web login form); programs use the bot password."""

BOT_APPID = "collab"
BOT_PASSWORD = "0123456789abcdefghijklmnopqrstuv"
"""MediaWiki only accepts bot passwords matching ``^[0-9a-w]{32,}$`` at login (x, y, z silently fail)."""
BOT_GRANTS = ("basic", "highvolume", "editpage", "createeditmovepage", "editprotected")


class DevWikiError(RuntimeError):
    """The dev wiki could not be installed, started or stopped; the message says why."""


@dataclass(frozen=True)
class _Config:
    """How a wiki was created; stored as JSON in ``<dir>/devwiki.json``."""

    port: int
    collab_url: str | None = None
    rcfeed_port: int | None = None


@dataclass(frozen=True)
class DevWiki:
    """A dev wiki: its directory and the port it is served on."""

    dir: Path
    port: int

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8181``."""
        return f"http://{HOST}:{self.port}"

    @property
    def api(self) -> str:
        """URL of ``api.php``."""
        return f"{self.url}/api.php"

    @property
    def index(self) -> str:
        """URL of ``index.php``."""
        return f"{self.url}/index.php"

    @property
    def local_settings(self) -> Path:
        """The wiki's ``LocalSettings.php`` (pass it to PHP as ``MW_CONFIG_FILE``)."""
        return self.dir / "LocalSettings.php"

    @property
    def rcfeed_port(self) -> int | None:
        """UDP port receiving the JSON recent-changes feed, or None when no feed is configured."""
        config = _read_config(self.dir)
        return config.rcfeed_port if config else None

    @property
    def collab_url(self) -> str | None:
        """Base URL of the collab server whose loader ``MediaWiki:Common.js`` loads, if installed."""
        config = _read_config(self.dir)
        return config.collab_url if config else None

    def env(self) -> dict[str, str]:
        """Environment variables describing this wiki and its accounts (see the module docstring)."""
        env = {
            "DEVWIKI_URL": self.url,
            "DEVWIKI_API": self.api,
            "DEVWIKI_DIR": str(self.dir),
            "DEVWIKI_ADMIN_USER": ADMIN.name,
            "DEVWIKI_ADMIN_PASSWORD": ADMIN.password,
            "DEVWIKI_ALICE_USER": ALICE.name,
            "DEVWIKI_ALICE_PASSWORD": ALICE.password,
            "DEVWIKI_BOB_USER": BOB.name,
            "DEVWIKI_BOB_PASSWORD": BOB.password,
            "DEVWIKI_BOT_USER": f"{BOT.name}@{BOT_APPID}",
            "DEVWIKI_BOT_PASSWORD": BOT_PASSWORD,
        }
        rcfeed_port = self.rcfeed_port
        if rcfeed_port is not None:
            env["DEVWIKI_RCFEED_PORT"] = str(rcfeed_port)
        return env


# --------------------------------------------------------------------------------------------------
# Public operations


def up(
    dir: Path,
    port: int,
    *,
    collab_url: str | None = DEFAULT_COLLAB_URL,
    rcfeed_port: int | None = None,
    quiet: bool = False,
) -> DevWiki:
    """Create a fresh wiki in ``dir`` (deleting any previous one there), start it and wait until it answers.

    Missing Debian packages are installed first. ``collab_url`` (None or "" to skip) is the collab
    server whose ``/static/loader.js`` becomes the site script; ``rcfeed_port`` (optional) receives a
    JSON datagram for every recent change. Raises :class:`DevWikiError` on any failure, including
    ``port`` being used by another process.
    """
    dir = Path(dir).absolute()
    _check_port_number(port)
    if rcfeed_port is not None:
        _check_port_number(rcfeed_port)
    collab_url = _normalise_collab_url(collab_url)
    ensure_packages(quiet=quiet)
    stop_server(dir)
    _require_free_port(port)
    _wipe(dir)
    _say(f"creating a fresh wiki in {dir}", quiet)
    (dir / "data").mkdir(parents=True)
    _write_config(dir, _Config(port=port, rcfeed_port=rcfeed_port))
    wiki = DevWiki(dir, port)
    _run_installer(wiki)
    _append_settings(wiki, rcfeed_port)
    _say(f"accounts {ALICE.name}, {BOB.name}, {BOT.name}@{BOT_APPID}; change tag {CHANGE_TAG}", quiet)
    _create_accounts(wiki)
    if collab_url:
        _say(f"site script MediaWiki:Common.js loads {loader_script(collab_url)}", quiet)
        install_loader(wiki, collab_url)
    _say(f"starting the server on {wiki.url}", quiet)
    start_server(dir, port)
    _say(f"up: {wiki.url} (log: {dir / SERVER_LOG})", quiet)
    return wiki


def start_server(dir: Path, port: int) -> DevWiki:
    """Start the PHP server of the existing wiki in ``dir`` and wait until its API answers.

    Does nothing if that server is already running and answering. Raises :class:`DevWikiError` if
    ``dir`` holds no wiki, the wiki was created for another port, or the port is in use.
    """
    wiki = DevWiki(Path(dir).absolute(), port)
    config = _read_config(wiki.dir)
    if config is None or not wiki.local_settings.is_file():
        raise DevWikiError(f"no dev wiki in {wiki.dir}: create one with up() / `devwiki up` first")
    if config.port != port:
        raise DevWikiError(f"the wiki in {wiki.dir} was installed for port {config.port}, not {port}")
    if _server_pid(wiki.dir) is not None:
        if _answers(wiki):
            return wiki
        stop_server(wiki.dir)
    _require_free_port(port)
    process = _spawn_server(wiki)
    _wait_until_ready(wiki, process)
    return wiki


def stop_server(dir: Path) -> None:
    """Stop the server recorded in ``dir`` (its whole process group: TERM, up to 5 s, then KILL).

    Does nothing if no server is recorded there.
    """
    pid_file = Path(dir).absolute() / PID_FILE
    pgid = _server_pid(pid_file.parent)
    if pgid is not None:
        _signal_group(pgid, signal.SIGTERM)
        if not _wait_group_gone(pgid, STOP_TIMEOUT):
            logger.warning("dev wiki server (process group %d) ignored SIGTERM: killing it", pgid)
            _signal_group(pgid, signal.SIGKILL)
            _wait_group_gone(pgid, STOP_TIMEOUT)
    pid_file.unlink(missing_ok=True)


def down(dir: Path, port: int) -> None:
    """Stop the wiki's server and delete ``dir`` (only if it is a dev wiki directory)."""
    dir = Path(dir).absolute()
    stop_server(dir)
    _wipe(dir)
    if _port_in_use(port):
        logger.warning("port %d is still in use after stopping the dev wiki in %s", port, dir)


def loader_script(collab_url: str) -> str:
    """URL of the collab client's loader served by the collab server at ``collab_url``."""
    return f"{collab_url.rstrip('/')}/static/loader.js"


def install_loader(wiki: DevWiki, collab_url: str) -> None:
    """Make ``MediaWiki:Common.js`` load ``<collab_url>/static/loader.js`` on every page (as Admin).

    Works whether or not the server is running; records ``collab_url`` in the wiki's config file.
    """
    collab_url = _normalise_collab_url(collab_url) or ""
    if not collab_url:
        raise DevWikiError("install_loader needs a collab server URL")
    source = (
        "/* Real-time collaborative editing: installed by `collab devwiki` (collab/dev/devwiki.py). */\n"
        f"mw.loader.load({json.dumps(loader_script(collab_url))});\n"
    )
    summary = "--summary=Load the collaborative editor"
    maintenance(wiki, "edit.php", f"--user={ADMIN.name}", summary, "MediaWiki:Common.js", stdin=source)
    config = _read_config(wiki.dir) or _Config(port=wiki.port)
    _write_config(wiki.dir, _Config(config.port, collab_url, config.rcfeed_port))


def maintenance(wiki: DevWiki, script: str, *args: str, stdin: str | None = None) -> str:
    """Run a MediaWiki maintenance script (e.g. ``"edit.php"``) against ``wiki``; return its output."""
    command = ["php", str(MEDIAWIKI_ROOT / "maintenance" / script), *args]
    env = {"MW_CONFIG_FILE": str(wiki.local_settings)}
    return _run(command, what=script, env=env, stdin=stdin, log_dir=wiki.dir)


# --------------------------------------------------------------------------------------------------
# Debian packages


def missing_packages() -> list[str]:
    """The Debian packages of :data:`APT_PACKAGES` that ``dpkg -s`` does not report as installed."""
    return [package for package in APT_PACKAGES if not _dpkg_installed(package)]


def ensure_packages(*, quiet: bool = False) -> None:
    """Install the missing Debian packages MediaWiki needs (``apt-get``, as root)."""
    if shutil.which("dpkg") is None:
        if shutil.which("php") and (MEDIAWIKI_ROOT / "maintenance" / "install.php").is_file():
            return  # not Debian, but MediaWiki and PHP are where we need them
        raise DevWikiError(f"dpkg not found: the dev wiki needs the Debian packages {' '.join(APT_PACKAGES)}")
    missing = missing_packages()
    if not missing:
        return
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
    if os.geteuid() != 0:
        raise DevWikiError(f"missing Debian packages; as root run: apt-get update && {shlex.join(install)}")
    _say(f"installing Debian packages: {' '.join(missing)}", quiet)
    apt_env = {"DEBIAN_FRONTEND": "noninteractive"}
    _run(["apt-get", "update", "-q"], what="apt-get update", env=apt_env)
    _run(install, what="apt-get install", env=apt_env)


def _dpkg_installed(package: str) -> bool:
    """Whether ``dpkg -s`` reports ``package`` as installed (not merely known or half-removed)."""
    result = subprocess.run(["dpkg", "-s", package], capture_output=True, text=True, check=False)
    return result.returncode == 0 and "Status: install ok installed" in result.stdout


# --------------------------------------------------------------------------------------------------
# Creating a wiki


def _run_installer(wiki: DevWiki) -> None:
    """Run ``install.php``: SQLite database, ``$wgServer`` on 127.0.0.1, the Admin sysop."""
    command = [
        "php",
        str(MEDIAWIKI_ROOT / "maintenance" / "install.php"),
        "--quiet",
        "--dbtype=sqlite",
        f"--dbpath={wiki.dir / 'data'}",
        f"--dbname={DB_NAME}",
        f"--server={wiki.url}",
        "--scriptpath=",
        f"--confpath={wiki.dir}",
        "--lang=en",
        f"--pass={ADMIN.password}",
        SITE_NAME,
        ADMIN.name,
    ]
    _run(command, what="install.php", log_dir=wiki.dir)
    if not wiki.local_settings.is_file():
        raise DevWikiError(f"install.php wrote no {wiki.local_settings}; see {wiki.dir / MAINTENANCE_LOG}")


def _settings_php(wiki: DevWiki, rcfeed_port: int | None) -> str:
    """PHP lines appended to the generated ``LocalSettings.php``."""
    lines = [
        "",
        "# ---- collab/dev/devwiki.py additions ----",
        "$wgShowExceptionDetails = true;",
        "$wgEnableEmail = false;",
        f"$wgCacheDirectory = {_php_string(str(wiki.dir / 'cache'))};",
        f"$wgUploadDirectory = {_php_string(str(wiki.dir / 'images'))};",
        "# The collab loader is installed as the site script MediaWiki:Common.js.",
        "$wgUseSiteJs = true;",
        "# Bots lack 'noratelimit' by default (90 edits/min): never throttle the sync bot.",
        "$wgGroupPermissions['bot']['noratelimit'] = true;",
    ]
    if rcfeed_port is not None:
        lines += [
            "# Push every recent change as one JSON datagram (UDP may drop: poll as well).",
            "$wgRCFeeds['collab'] = [ 'formatter' => 'JSONRCFeedFormatter', "
            f"'uri' => 'udp://{HOST}:{rcfeed_port}', 'omit_bots' => false ];",
        ]
    return "\n".join(lines) + "\n"


def _append_settings(wiki: DevWiki, rcfeed_port: int | None) -> None:
    """Append the dev wiki's settings to ``LocalSettings.php`` and create its cache directories."""
    for name in ("cache", "images"):
        (wiki.dir / name).mkdir(exist_ok=True)
    with wiki.local_settings.open("a", encoding="utf-8") as settings:
        settings.write(_settings_php(wiki, rcfeed_port))


def _create_accounts(wiki: DevWiki) -> None:
    """Create Alice, Bob, the bot with its bot password, and the change tag."""
    for account in (ALICE, BOB):
        maintenance(wiki, "createAndPromote.php", account.name, account.password)
    maintenance(wiki, "createAndPromote.php", "--bot", BOT.name, BOT.password)
    options = [f"--appid={BOT_APPID}", f"--grants={','.join(BOT_GRANTS)}"]
    maintenance(wiki, "createBotPassword.php", *options, BOT.name, BOT_PASSWORD)
    reason = "Saved by the real-time collaborative editor"
    maintenance(wiki, "addChangeTag.php", f"--tag={CHANGE_TAG}", f"--reason={reason}")


# --------------------------------------------------------------------------------------------------
# The PHP server


def _spawn_server(wiki: DevWiki) -> subprocess.Popen[bytes]:
    """Start ``php -S`` in a new session (its own process group) and record its pid."""
    php = shutil.which("php")
    if php is None:
        raise DevWikiError("php not found (Debian package php-cli)")
    command = [
        php,
        *("-d", "max_execution_time=300", "-d", "post_max_size=64M", "-d", "upload_max_filesize=64M"),
        *("-S", f"{HOST}:{wiki.port}", "-t", str(MEDIAWIKI_ROOT)),
    ]
    env = {
        **os.environ,
        "MW_CONFIG_FILE": str(wiki.local_settings),
        "PHP_CLI_SERVER_WORKERS": str(PHP_WORKERS),
    }
    with (wiki.dir / SERVER_LOG).open("ab") as log:
        log.write(f"---- {time.strftime('%Y-%m-%d %H:%M:%S')} {shlex.join(command)}\n".encode())
        log.flush()
        # start_new_session = setsid(): pgid == pid, so stop_server() can kill the workers as well.
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    _CHILDREN[process.pid] = process
    (wiki.dir / PID_FILE).write_text(f"{process.pid}\n")
    return process


_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
"""Servers started by this process, so that stopping them also reaps them (no zombies)."""


def _wait_until_ready(wiki: DevWiki, process: subprocess.Popen[bytes]) -> None:
    """Poll the API until it answers; fail with the log tail if the server exits or times out."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stop_server(wiki.dir)
            raise DevWikiError(
                f"the PHP server exited with code {process.returncode}; {wiki.dir / SERVER_LOG} ends with:\n"
                + _tail(wiki.dir / SERVER_LOG)
            )
        if _answers(wiki):
            return
        time.sleep(0.1)
    stop_server(wiki.dir)
    raise DevWikiError(
        f"{wiki.api} did not answer within {READY_TIMEOUT:.0f} s; {wiki.dir / SERVER_LOG} ends with:\n"
        + _tail(wiki.dir / SERVER_LOG)
    )


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""Talks to 127.0.0.1 directly, whatever ``http_proxy`` says."""


def _answers(wiki: DevWiki) -> bool:
    """Whether ``api.php?action=query&meta=siteinfo`` answers with MediaWiki's site info."""
    try:
        with _NO_PROXY.open(f"{wiki.api}?action=query&meta=siteinfo&format=json", timeout=5) as response:
            info = json.load(response)
    except (OSError, ValueError):  # URLError and timeouts are OSErrors; bad JSON a ValueError
        return False
    if not isinstance(info, dict):
        return False
    generator = info.get("query", {}).get("general", {}).get("generator", "")
    return isinstance(generator, str) and generator.startswith("MediaWiki")


def _server_pid(dir: Path) -> int | None:
    """The process group of the server recorded in ``dir``, if a PHP server still runs in it.

    Checking the command line guards against signalling an unrelated group that reused a stale pid.
    """
    try:
        pid = int((dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if any(_is_php_server(proc) for proc in _group_members(pid)) else None


def _group_members(pgid: int) -> list[Path]:
    """``/proc/<pid>`` of every process in group ``pgid`` that is not a zombie.

    ``kill(-pgid, 0)`` would count zombies too, and this machine's init may reap them late.
    """
    child = _CHILDREN.get(pgid)
    if child is not None and child.poll() is not None:
        del _CHILDREN[pgid]  # our own child: reap it
    return [proc for proc in Path("/proc").iterdir() if proc.name.isdigit() and _in_group(proc, pgid)]


def _in_group(proc: Path, pgid: int) -> bool:
    """Whether ``/proc/<pid>`` is a live (not zombie) process in group ``pgid``."""
    try:
        stat = (proc / "stat").read_text()
    except OSError:
        return False
    fields = stat[stat.rfind(")") + 2 :].split()  # after "pid (comm) ": state ppid pgrp ...
    return len(fields) >= 3 and fields[0] not in ("Z", "X") and int(fields[2]) == pgid


def _is_php_server(proc: Path) -> bool:
    """Whether ``/proc/<pid>`` runs ``php ... -S ...`` (False once it is exiting: empty cmdline)."""
    try:
        cmdline = (proc / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"php" in cmdline[0] and b"-S" in cmdline


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to process group ``pgid``; a vanished group is fine."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _wait_group_gone(pgid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` s for process group ``pgid`` to have no live process; True if it is gone."""
    deadline = time.monotonic() + timeout
    while _group_members(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _port_in_use(port: int) -> bool:
    """Whether something listens on 127.0.0.1:``port`` (a bind with SO_REUSEADDR fails)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return True
    return False


def _require_free_port(port: int) -> None:
    """Raise :class:`DevWikiError` if another process listens on 127.0.0.1:``port``."""
    if _port_in_use(port):
        raise DevWikiError(
            f"port {port} on {HOST} is already in use by another process "
            f"(find it with `ss -ltnp 'sport = :{port}'`); choose another --port"
        )


# --------------------------------------------------------------------------------------------------
# Small helpers


def _say(message: str, quiet: bool) -> None:
    """Report progress on stderr (or only to the log when ``quiet``)."""
    logger.debug(message)
    if not quiet:
        print(f"[devwiki {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _run(
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


def _tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a text file ("" if it cannot be read)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _php_string(value: str) -> str:
    """A single-quoted PHP string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _check_port_number(port: int) -> None:
    """Reject port numbers outside 1..65535."""
    if not 0 < port < 65536:
        raise DevWikiError(f"invalid port number {port}")


def _normalise_collab_url(collab_url: str | None) -> str | None:
    """``collab_url`` without trailing slash, None if empty; must be an http(s) URL."""
    if not collab_url:
        return None
    if not collab_url.startswith(("http://", "https://")):
        raise DevWikiError(f"the collab URL must start with http:// or https://, not {collab_url!r}")
    return collab_url.rstrip("/")


def _read_config(dir: Path) -> _Config | None:
    """The config recorded in ``dir``, or None if there is none (not a dev wiki directory)."""
    try:
        data = json.loads((dir / CONFIG_FILE).read_text())
        return _Config(int(data["port"]), data.get("collab_url"), data.get("rcfeed_port"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_config(dir: Path, config: _Config) -> None:
    """Record ``config`` in ``dir``."""
    (dir / CONFIG_FILE).write_text(json.dumps(asdict(config), indent=2) + "\n")


def _wipe(dir: Path) -> None:
    """Delete ``dir`` if it is a dev wiki directory (or empty); refuse any other existing directory."""
    if not dir.exists():
        return
    if dir.is_dir() and not dir.is_symlink():
        if (dir / CONFIG_FILE).is_file() or not any(dir.iterdir()):
            shutil.rmtree(dir)
            return
    raise DevWikiError(f"refusing to delete {dir}: it is not a dev wiki directory (no {CONFIG_FILE})")


# --------------------------------------------------------------------------------------------------
# Command line


def add_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``devwiki up|down|env`` on the project CLI's sub-command parsers."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="wiki directory (%(default)s)")
    common.add_argument("--port", type=int, default=DEFAULT_PORT, help="port on 127.0.0.1 (%(default)s)")
    parser = subparsers.add_parser(
        "devwiki",
        help="throwaway local MediaWiki for development and tests",
        description="A real MediaWiki 1.39 (SQLite, PHP built-in server) on 127.0.0.1.",
    )
    commands = parser.add_subparsers(dest="devwiki_command", metavar="{up,down,env}", required=True)
    up_help = "create a fresh wiki, start it, print export lines"
    up_parser = commands.add_parser("up", parents=[common], help=up_help)
    up_parser.add_argument(
        "--collab-url",
        default=DEFAULT_COLLAB_URL,
        help="collab server whose /static/loader.js the wiki loads; '' for none (default: %(default)s)",
    )
    up_parser.add_argument("--rcfeed-port", type=int, help="UDP port for the JSON recent-changes feed")
    up_parser.set_defaults(func=_cli_up)
    down_parser = commands.add_parser("down", parents=[common], help="stop the wiki and delete its directory")
    down_parser.set_defaults(func=_cli_down)
    env_parser = commands.add_parser("env", parents=[common], help="print the wiki's export lines")
    env_parser.set_defaults(func=_cli_env)


def _exports(wiki: DevWiki) -> str:
    """``export NAME=value`` lines (shell-quoted) for the wiki's environment."""
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in wiki.env().items())


def _cli_up(args: argparse.Namespace) -> int:
    """``devwiki up``: fresh wiki, progress on stderr, export lines on stdout."""
    try:
        wiki = up(args.dir, args.port, collab_url=args.collab_url, rcfeed_port=args.rcfeed_port)
    except DevWikiError as error:
        print(f"devwiki up: error: {error}", file=sys.stderr)
        return 1
    sys.stdout.write(_exports(wiki))
    return 0


def _cli_env(args: argparse.Namespace) -> int:
    """``devwiki env``: the export lines of the wiki in ``--dir``."""
    wiki = DevWiki(Path(args.dir).absolute(), args.port)
    config = _read_config(wiki.dir)
    if config is None:
        print(f"devwiki env: error: no dev wiki in {wiki.dir} (run `devwiki up` first)", file=sys.stderr)
        return 1
    if config.port != args.port:
        print(
            f"devwiki env: error: the wiki in {wiki.dir} uses port {config.port}, not {args.port}",
            file=sys.stderr,
        )
        return 1
    sys.stdout.write(_exports(wiki))
    return 0


def _cli_down(args: argparse.Namespace) -> int:
    """``devwiki down``: stop the server and delete the directory."""
    try:
        down(args.dir, args.port)
    except DevWikiError as error:
        print(f"devwiki down: error: {error}", file=sys.stderr)
        return 1
    print(f"[devwiki] stopped and removed {Path(args.dir).absolute()}", file=sys.stderr)
    return 0
