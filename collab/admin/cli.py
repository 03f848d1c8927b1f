"""``collab sessions``: the admin session list of a running server, as a table in the terminal.

Once: ``GET /api/sessions``. ``--watch``: connect the ``/admin`` Socket.IO namespace and redraw on every
snapshot the server pushes (no polling; a local one-second tick only refreshes the "idle for" figures).
Authenticates with the admin token (``--token`` or ``COLLAB_ADMIN_TOKEN``), sent as a bearer token.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

DEFAULT_SERVER = "http://127.0.0.1:8765"


def add_cli(sub: Any) -> None:
    """Register ``collab sessions`` on the ``collab`` command's subparsers."""
    parser = sub.add_parser("sessions", help="show the live editing sessions of a running server (admins)")
    parser.add_argument(
        "--server",
        default=os.environ.get("COLLAB_SERVER", DEFAULT_SERVER),
        help=f"the collab server's URL (default: $COLLAB_SERVER or {DEFAULT_SERVER})",
    )
    parser.add_argument("--token", default=None, help="the server's --admin-token (default: $COLLAB_ADMIN_TOKEN)")
    parser.add_argument("--watch", action="store_true", help="keep the table up to date as sessions change")
    parser.set_defaults(func=cmd_sessions)


def cmd_sessions(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get("COLLAB_ADMIN_TOKEN", "")
    server = str(args.server).rstrip("/")
    console = Console()
    if args.watch:
        try:
            return asyncio.run(_watch(server, token, console))
        except KeyboardInterrupt:
            return 0
    try:
        snapshot = fetch(server, token)
    except SessionsError as exc:
        print(f"collab sessions: {exc}", file=sys.stderr)
        return 1
    console.print(render(snapshot))
    return 0


class SessionsError(Exception):
    """The server could not be reached or refused the request."""


def fetch(server: str, token: str) -> dict[str, Any]:
    """``GET /api/sessions``. Raises SessionsError with the server's own explanation."""
    request = urllib.request.Request(server + "/api/sessions", headers={"Accept": "application/json"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            data: dict[str, Any] = json.load(resp)
            return data
    except urllib.error.HTTPError as exc:
        try:
            message = json.load(exc)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = exc.reason
        hint = "" if token else " (pass --token or set COLLAB_ADMIN_TOKEN)"
        raise SessionsError(f"{server} answered {exc.code}: {message}{hint}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise SessionsError(f"cannot reach {server}: {getattr(exc, 'reason', exc)}") from None


async def _watch(server: str, token: str, console: Console) -> int:
    import socketio
    from rich.live import Live

    sio = socketio.AsyncClient(reconnection=True, reconnection_delay_max=10)
    latest: dict[str, Any] | None = None
    changed = asyncio.Event()
    refused: list[str] = []

    async def on_sessions(snapshot: dict[str, Any]) -> None:
        nonlocal latest
        latest = snapshot
        changed.set()

    async def on_connect_error(data: Any) -> None:
        refused.append(str(data.get("message") if isinstance(data, dict) else data))
        changed.set()

    sio.on("sessions", on_sessions, namespace="/admin")
    sio.on("connect_error", on_connect_error, namespace="/admin")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        await sio.connect(
            server, namespaces=["/admin"], headers=headers, auth={"token": token} if token else None, wait_timeout=10
        )
    except socketio.exceptions.ConnectionError as exc:
        print(f"collab sessions: {server} refused: {refused[0] if refused else exc}", file=sys.stderr)
        return 1
    try:
        latest = await sio.call("sessions", {}, namespace="/admin", timeout=30)
        if console.is_terminal:
            with Live(render(latest), console=console, auto_refresh=False, screen=False) as live:
                while not refused:
                    try:
                        await asyncio.wait_for(changed.wait(), timeout=1.0)  # the tick re-renders idle times
                    except TimeoutError:
                        pass
                    changed.clear()
                    if latest is not None:
                        live.update(render(latest), refresh=True)
        else:  # a pipe or a file: one table per snapshot, as they come
            printed = None
            while not refused:
                if latest is not None and latest is not printed:
                    console.print(render(latest))
                    sys.stdout.flush()
                    printed = latest
                await changed.wait()
                changed.clear()
    finally:
        await sio.disconnect()
    if refused:
        print(f"collab sessions: {server} refused: {refused[0]}", file=sys.stderr)
        return 1
    return 0


# ---- rendering ------------------------------------------------------------------------------------------
def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    return f"{s // 3600} h {(s % 3600) // 60} min"


def render(snapshot: dict[str, Any]) -> Group:
    """The totals line and one table row per open page session."""
    now = time.time()
    skew = float(snapshot.get("generated_at", now)) - now  # show the server's idea of "now"
    t = snapshot["totals"]
    summary = Text.assemble(
        (_plural(t["pages"], "page"), "bold"),
        " · ",
        (_plural(t["editors"], "editor"), "bold"),
        f" ({t['users']} {'person' if t['users'] == 1 else 'people'})",
        " · ",
        (_plural(t["unsaved_chars"], "character") + " unsaved", "bold"),
        f" ({_plural(t['unsaved_pages'], 'page')})",
        f" · {t['saving']} saving · ",
        (_plural(t["errors"], "error"), "bold red" if t["errors"] else "bold"),
        f" · {_plural(t['outside_merges'], 'outside edit')} merged · {_plural(t['conflicts'], 'conflict')}",
        f" · last hour: {_plural(t['edits_last_hour'], 'edit')}, {_plural(t['saves_last_hour'], 'save')}",
        f" · node {snapshot['node']}",
    )
    table = Table(expand=False, show_lines=True)
    for column in ("Page", "Editors", "Unsaved", "Last save", "Outside / conflicts", "Last error", "Node"):
        table.add_column(column, overflow="fold")
    for s in snapshot["sessions"]:
        editors = "\n".join(
            f"{e['user']}{' [read-only]' if e['readonly'] else ''} "
            f"(since {time.strftime('%H:%M', time.localtime(e['connected_since']))}, "
            f"idle {_ago(now + skew - e['last_active'])})"
            for e in s["editors"]
        )
        u = s["unsaved"]
        unsaved = _plural(u["chars"], "character") + " changed"
        unsaved += f", oldest {_ago(now + skew - u['oldest_at'])}" if u["oldest_at"] else ""
        if u["authors"]:
            unsaved += f"\nby {', '.join(u['authors'])}"
        if s["saving"]:
            unsaved += "\nsaving..."
        last = s["last_save"]
        last_save = "-"
        if last:
            last_save = f"r{last['revid']} {last.get('timestamp') or ''}\n{', '.join(last['coauthors']) or '-'}"
        table.add_row(  # Text, not markup: a title or user name may contain "[...]"
            Text(s["title"]),
            Text(editors or "nobody"),
            Text(unsaved),
            Text(last_save),
            Text(f"{s['outside_merges']} / {s['conflicts']}"),
            Text(s["last_error"] or "-", style="red" if s["last_error"] else ""),
            Text(s["node"]),
        )
    return Group(summary, table)
