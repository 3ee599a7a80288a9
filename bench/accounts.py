"""Signup and forgot-password throughput, the two routes that write a message:
`python -m bench.accounts [TREE]`.

TREE is a checkout of the service (default: this one), so that one script measures before and
after a change: `git archive <commit> | tar -x -C /tmp/before`, then
`python -m bench.accounts /tmp/before`. The tree's own migrations build a fresh PostgreSQL
database (BENCH_DATABASE_URL, default the local server); its app is served by uvicorn (one
worker; BCRYPT_ROUNDS 4 unless BENCH_BCRYPT_ROUNDS says otherwise, see below) and sends by
SMTP to a local sink (bench/mail_sink.py). wrk drives each route for BENCH_SECONDS (4) at
concurrency 1, 16 and 64. Every request comes from an address of its own (X-Forwarded-For,
which uvicorn trusts from 127.0.0.1) and every signup has an email of its own, so that no rate
limit answers instead of the route. Prints a table; writes bench/results/accounts-<tree>.json.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx2 as httpx

from bench.database import create, migrate
from bench.load import WRK_REPORT
from bench.mail_sink import MailSink, free_port

REPOSITORY = Path(__file__).resolve().parent.parent
DATABASE = "contacts_api_bench_accounts"
SECONDS = int(os.environ.get("BENCH_SECONDS", "4"))
CONCURRENCY = tuple(int(c) for c in os.environ.get("BENCH_CONCURRENCY", "1,16,64").split(","))
PASSWORD = "benchmark password"
# bcrypt's minimum, not production's 12: at 12 a signup is a quarter second of hashing (three
# seconds on a loaded two-core machine), which hides whatever else the route does, the write of
# its message included. BENCH_BCRYPT_ROUNDS=12 measures the route as production runs it.
BCRYPT_ROUNDS = os.environ.get("BENCH_BCRYPT_ROUNDS", "4")
REGISTERED = "registered@example.com"

WRK_SCRIPT = r"""
local counter = 0
local thread_id = 0
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
function init(args)
  thread_id = tonumber(wrk.thread:get("id")) or 0
end
function request()
  counter = counter + 1
  local address = string.format("10.%d.%d.%d", thread_id, math.floor(counter / 256) % 256,
    counter % 256)
  local body = string.format(BODY, RUN .. "-" .. thread_id .. "-" .. counter)
  local headers = {["Content-Type"] = "application/json", ["X-Forwarded-For"] = address}
  return wrk.format("POST", PATH, headers, body)
end
"""

ROUTES = {
    "signup": (
        "/api/auth/signup",
        '{"email": "%s@bench.example.com", "password": "' + PASSWORD + '"}',
    ),
    # %%s: the request's unique value goes nowhere; the email is the one registered user's.
    "forgot-password": ("/api/auth/forgot-password", '{"email": "' + REGISTERED + '"}%.0s'),
}


def wrk(base: str, route: str, concurrency: int, seconds: int) -> dict[str, float]:
    path, body = ROUTES[route]
    config = f"PATH = [==[{path}]==]\nBODY = [==[{body}]==]\nRUN = '{uuid.uuid4().hex[:8]}'\n"
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(config + WRK_SCRIPT + WRK_REPORT)
    threads = min(concurrency, 2)
    done = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(concurrency), "-d", f"{seconds}s",
         "--timeout", "10s", "-s", script.name, base],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    os.unlink(script.name)
    output = done.stdout
    figures: dict[str, float] = json.loads(output[output.index("RESULT ") + 7 :].splitlines()[0])
    return figures


def cpu_seconds(pid: int) -> float:
    """The CPU time a process has used so far, user and system (Linux' /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settled(sink: MailSink, quiet: float = 1.5, longest: float = 60) -> None:
    """Wait until the sink has received nothing for `quiet` seconds: the server's messages are
    out (the load's throughput is one figure; the CPU each request costs, mail included, is the
    other, and on a busy machine the steadier one)."""
    deadline = time.monotonic() + longest
    count, since = sink.received, time.monotonic()
    while time.monotonic() - since < quiet and time.monotonic() < deadline:
        time.sleep(0.1)
        if sink.received != count:
            count, since = sink.received, time.monotonic()


def main() -> None:
    tree = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else REPOSITORY
    url = create(DATABASE).url
    migrate(url, tree)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    results = REPOSITORY / "bench" / "results"
    results.mkdir(exist_ok=True)
    rows = []
    with MailSink() as sink, (results / f"accounts-{tree.name}.log").open("w") as log:
        env = os.environ | {
            "DATABASE_URL": url,
            "PYTHONPATH": str(tree),
            "CONTACTS_API_ENV_FILE": "",
            "SECRET_KEY": "bench-" + uuid.uuid4().hex + uuid.uuid4().hex,
            "BCRYPT_ROUNDS": BCRYPT_ROUNDS,
            "SIGNUPS_PER_HOUR": "1000000000",
            "EMAILS_PER_HOUR": "1000000000",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(sink.port),
            "SMTP_SECURITY": "none",
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "contacts_api.main:app", "--port", str(port),
             "--no-access-log", "--proxy-headers", "--forwarded-allow-ips", "127.0.0.1"],
            env=env, cwd=tree, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(f"{base}/health")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("the server did not start") from None
                    time.sleep(0.2)
            signup = {"email": REGISTERED, "password": PASSWORD}
            httpx.post(f"{base}/api/auth/signup", json=signup).raise_for_status()
            for route in os.environ.get("BENCH_ROUTES", ",".join(ROUTES)).split(","):
                for concurrency in CONCURRENCY:
                    wrk(base, route, concurrency, 1)  # warm-up
                    settled(sink)  # what the warm-up queued (bcrypt, mail) is done
                    cpu, received = cpu_seconds(server.pid), sink.received
                    figures = wrk(base, route, concurrency, SECONDS)
                    settled(sink)  # the cell's messages delivered: their cost is the cell's
                    requests = figures["requests_per_second"] * SECONDS
                    figures["cpu_ms_per_request"] = (
                        (cpu_seconds(server.pid) - cpu) * 1000 / requests if requests else 0.0
                    )
                    figures["messages"] = sink.received - received
                    rows.append({"route": route, "concurrency": concurrency} | figures)
                    print(
                        f"{tree.name:<12} {route:<16} c={concurrency:<3} "
                        f"{figures['requests_per_second']:>8.1f} req/s  "
                        f"p50 {figures['p50_ms']:>8.2f} ms  p99 {figures['p99_ms']:>8.2f} ms  "
                        f"errors {figures['errors']:.0f}  "
                        f"server CPU {figures['cpu_ms_per_request']:.2f} ms a request "
                        f"({figures['messages']:.0f} messages)",
                        flush=True,
                    )
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:  # still hashing the last cell's signups
                server.kill()
                server.wait()
        delivered = sink.received
    print(f"{tree.name}: the sink received {delivered:,} messages")
    (results / f"accounts-{tree.name}.json").write_text(
        json.dumps({"tree": str(tree), "rows": rows, "delivered": delivered}, indent=1)
    )


if __name__ == "__main__":
    main()
