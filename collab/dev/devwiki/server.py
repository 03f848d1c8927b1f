"""The dev wiki's web server: PHP's built-in server (``php -S``) in its own process group, started, waited
for until its API answers, and stopped (the whole group) again.

The server's pid is recorded in the wiki's directory (:data:`~.wikidir.PID_FILE`), so another process
(``collab devwiki down``) can stop it; the command line of the group is checked first, so a stale pid
reused by an unrelated process is never signalled.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from .commands import MEDIAWIKI_ROOT
from .wikidir import HOST, PID_FILE, SERVER_LOG, DevWiki, DevWikiError, read_config

logger = logging.getLogger(__name__)

PHP_WORKERS = 4
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0


def start_server(dir: Path, port: int) -> DevWiki:
    """Start the PHP server of the existing wiki in ``dir`` and wait until its API answers.

    Does nothing if that server is already running and answering. Raises :class:`DevWikiError` if
    ``dir`` holds no wiki, the wiki was created for another port, or the port is in use.
    """
    wiki = DevWiki(Path(dir).absolute(), port)
    config = read_config(wiki.dir)
    if config is None or not wiki.local_settings.is_file():
        raise DevWikiError(f"no dev wiki in {wiki.dir}: create one with up() / `devwiki up` first")
    if config.port != port:
        raise DevWikiError(f"the wiki in {wiki.dir} was installed for port {config.port}, not {port}")
    if _server_pid(wiki.dir) is not None:
        if _answers(wiki):
            return wiki
        stop_server(wiki.dir)
    require_free_port(port)
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


def port_in_use(port: int) -> bool:
    """Whether something listens on 127.0.0.1:``port`` (a bind with SO_REUSEADDR fails)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return True
    return False


def require_free_port(port: int) -> None:
    """Raise :class:`DevWikiError` if another process listens on 127.0.0.1:``port``."""
    if port_in_use(port):
        raise DevWikiError(
            f"port {port} on {HOST} is already in use by another process "
            f"(find it with `ss -ltnp 'sport = :{port}'`); choose another --port"
        )


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


def _tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a text file ("" if it cannot be read)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
