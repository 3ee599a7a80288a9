"""The load: the servers under test, and wrk (or, without it, a slower Python client) driving
one endpoint at one concurrency, with what it measured as a Result."""

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
DURATION = int(os.environ.get("BENCH_SECONDS", "4"))
WARMUP = 1


@dataclass
class Result:
    endpoint: str
    workers: int
    concurrency: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    ratio_to_floor: float | None = None  # to the JWT floor, same concurrency and workers
    ratio_to_query_floor: float | None = None  # to the query floor, same concurrency and workers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def served(app: str, workers: int, env: dict[str, str], log: Path) -> Iterator[str]:
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers),
    ]  # fmt: skip
    with log.open("a") as output:
        process = subprocess.Popen(
            command, env=os.environ | env, cwd=REPOSITORY, stdout=output, stderr=output
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{app} did not start; see {log}") from None
                time.sleep(0.2)
        time.sleep(0.5 * workers)  # every worker up
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


WRK_SCRIPT = r"""
local counter = 0
local lines = {}
local thread_id = 0
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
function init(args)
  thread_id = tonumber(wrk.thread:get("id")) or 0
  if SPEC.tokens_file ~= "" then
    local i = 0
    for line in io.lines(SPEC.tokens_file) do
      if i % SPEC.threads == thread_id then lines[#lines + 1] = line end
      i = i + 1
    end
  end
end
function request()
  counter = counter + 1
  local body = SPEC.body
  if SPEC.tokens_file ~= "" then
    body = "grant_type=refresh_token&refresh_token=" .. (lines[counter] or "exhausted")
  elseif SPEC.unique then
    body = string.format(SPEC.body, SPEC.run .. "-" .. thread_id .. "-" .. counter)
  end
  return wrk.format(SPEC.method, SPEC.path, SPEC.headers, body)
end
"""


@dataclass
class Spec:
    name: str
    method: str
    path: str
    headers: dict[str, str]
    body: str = ""
    unique: bool = False  # body has a %s for a value unique to each request
    tokens_file: str = ""  # one refresh token a line, each used once
    # Logins get no warm-up: when wrk stops, the warm-up's logins are still queued for bcrypt,
    # and the cell would spend its first seconds hashing for clients that are gone (at
    # concurrency 64, its whole 4 s: none answered).
    warm_up: bool = True


def lua_string(value: str) -> str:
    return "[==[" + value + "]==]"


def run_wrk(base: str, spec: Spec, concurrency: int, seconds: int) -> Result:
    threads = min(concurrency, 2)
    headers = ", ".join(f"[ {lua_string(k)} ] = {lua_string(v)}" for k, v in spec.headers.items())
    config = (
        f"SPEC = {{method = {lua_string(spec.method)}, path = {lua_string(spec.path)}, "
        f"headers = {{{headers}}}, body = {lua_string(spec.body)}, "
        f"unique = {'true' if spec.unique else 'false'}, run = {lua_string(uuid.uuid4().hex[:8])}, "
        f"tokens_file = {lua_string(spec.tokens_file)}, threads = {threads}}}\n"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(config + WRK_SCRIPT + WRK_REPORT)
    wrk = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(concurrency), "-d", f"{seconds}s",
         "--timeout", "10s", "-s", script.name, base],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    os.unlink(script.name)
    output = wrk.stdout
    if "RESULT " not in output:
        raise RuntimeError(f"wrk said:\n{output}\n{wrk.stderr}")
    figures = json.loads(output[output.index("RESULT ") + len("RESULT ") :].splitlines()[0])
    return Result(spec.name, 0, concurrency, **figures)


WRK_REPORT = r"""
function done(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    'RESULT {"requests_per_second": %.1f, "p50_ms": %.2f, "p99_ms": %.2f, "errors": %d}\n',
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, errors))
end
"""


def run_python_client(base: str, spec: Spec, concurrency: int, seconds: int) -> Result:
    """The fallback without wrk: slower, so the ratios to the floor mean less."""
    import httpx2 as httpx

    tokens = Path(spec.tokens_file).read_text().split() if spec.tokens_file else []
    latencies: list[float] = []
    errors = 0

    async def drive() -> None:
        nonlocal errors
        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10) as client:
            deadline = time.monotonic() + seconds
            counter = iter(range(10**9))

            async def one_client() -> None:
                nonlocal errors
                while time.monotonic() < deadline:
                    number = next(counter)
                    body = spec.body
                    if tokens and number >= len(tokens):
                        return
                    if tokens:
                        body = f"grant_type=refresh_token&refresh_token={tokens[number]}"
                    elif spec.unique:
                        body = spec.body % f"py-{uuid.uuid4().hex[:8]}-{number}"
                    started = time.monotonic()
                    response = await client.request(
                        spec.method, spec.path, headers=spec.headers, content=body or None
                    )
                    latencies.append(time.monotonic() - started)
                    errors += response.status_code >= 400

            await asyncio.gather(*(one_client() for _ in range(concurrency)))

    asyncio.run(drive())
    latencies.sort()
    return Result(
        spec.name, 0, concurrency, len(latencies) / seconds,
        latencies[len(latencies) // 2] * 1000, latencies[int(len(latencies) * 0.99)] * 1000,
        errors,
    )  # fmt: skip


def measure(base: str, spec: Spec, concurrency: int, seconds: int = DURATION) -> Result:
    run = run_wrk if shutil.which("wrk") else run_python_client
    if spec.warm_up and not spec.tokens_file:
        run(base, spec, concurrency, WARMUP)
    result = run(base, spec, concurrency, seconds)
    settle(base)
    return result


def settle(base: str) -> None:
    """Wait until the server has worked off what the last cell left queued: when wrk stops,
    up to 64 slow requests may still be running, and the next cell would measure them (a
    cell of creates at concurrency 1 once completed none in 4 s after birthdays at 64)."""
    import httpx2 as httpx

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        started = time.monotonic()
        httpx.get(f"{base}/health/ready", timeout=30)
        if time.monotonic() - started < 0.05:
            return
        time.sleep(0.2)
