"""Processes the dev tools start (``collab demo``, ``make cluster-demo``): wait until one answers, stop a group."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request


def wait_http(url: str, *, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> bool:
    """Whether ``url`` answers 200 within ``timeout_s`` seconds; False at once if ``proc`` exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return True
        except OSError:
            pass  # not listening yet (refused, reset, 5xx): ask again
        time.sleep(0.2)  # polling a process that is starting: nothing to wait on
    return False


def stop_group(pid: int, *, timeout_s: float) -> None:
    """SIGTERM the process group ``pid`` leads, SIGKILL it if it is still there after ``timeout_s`` seconds."""
    try:
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            os.killpg(pid, 0)  # raises ProcessLookupError once the group is gone
            time.sleep(0.1)  # waiting for a process group to exit: no event to wait on
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # gone: what we wanted
