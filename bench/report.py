"""The bench's table, its summary of the performance issues' targets, and the run's JSON in
bench/results/."""

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from bench.load import DURATION, REPOSITORY, Result
from bench.seed import BOOK_SIZES

QUERY_FLOOR = "query floor"
FLOORS = ("floor", QUERY_FLOOR)
# What the ratios of a run without wrk are worth: the Python client is slower than the server.
NO_WRK = (
    "no wrk: the Python client is slower than the server, so it measures itself and these "
    "ratios mean nothing (apt-get install wrk)"
)


def percent(ratio: float | None) -> str:
    return f"{ratio:6.0%}" if ratio is not None else "      "


def row(result: Result) -> str:
    return (
        f"{result.endpoint:<34} {result.workers:>2} {result.concurrency:>4} "
        f"{result.requests_per_second:>9.0f} {result.p50_ms:>8.1f} {result.p99_ms:>8.1f} "
        f"{result.errors:>6} {percent(result.ratio_to_floor)} "
        f"{percent(result.ratio_to_query_floor)}"
    )


def find(results: list[Result], endpoint: str, concurrency: int, workers: int = 1) -> Result:
    for r in results:
        if (r.endpoint, r.concurrency, r.workers) == (endpoint, concurrency, workers):
            return r
    raise KeyError(f"{endpoint}, c={concurrency}, {workers} workers: not run")


def slow_tails(results: list[Result]) -> list[str]:
    """The cells at concurrency 64, 1 worker, whose p99 passes 3 times the JWT floor's: a queue
    that starves a few requests for seconds fails even when the mean is fine. A cell that
    completed nothing in its time is the worst tail of all.

    Each says whether it is slow or starved: with 64 requests always in flight, a cell that
    answers N a second makes each wait 64 / N seconds on average however fair the queue
    (Little's law); when that mean alone passes the limit, no fairness can meet it. A p99 over
    3 times the mean is a queue that starves a few; below that, the tail of a slow cell.
    """
    limit = 3 * find(results, "floor", 64).p99_ms
    failing = []
    for r in results:
        if r.concurrency != 64 or r.workers != 1 or r.endpoint in FLOORS:
            continue
        if r.requests_per_second == 0:
            failing.append(f"{r.endpoint} (none answered)")
        elif r.p99_ms > limit:
            mean = r.concurrency / r.requests_per_second * 1000
            if mean > limit:
                kind = "slow: the mean alone is over"
            elif r.p99_ms > 3 * mean:
                kind = "starved: p99 over 3x the mean"
            else:
                kind = "slow tail: p99 under 3x the mean"
            failing.append(
                f"{r.endpoint} {r.p99_ms / limit * 3:.0f}x ({kind}; mean {mean:,.0f} ms)"
            )
    return failing


def targets(
    results: list[Result], growth_rows: list[dict[str, Any]], one_hash: float
) -> list[tuple[str, str, str]]:
    """The performance issues' targets, each with this run's figure; "not run" for one whose
    cells a BENCH_ONLY or BENCH_WORKERS run left out."""
    cores = os.cpu_count() or 1
    p50 = {(r["endpoint"], r["contacts"]): r["p50_ms"] for r in growth_rows}
    answered = {(r["endpoint"], r["contacts"]): r.get("answered") for r in growth_rows}

    def ratio(endpoint: str, to: str) -> str:
        cell = find(results, endpoint, 16)
        return f"{getattr(cell, to):.0%} ({cell.requests_per_second:,.0f} req/s)"

    def flat(endpoint: str) -> str:
        large, middle = p50[(endpoint, 100_000)], p50[(endpoint, 1_000)]
        return f"{large:.1f} ms, {large / middle:.1f} times the 1k book"

    def per_contact(endpoint: str) -> str:
        took, count = p50[(endpoint, 100_000)], answered[(endpoint, 100_000)]
        return f"{took:.1f} ms for {count:,} contacts: {took * 1000 / count:.1f} us a contact"

    def tails() -> str:
        floor_p99 = find(results, "floor", 64).p99_ms
        found = slow_tails(results)
        return "\n".join([f"{len(found)} cells (limit {3 * floor_p99:.0f} ms)", *found])

    def logins() -> str:
        best = max(find(results, "password grant", c).requests_per_second for c in (1, 16))
        return f"{best:.1f}/s (hash {one_hash:.3f} s, {cores} cores: {cores / one_hash:.1f}/s)"

    def during_logins() -> str:
        idle = find(results, "GET one contact", 1).p99_ms
        busy = find(results, "GET one contact, 32 logins running", 1).p99_ms
        return f"{busy:.1f} ms, {busy / idle:.1f} times idle"

    def two_workers() -> str:
        two = find(results, "GET one contact", 16, 2).requests_per_second
        return f"{two / find(results, 'GET one contact', 16).requests_per_second:.2f} times"

    def errors() -> str:
        failing = [r for r in results if r.concurrency >= 64 and r.workers == 1 and r.errors]
        return ", ".join(f"{r.endpoint} c={r.concurrency}" for r in failing) or "none"

    wanted: list[tuple[str, Callable[[], str], str]] = [
        ("query floor / JWT floor, c=16", lambda: ratio(QUERY_FLOOR, "ratio_to_floor"), ""),
        ("GET one / query floor, c=16", lambda: ratio("GET one contact", "ratio_to_query_floor"),
         ">= 85%"),
        ("GET one / JWT floor, c=16", lambda: ratio("GET one contact", "ratio_to_floor"),
         ">= 25%"),
        ("list 20 / JWT floor, c=16", lambda: ratio("list 20", "ratio_to_floor"), ">= 16%"),
        ("search selective, 100k, p50 c=1", lambda: flat("search selective"),
         "<= 15 ms, <= 3 times"),
        ("search phone digits, 100k, p50 c=1", lambda: flat("search phone digits"),
         "<= 15 ms, <= 3 times"),
        ("birthdays days=7, 100k, p50 c=1", lambda: per_contact("birthdays days=7"),
         "< 15 us a contact"),
        ("p99 at c=64 over 3x JWT floor's", tails, "none"),
        ("password grant", logins, ">= 80% of cores / hash"),
        ("GET one p99 during 32 logins", during_logins, "<= 3 times idle"),
        ("2 workers / 1 worker, GET one", two_workers, ">= 1.6 times"),
        ("cells at c >= 64 with errors", errors, "none"),
    ]  # fmt: skip
    lines = []
    for name, figure, goal in wanted:
        try:
            first, *more = figure().split("\n")
        except KeyError:
            first, more = "not run", []
        lines += [(name, first, goal), *(("", extra, "") for extra in more)]
    print(f"\n{'target':<36} {'this run':<56} wanted")
    for name, figure_text, goal in lines:
        print(f"{name:<36} {figure_text:<56} {goal}")
    if not shutil.which("wrk"):
        print(NO_WRK.upper())
    return lines


def report(
    results: list[Result], growth_rows: list[dict[str, Any]], one_hash: float, elapsed: float
) -> None:
    header = f"{'endpoint':<34} {'w':>2} {'conc':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
    print("\n" + header + f"{'errors':>6} {'/floor':>6} {'/query':>6}")
    if not shutil.which("wrk"):
        print(f"({NO_WRK})")
    for result in sorted(results, key=lambda r: (r.workers, r.endpoint not in FLOORS)):
        print(row(result))
    print(f"\n{'p50 ms at concurrency 1, 1 worker':<34}" + "".join(f"{s:>10,}" for s in BOOK_SIZES))
    for name in dict.fromkeys(r["endpoint"] for r in growth_rows):
        cells = [r["p50_ms"] for r in growth_rows if r["endpoint"] == name]
        print(f"{name:<34}" + "".join(f"{c:>10.1f}" for c in cells))
    print(f"\n{'contacts in the answer':<34}" + "".join(f"{s:>10,}" for s in BOOK_SIZES))
    for name in dict.fromkeys(r["endpoint"] for r in growth_rows):
        counts = [r["answered"] for r in growth_rows if r["endpoint"] == name]
        print(f"{name:<34}" + "".join(f"{c:>10,}" for c in counts))
    summary = targets(results, growth_rows, one_hash)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = REPOSITORY / "bench" / "results" / f"{stamp}.json"
    path.write_text(
        json.dumps(
            {
                "when": stamp,
                "tool": "wrk" if shutil.which("wrk") else "python",
                "note": None if shutil.which("wrk") else NO_WRK,
                "floors": {
                    name: {
                        f"{r.workers} workers, c={r.concurrency}": r.requests_per_second
                        for r in results
                        if r.endpoint == name
                    }
                    for name in FLOORS
                },
                "targets": [
                    {"target": name, "this_run": figure, "wanted": wanted}
                    for name, figure, wanted in summary
                ],
                "cpus": os.cpu_count(),
                "seconds_per_cell": DURATION,
                "bcrypt_hash_seconds": one_hash,
                "results": [asdict(result) for result in results],
                "growth": growth_rows,
            },
            indent=2,
        )
    )
    print(f"\n{path.relative_to(REPOSITORY)} written; the whole run took {elapsed / 60:.1f} min")
