"""Load test of the playground server: N concurrent training sessions for T seconds on loopback.

Starts ``chainrule.playground.serve`` in a child process on 127.0.0.1 (a free port), opens N
websocket sessions that all press play (a mix of small and 6-layer networks, some on the MNIST
tab), keeps them training for T seconds while it

* measures how quickly the server answers: ``GET /healthz`` and websocket ping -> pong,
* sends each session a few malformed, out-of-range and oversized messages (each must come back
  as an ``error`` message while the session carries on),
* opens one session more than the server admits (it must be refused with a message),
* samples the server's resident memory (VmRSS) every half second,

then closes everything, checks that the server forgets the sessions, stops the server and prints
the figures. It binds only to 127.0.0.1 and stops by itself (hard limit: T + 60 s).

    python benchmarks/playground_load.py                  # 20 sessions x 60 s
    python benchmarks/playground_load.py --sessions 5 --seconds 5 --json

Exit status 0 when every check passed, 1 otherwise. ``run_load(...)`` is the same as a function
(the test suite runs a short version).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field

SERVER_CODE = """
import sys
from chainrule.playground import serve
serve(host="127.0.0.1", port=0, open_browser=False, data_dir=sys.argv[1] or None,
      max_sessions=int(sys.argv[2]), max_sessions_per_client=int(sys.argv[2]), idle_timeout=float(sys.argv[3]))
"""

BAD_MESSAGES = [
    '{"type":"config","lr":-5}',
    '{"type":"config","hidden":[8,8,8,8,8,8,8,8]}',
    '{"type":"config","batch_size":1e9}',
    "this is not json",
    '{"type":"rm -rf"}',
    json.dumps({"type": "config", "dataset": "x" * 40000}),  # 40 KB: over the 16 KiB limit
]


@dataclass
class SessionStats:
    frames: int = 0
    bytes: int = 0
    last_step: int = 0
    errors_expected: int = 0
    errors_seen: int = 0
    unexpected_errors: list = field(default_factory=list)
    ping_ms: list = field(default_factory=list)
    control_ms: list = field(default_factory=list)
    closed_early: str | None = None
    first_frame_at: float | None = None
    last_frame_at: float | None = None


def _cpu_s(pid: int) -> float | None:
    """User + system CPU seconds used so far by process ``pid`` (Linux)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _rss_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


async def _http_get(port: int, path: str) -> tuple[float, dict]:
    t0 = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    raw = await reader.read()
    writer.close()
    ms = (time.perf_counter() - t0) * 1000
    body = raw.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in raw else b"{}"
    try:
        return ms, json.loads(body)
    except ValueError:
        return ms, {}


async def _session(i: int, port: int, token: str, seconds: float, stats: SessionStats, mnist: bool) -> None:
    import websockets

    url = f"ws://127.0.0.1:{port}/ws?token={token}"
    async with websockets.connect(url, max_size=4 << 20, ping_interval=None) as ws:
        # greeting: hello, data, frame, state
        for _ in range(4):
            json.loads(await ws.recv())
        if mnist:
            await ws.send('{"type":"mode","mode":"mnist"}')
        elif i % 3 == 1:  # a deep sigmoid network, the heaviest 2-D configuration
            await ws.send(json.dumps({"type": "config", "hidden": [8] * 6, "activation": "sigmoid",
                                      "dataset": "spiral", "n_points": 800}))
        elif i % 3 == 2:
            await ws.send(json.dumps({"type": "config", "dataset": "xor", "optimizer": "adam",
                                      "lr": 0.03, "hidden": [6, 6]}))
        await ws.send('{"type":"play"}')
        end = time.perf_counter() + seconds
        pending_ping: float | None = None
        next_ping = time.perf_counter() + 0.5
        pending_control: float | None = None
        next_control = time.perf_counter() + 1.5 + (i % 7) * 0.1
        flip = False
        bad = list(BAD_MESSAGES)
        next_bad = time.perf_counter() + 1.0 + (i % 5) * 0.2
        while True:
            now = time.perf_counter()
            if now >= end:
                break
            if pending_ping is None and now >= next_ping:
                pending_ping = time.perf_counter()
                await ws.send('{"type":"ping"}')
            if pending_control is None and now >= next_control:
                flip = not flip
                pending_control = time.perf_counter()
                kind = "mnist_config" if mnist else "config"
                lr = (0.002 if flip else 0.001) if mnist else (0.2 if flip else 0.3)
                await ws.send(json.dumps({"type": kind, "lr": lr}))
            if bad and now >= next_bad:
                await ws.send(bad.pop(0))
                stats.errors_expected += 1
                next_bad = now + max(0.5, seconds / (len(BAD_MESSAGES) + 2))
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=max(0.01, min(0.5, end - now)))
            except asyncio.TimeoutError:
                continue
            stats.bytes += len(raw)
            msg = json.loads(raw)
            kind = msg.get("type")
            if kind in ("frame", "mnist_frame"):
                stats.frames += 1
                stats.last_step = msg["step"]
                t = time.perf_counter()
                stats.first_frame_at = stats.first_frame_at or t
                stats.last_frame_at = t
            elif kind == "pong" and pending_ping is not None:
                stats.ping_ms.append((time.perf_counter() - pending_ping) * 1000)
                pending_ping = None
                next_ping = time.perf_counter() + 0.5
            elif kind in ("config", "mnist_config") and pending_control is not None:
                stats.control_ms.append((time.perf_counter() - pending_control) * 1000)
                pending_control = None
                next_control = time.perf_counter() + 2.0
            elif kind == "error":
                stats.errors_seen += 1
                if stats.errors_seen > stats.errors_expected:
                    stats.unexpected_errors.append(msg.get("message"))
            elif kind == "closing":
                stats.closed_early = msg.get("reason")
                return
        # a bad message sent just before the end still gets its answer: wait for it (briefly)
        deadline = time.perf_counter() + 3.0
        while stats.errors_seen < stats.errors_expected and time.perf_counter() < deadline:
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=max(0.01, deadline - time.perf_counter()))
            except asyncio.TimeoutError:
                break
            if json.loads(raw).get("type") == "error":
                stats.errors_seen += 1
        await ws.send('{"type":"pause"}')


async def _refused(port: int, token: str) -> str | None:
    """Open one session too many; return the server's message (None if it was admitted)."""
    import websockets

    async with websockets.connect(f"ws://127.0.0.1:{port}/ws?token={token}") as ws:
        msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if msg.get("type") == "error":
            try:
                await asyncio.wait_for(ws.recv(), 5)
            except websockets.ConnectionClosed as exc:
                return f"{msg['message']} (closed with code {exc.rcvd.code if exc.rcvd else '?'})"
            return msg["message"]
        return None


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


async def _run(sessions: int, seconds: float, mnist_sessions: int, data_dir: str | None,
               verbose: bool) -> dict:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-c", SERVER_CODE, data_dir or "", str(sessions), "600"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 60)
        m = re.search(r"http://127\.0\.0\.1:(\d+)/\?token=([\w-]+)", line)
        if not m:
            raise RuntimeError(f"server did not start: {line!r} {proc.stderr.read() if proc.poll() else ''}")
        port, token = int(m.group(1)), m.group(2)
        await asyncio.sleep(0.3)
        rss = {"start_kb": _rss_kb(proc.pid)}
        cpu0 = _cpu_s(proc.pid) or 0.0
        load0 = os.getloadavg()[0]
        timeline: list[tuple[float, int]] = []
        health_ms: list[float] = []
        stats = [SessionStats() for _ in range(sessions)]
        t0 = time.perf_counter()
        stop = asyncio.Event()

        async def sampler():
            while not stop.is_set():
                kb = _rss_kb(proc.pid)
                if kb:
                    timeline.append((time.perf_counter() - t0, kb))
                try:
                    ms, _ = await asyncio.wait_for(_http_get(port, "/healthz"), 10)
                    health_ms.append(ms)
                except asyncio.TimeoutError:
                    health_ms.append(10_000.0)
                await asyncio.sleep(0.5)

        sampler_task = asyncio.create_task(sampler())
        tasks = [asyncio.create_task(_session(i, port, token, seconds, stats[i], i < mnist_sessions))
                 for i in range(sessions)]
        await asyncio.sleep(min(2.0, seconds / 2))
        refusal = await _refused(port, token)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        stop.set()
        await sampler_task
        wall = time.perf_counter() - t0
        cpu = (_cpu_s(proc.pid) or 0.0) - cpu0
        load1 = os.getloadavg()[0]
        # sessions must be forgotten once their sockets close
        open_after = None
        for _ in range(50):
            _, h = await _http_get(port, "/healthz")
            open_after = h.get("sessions")
            if open_after == 0:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        rss["after_close_kb"] = _rss_kb(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    crashed = [repr(r) for r in results if isinstance(r, BaseException)]
    # n frames span n - 1 intervals: counting n over that span would overstate the rate by one
    # frame per span (21/s for a session that kept exactly to 20/s for 4 s)
    fps = [(s.frames - 1) / (s.last_frame_at - s.first_frame_at) for s in stats
           if s.frames > 1 and s.last_frame_at > s.first_frame_at]
    pings = [p for s in stats for p in s.ping_ms]
    controls = [p for s in stats for p in s.control_ms]
    kbs = [kb for _, kb in timeline]
    half = [kb for t, kb in timeline if t >= seconds / 2]
    rss.update({"peak_kb": max(kbs) if kbs else None,
                "first_half_peak_kb": max((kb for t, kb in timeline if t < seconds / 2), default=None),
                "second_half_peak_kb": max(half) if half else None})
    report = {
        "sessions": sessions, "mnist_sessions": mnist_sessions, "seconds": seconds, "wall_s": round(wall, 1),
        "frames_total": sum(s.frames for s in stats),
        "fps_per_session": {"mean": round(statistics.mean(fps), 1) if fps else 0,
                            "min": round(min(fps), 1) if fps else 0, "max": round(max(fps), 1) if fps else 0},
        "steps_total": sum(s.last_step for s in stats),
        "mbytes_streamed": round(sum(s.bytes for s in stats) / 1e6, 1),
        "server_cpu_s": round(cpu, 1), "machine": {"cpus": os.cpu_count(), "load_avg_start": round(load0, 1),
                                                    "load_avg_end": round(load1, 1)},
        "ping_ms": {"p50": round(_pct(pings, 0.5), 1), "p95": round(_pct(pings, 0.95), 1),
                    "max": round(max(pings), 1) if pings else None, "n": len(pings)},
        "control_ms": {"p50": round(_pct(controls, 0.5), 1), "p95": round(_pct(controls, 0.95), 1),
                       "max": round(max(controls), 1) if controls else None, "n": len(controls)},
        "healthz_ms": {"p50": round(_pct(health_ms, 0.5), 1), "p95": round(_pct(health_ms, 0.95), 1),
                       "max": round(max(health_ms), 1) if health_ms else None, "n": len(health_ms)},
        "rss_mb": {k.replace("_kb", ""): (round(v / 1024, 1) if v else None) for k, v in rss.items()},
        "rss_timeline_mb": [(round(t, 1), round(kb / 1024, 1)) for t, kb in timeline[:: max(1, len(timeline) // 12)]],
        "bad_messages": {"sent": sum(s.errors_expected for s in stats),
                         "refused_with_error": sum(s.errors_seen for s in stats)},
        "extra_session_refused": refusal,
        "sessions_open_after_close": open_after,
        "problems": [],
    }
    p = report["problems"]
    if crashed:
        p.append(f"client sessions failed: {crashed[:3]}")
    if any(s.closed_early for s in stats):
        p.append("a session was closed early")
    if any(s.unexpected_errors for s in stats):
        p.append(f"unexpected errors: {[e for s in stats for e in s.unexpected_errors][:3]}")
    if report["bad_messages"]["refused_with_error"] != report["bad_messages"]["sent"]:
        p.append("not every bad message was answered with an error")
    if any(s.frames == 0 for s in stats):
        p.append("a session received no frames")
    if fps and max(fps) > 21:
        p.append(f"frame rate above 20/s: {max(fps):.1f}")
    if not refusal:
        p.append("the session over the limit was not refused")
    if open_after != 0:
        p.append(f"{open_after} sessions still open after the clients left")
    if health_ms and _pct(health_ms, 0.95) > 1000:
        p.append("healthz p95 above 1 s: the server is not responsive")
    if verbose:
        print(json.dumps(report, indent=2))
    return report


def run_load(sessions: int = 20, seconds: float = 60.0, mnist_sessions: int | None = None,
             data_dir: str | None = None, verbose: bool = False) -> dict:
    """Run the load test and return its figures (``report["problems"]`` empty when all is well)."""
    if mnist_sessions is None:
        mnist_sessions = max(1, sessions // 5)
    return asyncio.run(asyncio.wait_for(_run(sessions, seconds, mnist_sessions, data_dir, verbose),
                                        timeout=seconds + 60))


def _print(r: dict) -> None:
    print(f"playground load test: {r['sessions']} sessions ({r['mnist_sessions']} on MNIST) "
          f"for {r['seconds']:g} s on 127.0.0.1")
    print(f"  frames        {r['frames_total']:,} in total; per session {r['fps_per_session']['mean']}/s "
          f"(min {r['fps_per_session']['min']}, max {r['fps_per_session']['max']}; cap 20)")
    print(f"  training      {r['steps_total']:,} optimizer steps in total; {r['mbytes_streamed']} MB streamed")
    mc = r["machine"]
    print(f"  server CPU    {r['server_cpu_s']} s in {r['wall_s']} s "
          f"({r['server_cpu_s'] / r['wall_s']:.0%} of one core); "
          f"machine: {mc['cpus']} CPUs, load average {mc['load_avg_start']} -> {mc['load_avg_end']}")
    print(f"  ws ping->pong p50 {r['ping_ms']['p50']} ms, p95 {r['ping_ms']['p95']} ms, "
          f"max {r['ping_ms']['max']} ms ({r['ping_ms']['n']} pings)")
    print(f"  settings      change -> echo p50 {r['control_ms']['p50']} ms, p95 {r['control_ms']['p95']} ms, "
          f"max {r['control_ms']['max']} ms ({r['control_ms']['n']} changes while training)")
    print(f"  GET /healthz  p50 {r['healthz_ms']['p50']} ms, p95 {r['healthz_ms']['p95']} ms, "
          f"max {r['healthz_ms']['max']} ms ({r['healthz_ms']['n']} requests)")
    m = r["rss_mb"]
    print(f"  server RSS    start {m['start']} MB, peak {m['peak']} MB (first half {m['first_half_peak']}, "
          f"second half {m['second_half_peak']}), after close {m['after_close']} MB")
    print(f"  RSS timeline  {', '.join(f'{t:g}s:{mb:g}' for t, mb in r['rss_timeline_mb'])}")
    print(f"  bad messages  {r['bad_messages']['sent']} sent, "
          f"{r['bad_messages']['refused_with_error']} refused with an error message")
    print(f"  over limit    {r['extra_session_refused']}")
    print(f"  after close   {r['sessions_open_after_close']} sessions open")
    print("  result        " + ("OK" if not r["problems"] else "PROBLEMS: " + "; ".join(r["problems"])))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--mnist-sessions", type=int, default=None,
                    help="how many train on the MNIST tab (default: a fifth)")
    ap.add_argument("--data-dir", default=None,
                    help="MNIST folder for the server (default: cache, else bundled digits)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    a = ap.parse_args(argv)
    if not (1 <= a.sessions <= 200 and 1 <= a.seconds <= 600):
        ap.error("keep it bounded: 1-200 sessions, 1-600 seconds")
    r = run_load(a.sessions, a.seconds, a.mnist_sessions, a.data_dir)
    print(json.dumps(r, indent=2)) if a.json else _print(r)
    return 0 if not r["problems"] else 1


if __name__ == "__main__":
    sys.exit(main())
