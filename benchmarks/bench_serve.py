"""Load benchmark of `maskwatch serve` on loopback: N concurrent clients for a bounded time,
p50/p99 latency, throughput, errors and the server's memory (RSS) over the run.

    python benchmarks/bench_serve.py [--clients 32] [--seconds 30] [--out benchmarks/results-serve.md]

Traffic goes only to 127.0.0.1, to a server this script starts and stops itself."""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_detect import machine, scene  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def client_loop(client: httpx.AsyncClient, url: str, body: bytes, until: float, lat: list, codes: list):
    while time.monotonic() < until:
        t = time.perf_counter()
        try:
            res = await client.post(url, content=body, headers={"content-type": "image/jpeg"})
            codes.append(res.status_code)
        except httpx.HTTPError as exc:
            codes.append(type(exc).__name__)
        lat.append((time.perf_counter() - t) * 1000)


async def run(port: int, clients: int, seconds: float, pid: int) -> dict:
    import cv2

    body = cv2.imencode(".jpg", scene(640, 480, 5), [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    url = f"http://127.0.0.1:{port}/v1/detect"
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        for _ in range(3):  # warm-up
            await client.post(url, content=body)
        rss = [rss_mb(pid)]
        lat: list[float] = []
        codes: list = []
        until = time.monotonic() + seconds
        tasks = [asyncio.create_task(client_loop(client, url, body, until, lat, codes)) for _ in range(clients)]
        while not all(t.done() for t in tasks):
            await asyncio.sleep(seconds / 10)
            rss.append(rss_mb(pid))
        await asyncio.gather(*tasks)
    ok = sum(1 for c in codes if c == 200)
    return {
        "clients": clients,
        "seconds": seconds,
        "requests": len(codes),
        "ok": ok,
        "errors": len(codes) - ok,
        "p50": float(np.percentile(lat, 50)),
        "p99": float(np.percentile(lat, 99)),
        "rps": ok / seconds,
        "rss_start": rss[0],
        "rss_max": max(rss),
        "rss_end": rss[-1],
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--profile", default="balanced")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [
        sys.executable,
        "-m",
        "maskwatch.cli",
        "serve",
        "--port",
        str(port),
        "--grpc-port",
        "0",
        "--profile",
        args.profile,
        "--queue",
        str(args.clients * 2),
    ]
    server = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "MASKWATCH_API_KEY": ""}
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        r = asyncio.run(run(port, args.clients, args.seconds, server.pid))
    finally:
        server.terminate()
        server.wait(10)
    print(machine())
    print(
        f"{r['clients']} clients x {r['seconds']:.0f} s ({args.profile}, 640x480 JPEG, 5 faces): {r['requests']} "
        f"requests, {r['errors']} errors, {r['rps']:.1f} req/s, latency p50 {r['p50']:.0f} ms p99 {r['p99']:.0f} ms; "
        f"server RSS {r['rss_start']:.0f} -> max {r['rss_max']:.0f} -> end {r['rss_end']:.0f} MB "
        f"(x{r['rss_end'] / r['rss_start']:.2f})"
    )
    if args.out:
        args.out.write_text(
            f"# Serve load benchmark ({time.strftime('%Y-%m-%d')})\n\nMachine: {machine()}\n\n"
            f"Command: `python benchmarks/bench_serve.py --clients {args.clients} --seconds {args.seconds:.0f} "
            f"--out {args.out}`\n\n| clients | seconds | requests | errors | req/s | p50 ms | p99 ms | RSS start MB | "
            f"RSS max MB | RSS end MB |\n|---|---|---|---|---|---|---|---|---|---|\n"
            f"| {r['clients']} | {r['seconds']:.0f} | {r['requests']} | {r['errors']} | {r['rps']:.1f} | "
            f"{r['p50']:.0f} | {r['p99']:.0f} | {r['rss_start']:.0f} | {r['rss_max']:.0f} | {r['rss_end']:.0f} |\n"
        )
    return 0 if r["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
