"""Flood benchmark: does one flooding client hurt the other editors of its page?

    python -m bench.flood [--seconds 15] [--rate 20] [--rounds 3] [--attack updates|awareness]
                          [--wiki-api URL --bot-user NAME]

Editor A types ``--rate`` one-character edits a second for ``--seconds``; editor B, on the same page,
timestamps the arrival of each (A and B share one process and clock). Three runs, each against a fresh
``collab serve``: no flood; a flood with the default limits; a flood with the rate limits switched off.
The flooder is a separate process, on loopback only, sending real Yjs updates as fast as it can for the
whole run and reconnecting whenever the server cuts it off (bounded: it stops when the run ends). The
server is pinned to CPU 0, the clients to CPU 1 (the flooder at the lowest priority, so as not to starve
the measuring editors), when ``taskset`` exists. The three runs are repeated
in interleaved rounds. Prints a table per run and the medians.

``--attack awareness`` (issue 14): the attacker is an anonymous client that sends awareness messages of
840,000 empty states (4 MiB each) instead, reconnecting whenever it is cut off; two runs, unloaded and
attacked, and the table adds the server's RSS growth over the run (sampled every 0.2 s from /proc).

Without ``--wiki-api``, a throwaway dev wiki is started (and removed) in a temporary directory; with it,
the bot password comes from ``COLLAB_BOT_PASSWORD``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import socketio
from pycrdt import Doc, Text

from collab import protocol as p

ROOT = Path(__file__).resolve().parents[1]
PIN = shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2


def log(message: str) -> None:
    print(f"[flood] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- the server ------------------------------------------------------------------------------------------
def start_server(wiki: dict[str, str], data_dir: Path, extra: list[str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [sys.executable, "-m", "collab", "serve", "--port", str(port), "--wiki-api", wiki["api"],
           "--bot-user", wiki["bot_user"], "--data-dir", str(data_dir), "--commit-idle-s", "3600",
           "--commit-max-s", "3600", "--log-level", "warning", *extra]  # fmt: skip
    if PIN:
        cmd = ["taskset", "-c", "0", *cmd]
    env = dict(os.environ, COLLAB_BOT_PASSWORD=wiki["bot_password"])
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"collab serve exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as resp:
                if resp.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("collab serve did not start")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)  # throwaway data: no need to save
        proc.wait()


# ---- clients ---------------------------------------------------------------------------------------------
class Editor:
    """A minimal Yjs client on one page (pycrdt + python-socketio)."""

    def __init__(self, url: str, title: str) -> None:
        self.url, self.title = url, title
        self.sio = socketio.AsyncClient(reconnection=False)
        self.doc: Doc[Any] = Doc()
        self.text = self.doc.get(p.TEXT_NAME, type=Text)
        self.remote = False
        self.on_change: Any = None
        self._sends: set[asyncio.Future[None]] = set()
        self.sio.on("y", self._on_y)

    async def start(self) -> Editor:
        await self.sio.connect(self.url, transports=["websocket"], wait_timeout=10)
        ack = await self.sio.call("join", self.title, timeout=30)
        assert ack["ok"], ack
        self.doc.observe(self._local)
        await self.sio.emit("y", (self.title, p.sync_step1(self.doc.get_state())))
        return self

    def _local(self, event: Any) -> None:
        if not self.remote:
            sent = asyncio.ensure_future(self.sio.emit("y", (self.title, p.sync_update(event.update))))
            self._sends.add(sent)
            sent.add_done_callback(self._sends.discard)

    async def _on_y(self, title: str, msg: bytes) -> None:
        m = p.parse_message(msg)
        if m.kind == "step1":
            await self.sio.emit("y", (title, p.sync_step2(self.doc.get_update(m.payload))))
        elif m.kind in ("step2", "update"):
            self.remote = True
            try:
                self.doc.apply_update(m.payload)
            finally:
                self.remote = False
            if self.on_change is not None:
                self.on_change()

    async def close(self) -> None:
        await self.sio.disconnect()


async def measure(url: str, title: str, seconds: float, rate: float) -> list[float]:
    """A types; B receives: each edit's relay latency in ms (NaN: never arrived)."""
    a, b = await Editor(url, title).start(), await Editor(url, title).start()
    sent: dict[int, float] = {}
    got: dict[int, float] = {}
    next_mark = [0]
    count = int(seconds * rate)
    all_there = asyncio.Event()

    def arrived() -> None:
        text = str(b.text)
        while f"<{next_mark[0]}>" in text:
            got[next_mark[0]] = time.perf_counter()
            next_mark[0] += 1
        if len(got) >= count:
            all_there.set()

    b.on_change = arrived
    start = time.perf_counter()
    for i in range(count):
        await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))  # paced typing
        sent[i] = time.perf_counter()
        with a.doc.transaction():
            a.text.insert(len(a.text), f"<{i}>")
    try:
        await asyncio.wait_for(all_there.wait(), 30)
    except TimeoutError:
        pass  # counted as lost below
    await a.close()
    await b.close()
    return [(got[i] - sent[i]) * 1000 if i in got else float("nan") for i in range(count)]


def awareness_bomb(states: int = 840_000) -> bytes:
    """An awareness message of ``states`` empty states (5 bytes each): 4 MiB by default."""
    body = b"".join(p.write_varuint(n) + b"\x01\x00" for n in range(1 << 14, (1 << 14) + states))
    return p.awareness_message(p.write_varuint(states) + body)


def flooder_main(url: str, title: str, seconds: float, attack: str = "updates") -> None:
    """The flooding process: real updates (or awareness bombs) as fast as possible, reconnecting when cut
    off, for ``seconds``."""
    bomb = awareness_bomb() if attack == "awareness" else b""

    async def run() -> None:
        end = time.monotonic() + seconds
        sent = cuts = 0
        while time.monotonic() < end:
            sio = socketio.AsyncClient(reconnection=False)
            try:
                await sio.connect(url, transports=["websocket"], wait_timeout=10)
                ack = await sio.call("join", title, timeout=30)
                if not ack.get("ok"):
                    await asyncio.sleep(0.5)
                    continue
            except (socketio.exceptions.ConnectionError, socketio.exceptions.TimeoutError):
                await asyncio.sleep(0.5)
                continue
            doc: Doc[Any] = Doc()
            text = doc.get(p.TEXT_NAME, type=Text)
            while sio.connected and time.monotonic() < end:
                if bomb:
                    await sio.emit("y", (title, bomb))
                    sent += 1
                    await asyncio.sleep(0)
                    continue
                sv = doc.get_state()
                text.insert(0, "f")
                await sio.emit("y", (title, p.sync_update(doc.get_update(sv))))
                sent += 1
                await asyncio.sleep(0)  # emit only queues: let the transport's writer run
            cuts += 0 if sio.connected else 1
            await sio.disconnect()
        print(f"{sent} {cuts}", flush=True)

    asyncio.run(run())


# ---- the runs --------------------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    ordered = sorted(v for v in values if v == v)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def scenario(name: str, wiki: dict[str, str], work: Path, args: argparse.Namespace, *, flood: bool,
                   limits: list[str]) -> dict[str, Any]:  # fmt: skip
    proc, url = start_server(wiki, work / name.replace(" ", "-"), limits)
    title = f"Flood bench {name} {uuid.uuid4().hex[:8]}"  # a page saved by an earlier run would seed it
    flooder = None
    rss = RssSampler(proc.pid)
    sampling = asyncio.ensure_future(rss.run())
    try:
        if flood:
            cmd = [sys.executable, "-m", "bench.flood", "--flooder", url, title, str(args.seconds + 2), args.attack]
            # The flooder shares CPU 1 with the measuring editors: at the lowest priority, so that what is
            # measured is the server's response, not the editors starved by a local flooder.
            cmd = ["nice", "-n", "19", *(["taskset", "-c", "1"] if PIN else []), *cmd]
            flooder = await asyncio.create_subprocess_exec(*cmd, cwd=ROOT, stdout=asyncio.subprocess.PIPE)
            await asyncio.sleep(1.0)  # let the flood reach full speed before measuring
        latencies = await measure(url, title, args.seconds, args.rate)
        flood_sent = cuts = 0
        if flooder is not None:
            out, _ = await asyncio.wait_for(flooder.communicate(), 60)
            flood_sent, cuts = (int(x) for x in out.decode().split()[-2:])
        healthy = await asyncio.to_thread(is_healthy, url)
        dropped = await asyncio.to_thread(rejected, url)
    finally:
        sampling.cancel()
        if flooder is not None and flooder.returncode is None:
            flooder.kill()
            await flooder.wait()
        stop(proc)
    lost = sum(1 for v in latencies if v != v)
    return {
        "name": name,
        "edits": len(latencies),
        "lost": lost,
        "p50": statistics.median(v for v in latencies if v == v),
        "p99": percentile(latencies, 0.99),
        "max": max(v for v in latencies if v == v),
        "flood_sent": flood_sent,
        "cuts": cuts,
        "dropped": dropped,
        "healthy": healthy,
        "rss_growth_mb": rss.growth_mb(),
    }


class RssSampler:
    """The server's resident memory (Linux /proc) every 0.2 s: how much it grew over its first sample."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[float] = []

    def sample(self) -> None:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    self.samples.append(int(line.split()[1]) / 1024)
        except OSError:
            pass  # the process is gone: the run is over

    async def run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(0.2)

    def growth_mb(self) -> float:
        return max(self.samples) - self.samples[0] if self.samples else float("nan")


def is_healthy(url: str) -> bool:
    with urllib.request.urlopen(url + "/healthz", timeout=10) as resp:
        return bool(resp.status == 200)


def rejected(url: str) -> int:
    """Messages the server refused for the rate limits (from /metrics)."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
        lines = resp.read().decode().splitlines()
    total = 0.0
    for line in lines:
        if line.startswith("collab_messages_rejected_total{") and 'reason="rate_' in line:
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def start_wiki(work: Path) -> tuple[dict[str, str], Any]:
    from collab.dev import devwiki

    port = free_port()
    log(f"starting a throwaway dev wiki on port {port}")
    wiki = devwiki.up(work / "wiki", port, collab_url=None, quiet=True)
    env = wiki.env()
    info = {"api": env["DEVWIKI_API"], "bot_user": env["DEVWIKI_BOT_USER"], "bot_password": env["DEVWIKI_BOT_PASSWORD"]}
    return info, lambda: devwiki.down(wiki.dir, wiki.port)


async def main_async(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="collab-flood-"))
    down = None
    try:
        if args.wiki_api:
            wiki = {"api": args.wiki_api, "bot_user": args.bot_user, "bot_password": os.environ["COLLAB_BOT_PASSWORD"]}
        else:
            wiki, down = start_wiki(work)
        off = ["--updates-per-s", "0", "--user-updates-per-s", "0"]
        runs: tuple[tuple[str, bool, list[str]], ...] = (
            ("unloaded", False, []),
            ("flood, default limits", True, []),
            ("flood, no rate limits", True, off),
        )
        if args.attack == "awareness":
            runs = (("unloaded", False, []), ("4 MiB awareness bombs", True, []))
        rows: list[dict[str, Any]] = []
        for round_ in range(1, args.rounds + 1):  # interleaved: a busy moment of the machine hits every run
            for name, flood, limits in runs:
                log(f"round {round_}/{args.rounds}: {name}")
                row = await scenario(name, wiki, work, args, flood=flood, limits=limits)
                rows.append({**row, "round": round_})
    finally:
        if down is not None:
            down()
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nRelay latency of another editor's edits ({args.rate:g} edits/s for {args.seconds:g} s, ms), "
          f"{args.rounds} rounds; {'server on CPU 0, clients on CPU 1' if PIN else 'no CPU pinning'}\n")  # fmt: skip
    print("| round | run | edits | lost | p50 | p99 | max | p99 / unloaded | flood msgs sent | dropped by limits "
          "| flooder cut off | server up | RSS growth MB |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        base = next(b["p99"] for b in rows if b["round"] == r["round"] and b["name"] == "unloaded")
        print(f"| {r['round']} | {r['name']} | {r['edits']} | {r['lost']} | {r['p50']:.2f} | {r['p99']:.2f} | "
              f"{r['max']:.2f} | {r['p99'] / base:.2f}x | {r['flood_sent']} | {r['dropped']} | {r['cuts']} | "
              f"{'yes' if r['healthy'] else 'NO'} | {r['rss_growth_mb']:.1f} |")  # fmt: skip
    print("\n| run | median p50 | median p99 | median p99 / unloaded |")
    print("|---|---|---|---|")
    base_p99 = statistics.median(r["p99"] for r in rows if r["name"] == "unloaded")
    for name, _, _ in runs:
        mine = [r for r in rows if r["name"] == name]
        p99 = statistics.median(r["p99"] for r in mine)
        print(f"| {name} | {statistics.median(r['p50'] for r in mine):.2f} | {p99:.2f} | {p99 / base_p99:.2f}x |")
    return 0


def main() -> int:
    if len(sys.argv) == 6 and sys.argv[1] == "--flooder":
        flooder_main(sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5])
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.flood", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="how long editor A types")
    parser.add_argument("--rate", type=float, default=20.0, help="editor A's edits a second")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the three runs")
    parser.add_argument(
        "--attack",
        choices=("updates", "awareness"),
        default="updates",
        help="what the attacker sends: real updates, or 4 MiB awareness messages of empty states",
    )
    parser.add_argument("--wiki-api", default="", help="an existing wiki (else a throwaway dev wiki)")
    parser.add_argument("--bot-user", default="SyncBot@collab")
    args = parser.parse_args()
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
