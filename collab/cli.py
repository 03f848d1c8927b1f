"""The ``collab`` command: ``serve``, ``devwiki``, ``sessions``, ``demo``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import shlex
import subprocess
import sys
import threading
from pathlib import Path

from . import __version__, config
from .errors import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="collab", description="MediaWiki Collab: real-time collaborative editing.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the collaboration server")
    config.add_arguments(serve)
    serve.set_defaults(func=cmd_serve)

    from .dev import devwiki

    devwiki.add_cli(sub)

    from .admin import cli as admincli

    admincli.add_cli(sub)

    demo = sub.add_parser("demo", help="start a local dev wiki and the server, print where to go")
    demo.add_argument("--dir", type=Path, default=Path(".demo"), help="where the demo keeps its wiki and data")
    demo.add_argument("--wiki-port", type=int, default=8181)
    demo.add_argument("--port", type=int, default=8765)
    demo.add_argument("--stop", action="store_true", help="stop the demo's wiki and server")
    demo.set_defaults(func=cmd_demo)

    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def cmd_serve(args: argparse.Namespace) -> int:
    from .app import serve

    try:
        settings = config.settings_from(args)
    except ConfigError as exc:
        print(f"collab serve: {exc.message}", file=sys.stderr)
        return 2
    missing = [
        flag for flag, value in (("--wiki-api", settings.wiki_api), ("--bot-user", settings.bot_user)) if not value
    ]
    if not settings.bot_password:
        missing.append("COLLAB_BOT_PASSWORD or --bot-password-file")
    if missing:
        print(f"collab serve: missing {', '.join(missing)}", file=sys.stderr)
        return 2
    _setup_logging(settings.log_level)
    code = asyncio.run(serve(settings))
    # A wiki request still running in a worker thread (a wiki that stopped answering) would hold the interpreter's
    # exit until its timeout: the shutdown is bounded, so the process leaves without it (its text is in the log).
    running = [t.name for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if running:
        logging.getLogger(__name__).warning("exiting without waiting for %s (a wiki request)", ", ".join(running))
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def cmd_demo(args: argparse.Namespace) -> int:
    from .dev import devwiki
    from .dev.procs import wait_http

    root = args.dir.resolve()
    wiki_dir = root / "wiki"
    pidfile = root / "collab.pid"
    if args.stop:
        _stop_pidfile(pidfile)
        devwiki.down(wiki_dir, args.wiki_port)
        print("demo stopped")
        return 0
    _stop_pidfile(pidfile)
    collab_url = f"http://127.0.0.1:{args.port}"
    wiki = devwiki.up(wiki_dir, args.wiki_port, collab_url=collab_url, rcfeed_port=args.port + 1)
    env = wiki.env()
    (root / "data").mkdir(parents=True, exist_ok=True)
    log_path = root / "collab.log"
    admin_token = _demo_admin_token(root / "admin-token")
    # In the environment, not on the command line: flags show in `ps`.
    proc_env = dict(os.environ, COLLAB_BOT_PASSWORD=env["DEVWIKI_BOT_PASSWORD"], COLLAB_ADMIN_TOKEN=admin_token)
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "collab", "serve", "--port", str(args.port), "--wiki-api", env["DEVWIKI_API"],
             "--bot-user", env["DEVWIKI_BOT_USER"], "--data-dir", str(root / "data"),
             "--rcfeed-port", str(args.port + 1)],
            env=proc_env, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    pidfile.write_text(str(proc.pid))
    if not wait_http(f"{collab_url}/healthz", timeout_s=30, proc=proc):
        print(f"the collab server did not start; see {log_path}:", file=sys.stderr)
        print(log_path.read_text()[-2000:], file=sys.stderr)
        return 1
    print(
        f"""
MediaWiki Collab demo is running.

  Open a page in collaborative mode (log in first, e.g. as Alice):
    {env["DEVWIKI_URL"]}/index.php?title=Sandbox&action=edit&collab=1
  Standalone editor without the wiki's UI:   {collab_url}/
  The wiki:                                   {env["DEVWIKI_URL"]}/
  Logins:  {env["DEVWIKI_ALICE_USER"]} / {env["DEVWIKI_ALICE_PASSWORD"]}    {env["DEVWIKI_BOB_USER"]} / \
{env["DEVWIKI_BOB_PASSWORD"]}    {env["DEVWIKI_ADMIN_USER"]} / {env["DEVWIKI_ADMIN_PASSWORD"]} (sysop)
  Live sessions (admins):  {sessions_command(collab_url, admin_token)}
  Dashboard: {collab_url}/admin (log in to the wiki as {env["DEVWIKI_ADMIN_USER"]} first)
  Server log: {log_path}
  Stop it all: make demo-stop
"""
    )
    return 0


def _demo_admin_token(path: Path) -> str:
    """The demo server's admin token: kept in ``path`` (owner-only) so that a printed command outlives restarts."""
    if path.exists():
        token = path.read_text(encoding="utf-8").strip()
        if len(token.encode()) >= config.MIN_SECRET_BYTES:
            return token
    token = secrets.token_urlsafe(32)  # 32 random bytes, 43 characters
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(token + "\n", encoding="utf-8")
    return token


def sessions_command(server: str, token: str) -> str:
    """A shell command line running ``collab sessions`` against ``server``, as this interpreter would run it."""
    script = Path(sys.executable).parent / "collab"  # the venv's entry point, next to its python
    program = [str(script)] if script.exists() else [sys.executable, "-m", "collab"]
    return shlex.join([*program, "sessions", "--server", server, "--token", token])


def _stop_pidfile(pidfile: Path) -> None:
    from .dev.procs import stop_group

    if pidfile.exists():
        stop_group(int(pidfile.read_text()), timeout_s=10)
        pidfile.unlink(missing_ok=True)
