"""Agent loop figures against the fake provider at zero latency (prints a table).

Run: ``.venv/bin/python -m bench.agent_loop`` (starts the fake provider and ``bureau-agent serve``
as subprocesses on loopback; stops them at the end).

- overhead per tool-call round trip (p50, p99): a streamed run making N ``list_files`` calls,
  minus the provider's own time for the same N+1 requests (the bodies the agent sent, replayed
  straight to the fake with httpx right after the run), divided by N;
- added latency per streamed delta: a 400-chunk answer through the agent vs. straight from the
  provider, divided by the chunk count;
- 50 concurrent runs on one agent: errors and wall time;
- the agent's idle RSS (after start, and after the workload).

The machine's load average is printed too: wall-clock figures on a shared, loaded host are noisy;
the agent's CPU time per round trip is the load-independent view of its own work.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import httpx
import openai
import psutil

warnings.filterwarnings("ignore", category=DeprecationWarning)

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def queue(fake: str, *replies: Any) -> None:
    httpx.post(
        fake + "/_fake/queue", json={"model": "*", "replies": list(replies)}
    ).raise_for_status()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def provider_time(fake: str, calls: int) -> float:
    client = openai.OpenAI(base_url=fake + "/v1", api_key="sk-bench", max_retries=0)
    start = time.perf_counter()
    for _ in range(calls):
        stream = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}], stream=True
        )
        for _chunk in stream:
            pass
    return (time.perf_counter() - start) / calls


def replay(fake: str, replies: list[Any]) -> float:
    """Time the provider alone: resend the agent's recorded requests with the same replies."""
    recorded = httpx.get(fake + "/_fake/requests").json()["data"]
    bodies = [r["json"] for r in recorded if r["path"].endswith("/chat/completions")]
    httpx.post(fake + "/_fake/reset").raise_for_status()
    queue(fake, *replies)
    headers = {"Authorization": "Bearer sk-bench-key"}
    with httpx.Client(base_url=fake, headers=headers) as client:
        start = time.perf_counter()
        for body in bodies:
            with client.stream("POST", "/v1/chat/completions", json=body) as response:
                for _ in response.iter_bytes():
                    pass
        return time.perf_counter() - start


def run_stream(client: openai.OpenAI, assistant: str, text: str) -> float:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": text}])
    start = time.perf_counter()
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant) as stream:
        stream.until_done()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--tool-calls", type=int, default=10)
    parser.add_argument(
        "--memory", choices=["on", "off"], default="on", help="BUREAU_MEMORY of the agent"
    )
    args = parser.parse_args()
    fake_port, agent_port = free_port(), free_port()
    fake = f"http://127.0.0.1:{fake_port}"
    data = Path(tempfile.mkdtemp(prefix="bureau-bench-"))
    os.chmod(data, 0o711)  # noqa: S103 - the tool user must reach the workspace inside
    env = {
        **os.environ,
        "ASSISTANT_PROVIDER": "openai",
        "ASSISTANT_CHAT_COMPLETION_ENDPOINT": fake + "/v1/chat/completions",
        "ASSISTANT_API_KEY": "sk-bench-key",
        "ASSISTANT_MODEL": "m",
        "ASSISTANT_MAX_TOOL_CALLS": "100",
        "BUREAU_AGENT_TOKEN": TOKEN,
        "BUREAU_AGENT_DATA_DIR": str(data / "agent"),
        "BUREAU_MEMORY": args.memory,
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.provider", "--port", str(fake_port)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [str(Path(sys.executable).parent / "bureau-agent"), "serve", "--port", str(agent_port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    try:
        agent = f"http://127.0.0.1:{agent_port}"
        wait_http(fake + "/_fake/requests")
        wait_http(agent + "/desk/v1/health", timeout=180)
        rss_idle = psutil.Process(procs[1].pid).memory_info().rss / 2**20
        agent_proc = psutil.Process(procs[1].pid)
        with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}) as plain:
            before = sum(agent_proc.cpu_times()[:2])
            for _ in range(200):
                plain.get(agent + "/desk/v1/health")
            cpu_get = (sum(agent_proc.cpu_times()[:2]) - before) / 200 * 1000
        client = openai.OpenAI(base_url=agent + "/v1", api_key=TOKEN, max_retries=0)
        assistant = client.beta.assistants.create(model="m").id
        n = args.tool_calls
        run_stream(client, assistant, "warm up")
        direct = provider_time(fake, 20)
        overheads = []
        cpu_per_trip = []
        call = {"kind": "tool_calls", "calls": [{"name": "list_files", "arguments": {}}]}
        replies = [*([call] * n), {"kind": "text", "content": "done"}]
        for _ in range(args.runs):
            httpx.post(fake + "/_fake/reset").raise_for_status()
            queue(fake, *replies)
            cpu_before = sum(agent_proc.cpu_times()[:2])
            elapsed = run_stream(client, assistant, "go")
            cpu_per_trip.append((sum(agent_proc.cpu_times()[:2]) - cpu_before) / (n + 1) * 1000)
            provider_alone = replay(fake, replies)
            overheads.append((elapsed - provider_alone) / n * 1000)
        chunks = 400
        words = " ".join(f"w{i}" for i in range(chunks))
        through, straight = [], []
        sdk = openai.OpenAI(base_url=fake + "/v1", api_key="sk-bench", max_retries=0)
        for _ in range(5):
            queue(fake, {"kind": "text", "content": words, "chunks": chunks})
            through.append(run_stream(client, assistant, "talk"))
            queue(fake, {"kind": "text", "content": words, "chunks": chunks})
            start = time.perf_counter()
            for _chunk in sdk.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "x"}], stream=True
            ):
                pass
            straight.append(time.perf_counter() - start)
        per_delta = (statistics.median(through) - statistics.median(straight)) / chunks * 1000

        def one(i: int) -> str:
            c = openai.OpenAI(base_url=agent + "/v1", api_key=TOKEN, max_retries=0)
            thread = c.beta.threads.create(messages=[{"role": "user", "content": f"hi {i}"}])
            run = c.beta.threads.runs.create_and_poll(
                thread_id=thread.id, assistant_id=assistant, poll_interval_ms=50
            )
            return run.status

        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(50) as pool:
            statuses = list(pool.map(one, range(50)))
        concurrent_wall = time.perf_counter() - start
        failures = [s for s in statuses if s != "completed"]
        rss_after = psutil.Process(procs[1].pid).memory_info().rss / 2**20
        print(f"(memory {args.memory}, {n} tool calls per run, {args.runs} runs)")
        print("figure | value | target")
        print("--- | --- | ---")
        print(f"provider call, direct (zero latency) | {direct * 1000:.2f} ms | -")
        print(
            f"overhead per tool round trip p50 / p99 | {percentile(overheads, 50):.2f} / "
            f"{percentile(overheads, 99):.2f} ms | < 5 ms p50"
        )
        cpu = f"{sum(cpu_per_trip) / len(cpu_per_trip):.2f} ms"
        print(f"agent CPU per model+tool round trip (mean; load-independent) | {cpu} | -")
        calibration = f"{cpu_get:.2f} ms"
        print(
            f"agent CPU per trivial GET /desk/v1/health (machine calibration) | {calibration} | -"
        )
        print(f"added latency per streamed delta | {per_delta:.3f} ms | < 2 ms")
        print(
            f"50 concurrent runs | {50 - len(failures)}/50 completed, {concurrent_wall:.2f} s wall "
            f"| no errors"
        )
        rss = f"{rss_idle:.0f} / {rss_after:.0f} MiB"
        print(f"idle RSS after start / after workload | {rss} | < 150 MB")
        print(f"load average during the run | {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs) | -")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)


if __name__ == "__main__":
    main()
