"""How far one Redis goes as the cluster's log and relay (docs/scaling.md quotes its output).

``.venv/bin/python -m bench.cluster [--seconds 5] [--nodes 1 3] [--fsync everysec always]``

Part 1 (``log``): N simulated nodes, each with the real :class:`collab.cluster.writer.Writer` (the pipelined,
ordered queue a node logs with), append 30-byte keystroke updates to 100 pages as fast as Redis takes them,
while one reader per node follows every page's Stream with ``XREAD`` like a node holding all of them.
Reports appended updates/s, Redis CPU (from /proc), and the AOF written.

Part 2 (``relay``): the real thing end to end: a dev wiki, two cluster nodes, a Python editor on each; the
editor on node A types, the editor on node B (and one on node A) measure how long each keystroke takes to
arrive. Needs the dev wiki's packages (``make deps``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from collab.cluster import codec
from collab.cluster.keys import key
from collab.cluster.writer import Writer
from collab.dev.procs import wait_http

UPDATE = bytes(30)  # the size of a typical one-character Yjs update
ENTRY = codec.encode(codec.Update("bench", UPDATE))  # the stream entry a node logs for it


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_redis(directory: Path, fsync: str) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory), "--appendonly", "yes",
         "--appendfsync", fsync, "--save", "", "--logfile", str(directory / "redis.log")],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(0.5)  # a benchmark: good enough to let it bind
    return proc, port


def _aof_bytes(directory: Path) -> int:
    return sum(f.stat().st_size for f in directory.rglob("*.aof"))


def _start_node(argv: list[str], password: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "collab", "serve", *argv], env=dict(os.environ, COLLAB_BOT_PASSWORD=password)
    )


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _node(url: str, pages: list[str], stop: asyncio.Event, counts: list[int]) -> None:
    client = aioredis.Redis.from_url(url)
    writer = Writer(client)
    task = asyncio.create_task(writer.run())
    i = 0
    while not stop.is_set():
        for _ in range(256):  # keep the queue full: the writer sends it in pipelined batches
            title = pages[i % len(pages)]
            writer.submit(lambda pipe, title=title: pipe.xadd(key(title, "log"), ENTRY))
            i += 1
        await writer.durable()
        counts[0] += 256
    task.cancel()
    await client.aclose()


async def _reader(url: str, pages: list[str], stop: asyncio.Event, counts: list[int]) -> None:
    client = aioredis.Redis.from_url(url, single_connection_client=True)
    positions = {key(t, "log"): "$" for t in pages}
    while not stop.is_set():
        result: Any = await client.xread(positions, count=1000, block=200)  # type: ignore[arg-type]
        for stream, entries in result or []:
            positions[stream.decode()] = entries[-1][0]
            counts[0] += len(entries)
    await client.aclose()


async def bench_log(nodes: int, fsync: str, seconds: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        proc, port = _start_redis(Path(tmp), fsync)
        url = f"redis://127.0.0.1:{port}/0"
        try:
            pages = [f"Page {n}" for n in range(100)]
            stop = asyncio.Event()
            written, read = [0], [0]
            cpu0, t0 = _cpu_seconds(proc.pid), time.monotonic()
            tasks = [asyncio.create_task(_node(url, pages, stop, written)) for _ in range(nodes)]
            tasks += [asyncio.create_task(_reader(url, pages, stop, read)) for _ in range(nodes)]
            await asyncio.sleep(seconds)  # the measurement window
            stop.set()
            await asyncio.gather(*tasks)
            elapsed = time.monotonic() - t0
            cpu = _cpu_seconds(proc.pid) - cpu0
            aof = _aof_bytes(Path(tmp))
        finally:
            proc.terminate()
            proc.wait()
    return {
        "nodes": nodes,
        "updates_per_s": written[0] / elapsed,
        "reads_per_s": read[0] / elapsed,
        "redis_cpu": cpu / elapsed,
        "aof_bytes_per_update": aof / max(1, written[0]),
    }


async def bench_relay(count: int, cluster: bool = True) -> dict[str, float]:
    from collab.dev import devwiki
    from tests.clients import PyClient

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        wiki = devwiki.up(root / "wiki", _free_port(), collab_url=None, quiet=True)
        redis_proc, redis_port = _start_redis(root, "everysec")
        env = wiki.env()
        procs = []
        ports = [_free_port(), _free_port()] if cluster else [_free_port()]
        redis_flag = ["--redis", f"redis://127.0.0.1:{redis_port}/0"] if cluster else []
        try:
            for n, port in enumerate(ports):
                procs.append(_start_node(
                    ["--port", str(port), "--wiki-api", env["DEVWIKI_API"], "--bot-user", env["DEVWIKI_BOT_USER"],
                     "--data-dir", str(root / f"d{n}"), *redis_flag, "--commit-idle-s", "600", "--commit-max-s", "600",
                     "--log-level", "warning"],
                    env["DEVWIKI_BOT_PASSWORD"],
                ))  # fmt: skip
            for port in ports:
                if not wait_http(f"http://127.0.0.1:{port}/healthz", timeout_s=60):
                    raise RuntimeError(f"the node on port {port} did not answer /healthz within 60 s")
            title = "Relay bench"
            typist = await PyClient(f"http://127.0.0.1:{ports[0]}").connect()
            local = await PyClient(f"http://127.0.0.1:{ports[0]}").connect()
            remote = await PyClient(f"http://127.0.0.1:{ports[-1]}").connect()
            pages = [await c.join(title) for c in (typist, local, remote)]
            for c, pg in zip((typist, local, remote), pages, strict=True):
                await c.wait_until(lambda pg=pg: pg.synced)
            other = "other node" if cluster else "single node"
            delays: dict[str, list[float]] = {"same node": [], other: []}
            for i in range(count):
                marker = f"<{i}>"
                sent = time.perf_counter()
                typist.append(title, marker)
                # Measure the farther editor alone (waiting for one first would delay noticing the other).
                name, client, page = (other, remote, pages[2]) if i % 2 else ("same node", local, pages[1])
                await client.wait_until(lambda page=page, marker=marker: marker in str(page), timeout=10)
                delays[name].append(time.perf_counter() - sent)
                await (remote if name == "same node" else local).wait_until(
                    lambda page=pages[2] if name == "same node" else pages[1], marker=marker: marker in str(page)
                )
                await asyncio.sleep(0.01)  # one keystroke at a time: latency, not throughput
            for c in (typist, local, remote):
                await c.close()
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait()
            redis_proc.terminate()
            devwiki.down(wiki.dir, wiki.port)
    out: dict[str, float] = {}
    for name, values in delays.items():
        values.sort()
        out[f"{name} median ms"] = statistics.median(values) * 1000
        out[f"{name} p99 ms"] = values[int(len(values) * 0.99) - 1] * 1000
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", nargs="*", default=["log", "relay", "single"], choices=["log", "relay", "single"])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--fsync", nargs="+", default=["everysec", "always"])
    parser.add_argument("--count", type=int, default=300, help="keystrokes for the relay part")
    args = parser.parse_args()
    if "log" in args.part:
        for fsync in args.fsync:
            for nodes in args.nodes:
                r = asyncio.run(bench_log(nodes, fsync, args.seconds))
                print(
                    f"log  appendfsync={fsync:8s} nodes={nodes}: {r['updates_per_s']:8.0f} updates/s appended, "
                    f"{r['reads_per_s']:8.0f}/s read back, Redis CPU {r['redis_cpu'] * 100:4.0f} % "
                    f"= {r['redis_cpu'] / r['updates_per_s'] * 1e6:.1f} us/update "
                    f"(one core: ~{r['updates_per_s'] / r['redis_cpu'] / 1000:.0f}k updates/s), "
                    f"AOF {r['aof_bytes_per_update']:.0f} B/update"
                )
    if "single" in args.part:
        r = asyncio.run(bench_relay(args.count, cluster=False))
        print("relay, one node, no Redis: " + ", ".join(f"{k}: {v:.2f}" for k, v in r.items()))
    if "relay" in args.part:
        r = asyncio.run(bench_relay(args.count))
        print("relay, two nodes on Redis: " + ", ".join(f"{k}: {v:.2f}" for k, v in r.items()))


if __name__ == "__main__":
    main()
